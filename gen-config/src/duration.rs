//! Prometheus durations (`90s`, `1m30s`, `4h`), parsed strictly and printed the way Prometheus
//! prints them, so the generated files are canonical whatever spelling the user typed.

use std::fmt;
use std::str::FromStr;

/// A duration in milliseconds, written in Prometheus' syntax.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PromDuration(pub u64);

const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

impl PromDuration {
    pub const fn secs(s: u64) -> Self {
        PromDuration(s * 1000)
    }
    pub fn millis(self) -> u64 {
        self.0
    }
}

impl FromStr for PromDuration {
    type Err = String;

    /// Accepts what Prometheus accepts: units in the order y, w, d, h, m, s, ms, each at most once.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("invalid duration \"{s}\": expected a Prometheus duration like 30s, 2m, 1h30m")
        };
        if s.is_empty() {
            return Err(bad());
        }
        let mut rest = s;
        let mut total: u64 = 0;
        let mut next_unit = 0;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(bad());
            }
            let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
            rest = &rest[digits..];
            // "ms" must be tried before "m".
            let idx = (next_unit..UNITS.len())
                .filter(|&i| rest.starts_with(UNITS[i].0))
                .max_by_key(|&i| UNITS[i].0.len())
                .ok_or_else(bad)?;
            let (unit, mult) = UNITS[idx];
            total = n
                .checked_mul(mult)
                .and_then(|v| v.checked_add(total))
                .ok_or_else(bad)?;
            rest = &rest[unit.len()..];
            next_unit = idx + 1;
        }
        Ok(PromDuration(total))
    }
}

impl fmt::Display for PromDuration {
    /// Same algorithm as Prometheus' `model.Duration.String`: years and weeks only when exact.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0;
        if ms == 0 {
            return f.write_str("0s");
        }
        for (i, (unit, mult)) in UNITS.iter().enumerate() {
            let exact_only = i < 2;
            if exact_only && !ms.is_multiple_of(*mult) {
                continue;
            }
            let v = ms / mult;
            if v > 0 {
                write!(f, "{v}{unit}")?;
                ms -= v * mult;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_canonically() {
        for (input, ms, shown) in [
            ("15s", 15_000, "15s"),
            ("90s", 90_000, "1m30s"),
            ("1h30m", 5_400_000, "1h30m"),
            ("500ms", 500, "500ms"),
            ("1m500ms", 60_500, "1m500ms"),
            ("0s", 0, "0s"),
            ("14d", 14 * 86_400_000, "2w"),
            ("8d", 8 * 86_400_000, "8d"),
        ] {
            let d: PromDuration = input.parse().unwrap();
            assert_eq!(d.millis(), ms, "{input}");
            assert_eq!(d.to_string(), shown, "{input}");
        }
    }

    #[test]
    fn rejects_what_prometheus_rejects() {
        for input in ["", "5", "m", "1.5m", "5x", "1s1m", "1m1m", "-1s", " 1s"] {
            let err = input.parse::<PromDuration>().unwrap_err();
            assert_eq!(
                err,
                format!(
                    "invalid duration \"{input}\": expected a Prometheus duration like 30s, 2m, 1h30m"
                )
            );
        }
    }
}
