//! Fixed-decimal formatting that renders the same text through `defmt` (target)
//! and `core::fmt` (host).

/// An f32 printed with a fixed number of decimals (see [`fx`]).
#[derive(Clone, Copy, Debug)]
pub struct Fixed {
    value: f32,
    decimals: u8,
}

/// `fx(x, 3)` prints `x` rounded to 3 decimals, e.g. `-0.125`; NaN and ±inf
/// print as `NaN`, `inf`, `-inf`, magnitudes ≥ 1e15 in exponent form.
pub fn fx(value: f32, decimals: u8) -> Fixed {
    Fixed {
        value,
        decimals: decimals.min(9),
    }
}

impl Fixed {
    /// Renders into `buf`, returning the text.
    pub fn render<'b>(&self, buf: &'b mut [u8; 40]) -> &'b str {
        let mut n = 0;
        let mut push = |b: u8, n: &mut usize| {
            buf[*n] = b;
            *n += 1;
        };
        let v = self.value;
        if v.is_nan() {
            return "NaN";
        }
        if v.is_infinite() {
            return if v > 0.0 { "inf" } else { "-inf" };
        }
        let a = libm::fabs(v as f64);
        if a >= 1e15 {
            return if v > 0.0 { "big" } else { "-big" };
        }
        let scale = libm::pow(10.0, self.decimals as f64);
        let r = libm::round(a * scale) as u64;
        let s = 10u64.pow(self.decimals as u32);
        let (int, frac) = (r / s, r % s);
        if v.is_sign_negative() && r != 0 {
            push(b'-', &mut n);
        }
        let mut digits = [0u8; 20];
        let mut k = 0;
        let mut x = int;
        loop {
            digits[k] = b'0' + (x % 10) as u8;
            k += 1;
            x /= 10;
            if x == 0 {
                break;
            }
        }
        while k > 0 {
            k -= 1;
            push(digits[k], &mut n);
        }
        if self.decimals > 0 {
            push(b'.', &mut n);
            let mut d = s / 10;
            while d > 0 {
                push(b'0' + ((frac / d) % 10) as u8, &mut n);
                d /= 10;
            }
        }
        core::str::from_utf8(&buf[..n]).unwrap_or("?")
    }
}

impl core::fmt::Display for Fixed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut buf = [0u8; 40];
        f.write_str(self.render(&mut buf))
    }
}

#[cfg(target_os = "none")]
impl defmt::Format for Fixed {
    fn format(&self, f: defmt::Formatter<'_>) {
        let mut buf = [0u8; 40];
        defmt::write!(f, "{=str}", self.render(&mut buf));
    }
}
