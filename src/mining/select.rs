//! Radix selection of the `k` largest keys: eight-bit digits from the top,
//! one histogram pass per digit, no buffer and no data movement, `O(4 n)`
//! in the worst case (and usually 2–3 passes: a pass ends the search as
//! soon as the bucket holding the `k`-th key is kept whole). The histogram
//! is 256 counters on the stack (1 KiB on a 32-bit core).
//!
//! Legend: `key` is the total-order image of a score ([`key`]), `need` the
//! number of keys still to keep, `prefix`/`mask` the digits fixed so far.

/// The total-order key of a finite score: a larger score has a larger key,
/// and `-0.0` and `+0.0` have the same key.
#[inline(always)]
pub(crate) fn key(x: f32) -> u32 {
    let b = (x + 0.0).to_bits();
    if b >> 31 == 1 {
        !b
    } else {
        b | 1 << 31
    }
}

/// Which keys a selection keeps: every key above `key`, and the first
/// `ties` (in index order) equal to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cut {
    pub(crate) key: u32,
    pub(crate) ties: usize,
}

impl Cut {
    /// Keeps nothing.
    pub(crate) const NONE: Cut = Cut {
        key: u32::MAX,
        ties: 0,
    };
    /// Keeps every key.
    pub(crate) const ALL: Cut = Cut {
        key: 0,
        ties: usize::MAX,
    };

    /// Whether `k` is kept; counts the ties it uses.
    #[inline(always)]
    pub(crate) fn keep(&mut self, k: u32) -> bool {
        if k > self.key {
            true
        } else if k == self.key && self.ties > 0 {
            self.ties = self.ties.wrapping_sub(1);
            true
        } else {
            false
        }
    }
}

/// Bits per digit.
const BITS: u32 = 8;
/// Largest digit.
const DIGIT: u32 = (1 << BITS) - 1;
/// Counters per pass.
const BUCKETS: usize = 1 << BITS;

/// The cut that keeps the `k` largest of the keys `keys()` yields (`None`
/// entries are not candidates), ties broken by index; every candidate when
/// `k` is at least their number. `keys` is called once per pass.
pub(crate) fn largest<I, F>(keys: F, k: usize) -> Cut
where
    I: Iterator<Item = Option<u32>>,
    F: Fn() -> I,
{
    if k == 0 {
        return Cut::NONE;
    }
    let (mut prefix, mut mask, mut need) = (0u32, 0u32, k);
    let mut shift = 32u32;
    while shift > 0 {
        shift = shift.wrapping_sub(BITS);
        let mut hist = [0usize; BUCKETS];
        for kk in keys().flatten() {
            if kk & mask == prefix {
                let h = &mut hist[((kk >> shift) & DIGIT) as usize];
                *h = h.wrapping_add(1);
            }
        }
        // The bucket holding the `need`-th largest, from the top digit down.
        let mut d = DIGIT;
        let mut h = hist[DIGIT as usize];
        while h < need {
            if d == 0 {
                // Fewer candidates than `k`: keep them all.
                return Cut::ALL;
            }
            need = need.wrapping_sub(h);
            d = d.wrapping_sub(1);
            h = hist[(d & DIGIT) as usize];
        }
        prefix |= d << shift;
        mask |= DIGIT << shift;
        if h == need {
            // The whole bucket is kept: every key at or above its low end.
            return match prefix.checked_sub(1) {
                Some(key) => Cut { key, ties: 0 },
                None => Cut::ALL,
            };
        }
    }
    Cut {
        key: prefix,
        ties: need,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_orders_like_total_cmp_with_signed_zeros_equal() {
        let xs = [
            f32::MIN,
            -1.0,
            -f32::MIN_POSITIVE,
            -1e-45,
            -0.0,
            0.0,
            1e-45,
            f32::MIN_POSITIVE,
            1.0,
            f32::MAX,
        ];
        for w in xs.windows(2) {
            if w[0] == w[1] {
                assert_eq!(key(w[0]), key(w[1]));
            } else {
                assert!(key(w[0]) < key(w[1]), "{} {}", w[0], w[1]);
            }
        }
    }

    #[test]
    fn cut_keeps_exactly_k_of_equal_keys() {
        let ks = [7u32; 10];
        for k in 0..=12 {
            let mut c = largest(|| ks.iter().map(|&k| Some(k)), k);
            let kept = ks.iter().filter(|&&x| c.keep(x)).count();
            assert_eq!(kept, k.min(10));
        }
    }
}
