//! The Prometheus version the config is written for: some fields only exist in newer releases.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Version {
            major,
            minor,
            patch,
        }
    }
}

/// `http_headers` in scrape configs (used for Cloudflare Access service tokens) arrived in 2.55.
pub const HTTP_HEADERS_SINCE: Version = Version::new(2, 55, 0);

impl FromStr for Version {
    type Err = String;

    /// Accepts `2.42`, `2.42.0`, `v2.55.1` and Debian's `2.42.0+ds`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("invalid Prometheus version \"{s}\": expected MAJOR.MINOR[.PATCH], like 2.42.0")
        };
        let core = s.strip_prefix('v').unwrap_or(s);
        let core = core.split(['+', '-', '~']).next().unwrap_or("");
        let parts: Vec<&str> = core.split('.').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(bad());
        }
        let num = |p: &str| -> Result<u32, String> {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            p.parse().map_err(|_| bad())
        };
        Ok(Version {
            major: num(parts[0])?,
            minor: num(parts[1])?,
            patch: parts.get(2).map(|p| num(p)).transpose()?.unwrap_or(0),
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_release_spellings() {
        assert_eq!("2.42".parse::<Version>().unwrap(), Version::new(2, 42, 0));
        assert_eq!(
            "2.42.0+ds".parse::<Version>().unwrap(),
            Version::new(2, 42, 0)
        );
        assert_eq!(
            "v2.55.1".parse::<Version>().unwrap(),
            Version::new(2, 55, 1)
        );
        assert!("3.0.0".parse::<Version>().unwrap() >= HTTP_HEADERS_SINCE);
        assert!("2.54.9".parse::<Version>().unwrap() < HTTP_HEADERS_SINCE);
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(
            "latest".parse::<Version>().unwrap_err(),
            "invalid Prometheus version \"latest\": expected MAJOR.MINOR[.PATCH], like 2.42.0"
        );
        assert!("2".parse::<Version>().is_err());
        assert!("2.x".parse::<Version>().is_err());
    }
}
