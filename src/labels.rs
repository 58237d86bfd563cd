//! Class labels in the width the caller stores them.

/// A slice of class labels, `u8`, `u16` or `u32`: the same type in
/// [`softmax::Targets`](crate::softmax::Targets) and
/// [`ClassCounter`](crate::ClassCounter). `u8` suits up to 256 classes and
/// quarters the label buffer, `u16` up to 65,536; `u32` takes any `C` and
/// `u32::MAX` is a convenient ignore index. A label is read as `u32`, so an
/// ignore index applies to every width (`Some(255)` ignores `255u8`).
///
/// `From` builds one from a slice or array reference of each width:
/// `Labels::from(&[0u8, 2, 1][..])`, `(&labels).into()`.
#[derive(Clone, Copy, Debug)]
pub enum Labels<'a> {
    /// One byte per label.
    U8(&'a [u8]),
    /// Two bytes per label.
    U16(&'a [u16]),
    /// Four bytes per label.
    U32(&'a [u32]),
}

impl Labels<'_> {
    /// Number of labels.
    #[inline]
    pub fn len(&self) -> usize {
        match *self {
            Labels::U8(l) => l.len(),
            Labels::U16(l) => l.len(),
            Labels::U32(l) => l.len(),
        }
    }

    /// `true` when there are no labels.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Label `i` widened to `u32`, `None` past the end.
    #[inline]
    pub fn get(&self, i: usize) -> Option<u32> {
        match *self {
            Labels::U8(l) => l.get(i).map(|&v| u32::from(v)),
            Labels::U16(l) => l.get(i).map(|&v| u32::from(v)),
            Labels::U32(l) => l.get(i).copied(),
        }
    }

    /// The labels in order, widened to `u32`.
    #[inline]
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        let (a, b, c) = match *self {
            Labels::U8(l) => (l, &[][..], &[][..]),
            Labels::U16(l) => (&[][..], l, &[][..]),
            Labels::U32(l) => (&[][..], &[][..], l),
        };
        a.iter()
            .map(|&v| u32::from(v))
            .chain(b.iter().map(|&v| u32::from(v)))
            .chain(c.iter().copied())
    }
}

macro_rules! from_slices {
    ($($t:ty => $v:ident),*) => {$(
        impl<'a> From<&'a [$t]> for Labels<'a> {
            #[inline]
            fn from(l: &'a [$t]) -> Self {
                Labels::$v(l)
            }
        }
        impl<'a, const N: usize> From<&'a [$t; N]> for Labels<'a> {
            #[inline]
            fn from(l: &'a [$t; N]) -> Self {
                Labels::$v(l)
            }
        }
    )*};
}
from_slices!(u8 => U8, u16 => U16, u32 => U32);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_read_alike() {
        let a = Labels::from(&[0u8, 255, 7]);
        let b = Labels::from(&[0u16, 255, 7]);
        let c = Labels::from(&[0u32, 255, 7][..]);
        for l in [a, b, c] {
            assert_eq!(l.len(), 3);
            assert_eq!(l.get(1), Some(255));
            assert_eq!(l.get(3), None);
            assert!(l.iter().eq([0, 255, 7]));
        }
        assert!(Labels::U8(&[]).is_empty());
    }
}
