//! `1 - β` for the decimal β the caller wrote.
//!
//! `0.9999` is not an f32: the literal rounds to `0.99989998…`, and
//! `1 - β` of that f32 is `1.0000166e-4`, 1.7e-4 relative off the `1e-4` the
//! caller meant, which moves the class-balanced weights by up to the same
//! amount (hundreds of ULP). The f32 does, however, identify the decimal:
//! the shortest decimal that rounds to it (what `{}` prints, and what a
//! literal or a config file holds) is unique. [`one_minus`] recovers it with
//! exact integer arithmetic (no `core::fmt`, whose float formatting brings
//! several KiB of code and panic paths) and returns
//! `(10^k - B) / 10^k` rounded once to f64.

/// `β · 2^45` for an f32 `β ∈ [2^-20, 1]` given by its bits (exact: the
/// ULP there is at least `2^-44`).
fn scaled(bits: u32) -> u128 {
    let mant = (bits & 0x007f_ffff) | 0x0080_0000;
    let exp = bits >> 23; // 106..=127 here
    (mant as u128) << (exp.wrapping_sub(105) & 63)
}

/// Below this (`2^-20`), `1 - β` is taken from the f32: the shortest
/// decimal and the f32 differ by at most half an f32 ULP of β, under
/// `2^-45`, which is below `2^-44` relative to `1 - β > 0.99999`.
pub(crate) const EXACT_FROM: f32 = f32::from_bits(0x3580_0000); // 2^-20

/// The shortest decimal `B / 10^k` that rounds (to nearest, ties to even) to
/// the f32 `beta`, as `(B, k)`, for `beta ∈ [2^-20, 1)`. Among the shortest,
/// the one nearest to `beta` (ties: even `B`). `None` outside that range.
pub(crate) fn shortest(beta: f32) -> Option<(u64, u32)> {
    if !(EXACT_FROM..1.0).contains(&beta) {
        return None;
    }
    let bits = beta.to_bits();
    let x = scaled(bits);
    // The rounding interval in units of 2^-46: [x + prev, x + next].
    let lo = x.wrapping_add(scaled(bits.wrapping_sub(1)));
    let hi = x.wrapping_add(scaled(bits.wrapping_add(1)));
    let closed = bits & 1 == 0;
    let inside = |b: u128, p: u128| {
        let v = b << 46;
        let (l, h) = (lo.wrapping_mul(p), hi.wrapping_mul(p));
        if closed {
            l <= v && v <= h
        } else {
            l < v && v < h
        }
    };
    let mut p: u128 = 1;
    // beta >= 2^-20 > 10^-7 has at most 6 zeros after the point and at most
    // 9 significant digits: k <= 15 (p <= 10^15, products < 2^104).
    for k in 1..=17u32 {
        p = p.wrapping_mul(10);
        let exact = x.wrapping_mul(p); // beta · 10^k · 2^45
        let b0 = exact >> 45;
        let b1 = b0.wrapping_add(1);
        let d0 = exact.wrapping_sub(b0 << 45);
        let d1 = (b1 << 45).wrapping_sub(exact);
        let pick = match (inside(b0, p), inside(b1, p)) {
            (true, true) => {
                if d0 < d1 || (d0 == d1 && b0 & 1 == 0) {
                    b0
                } else {
                    b1
                }
            }
            (true, false) => b0,
            (false, true) => b1,
            (false, false) => continue,
        };
        return Some((pick as u64, k));
    }
    None
}

/// `1 - β` in f64 for the shortest decimal that rounds to `beta ∈ [0, 1)`:
/// `(10^k - B) / 10^k` (numerator below `2^53` and `10^k` both exact in f64,
/// so one rounding: within half an f64 ULP). Below [`EXACT_FROM`], `1 - β`
/// of the f32 itself (within `2^-44` relative of the decimal's).
pub(crate) fn one_minus(beta: f32) -> f64 {
    match shortest(beta) {
        Some((b, k)) => {
            let p = 10u64.wrapping_pow(k);
            p.wrapping_sub(b) as f64 / p as f64
        }
        None => 1.0 - beta as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    /// `(B, k)` from the shortest round-trip decimal `core::fmt` prints.
    fn from_display(beta: f32) -> (u64, u32) {
        let s = std::format!("{beta}");
        let frac = s.strip_prefix("0.").unwrap_or_else(|| panic!("{s}"));
        let digits: String = frac.chars().collect();
        (digits.parse().unwrap(), digits.len() as u32)
    }

    #[test]
    fn agrees_with_display() {
        // Every f32 in [0.5, 1) (every 17th in debug builds), then every 61st
        // below down to 2^-20 (every 1037th).
        let (s1, s2) = if cfg!(debug_assertions) {
            (17, 1037)
        } else {
            (1, 61)
        };
        let top = 1.0f32.to_bits();
        let half = 0.5f32.to_bits();
        let bottom = EXACT_FROM.to_bits();
        let all = (half..top).step_by(s1).chain((bottom..half).step_by(s2));
        for bits in all {
            let beta = f32::from_bits(bits);
            assert_eq!(shortest(beta), Some(from_display(beta)), "{beta}");
        }
        for bits in [bottom, bottom + 1, half - 1, top - 1] {
            let beta = f32::from_bits(bits);
            assert_eq!(shortest(beta), Some(from_display(beta)), "{beta}");
        }
    }

    #[test]
    fn decimal_one_minus() {
        assert_eq!(one_minus(0.9999), 1e-4);
        assert_eq!(one_minus(0.9), 0.1);
        assert_eq!(one_minus(0.99999994), 6e-8);
        assert_eq!(one_minus(0.5), 0.5);
        assert_eq!(one_minus(0.0), 1.0);
        assert_eq!(one_minus(1e-30), 1.0 - 1e-30f32 as f64);
        assert_eq!(shortest(1.0), None);
        assert_eq!(shortest(f32::NAN), None);
        assert_eq!(shortest(9.5e-7), None);
    }
}
