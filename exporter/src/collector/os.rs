//! os: `node_os_info{...}` and `node_os_version{id,id_like,name}` from
//! `<rootfs>/etc/os-release` (or `<rootfs>/usr/lib/os-release`).
//!
//! Like node_exporter, the parsed file is cached and re-read only when its mtime or size
//! changes: a scrape costs one stat(2), not an open/read/parse.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{gauge, gauge_family};
use super::{CollectorSpec, CollectError, Collector, Config, ConfigError, ParseError, Shared, read_with};

/// The os-release keys node_exporter exports, in its label order.
const KEYS: [(&str, &str); 12] = [
    ("build_id", "BUILD_ID"),
    ("id", "ID"),
    ("id_like", "ID_LIKE"),
    ("image_id", "IMAGE_ID"),
    ("image_version", "IMAGE_VERSION"),
    ("name", "NAME"),
    ("pretty_name", "PRETTY_NAME"),
    ("variant", "VARIANT"),
    ("variant_id", "VARIANT_ID"),
    ("version", "VERSION"),
    ("version_codename", "VERSION_CODENAME"),
    ("version_id", "VERSION_ID"),
];

/// os-release, parsed: the values of [`KEYS`] (empty when absent).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OsRelease {
    pub values: [String; 12],
}

impl OsRelease {
    /// The value of an os-release key (`"PRETTY_NAME"`), empty when absent.
    pub fn get(&self, key: &str) -> &str {
        KEYS.iter()
            .position(|(_, k)| *k == key)
            .map_or("", |i| self.values[i].as_str())
    }

    /// node_exporter's `node_os_version`: the leading `major[.minor]` of VERSION_ID.
    pub fn version(&self) -> Option<f64> {
        let v = self.get("VERSION_ID");
        let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
        let major = digits(v);
        if major == 0 {
            return None;
        }
        let mut end = major;
        if v[end..].starts_with('.') {
            end += 1 + digits(&v[end + 1..]);
        }
        v[..end].trim_end_matches('.').parse().ok()
    }
}

/// Parses os-release(5): `KEY=value` lines, values optionally quoted, `#` comments.
pub fn parse_os_release(data: &str) -> Result<OsRelease, ParseError> {
    let mut out = OsRelease::default();
    for (i, line) in data.lines().enumerate() {
        let n = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, raw) = line
            .split_once('=')
            .ok_or_else(|| ParseError::new(n, format!("no '=' in {line:?}")))?;
        let value = unquote(raw)
            .ok_or_else(|| ParseError::new(n, format!("{key}: unterminated quote in {raw:?}")))?;
        if let Some(slot) = KEYS.iter().position(|(_, k)| *k == key) {
            out.values[slot] = value;
        }
    }
    Ok(out)
}

fn unquote(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    match bytes.first() {
        Some(&q @ (b'"' | b'\'')) => {
            if bytes.len() < 2 || *bytes.last()? != q {
                return None;
            }
            let inner = &raw[1..raw.len() - 1];
            if q == b'\'' {
                return Some(inner.to_owned());
            }
            // Shell double-quote escapes: \" \\ \$ \`
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    match chars.next() {
                        Some(e @ ('"' | '\\' | '$' | '`')) => out.push(e),
                        Some(other) => {
                            out.push('\\');
                            out.push(other);
                        }
                        None => out.push('\\'),
                    }
                } else {
                    out.push(c);
                }
            }
            Some(out)
        }
        _ => Some(raw.to_owned()),
    }
}

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "os",
    default_enabled: true,
    help: "OS release information from /etc/os-release",
    flags: &[],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    let root = &config.paths.rootfs;
    Ok(Box::new(OsCollector {
        files: [root.join("etc/os-release"), root.join("usr/lib/os-release")],
        cache: Mutex::new(None),
    }))
}

struct OsCollector {
    files: [PathBuf; 2],
    cache: Mutex<Option<Cached>>,
}

struct Cached {
    path: PathBuf,
    mtime: Option<SystemTime>,
    len: u64,
    release: OsRelease,
}

impl OsCollector {
    /// The first os-release file that exists, with its metadata.
    fn locate(&self) -> Result<(&Path, std::fs::Metadata), CollectError> {
        let mut last = None;
        for path in &self.files {
            match std::fs::metadata(path) {
                Ok(meta) => return Ok((path, meta)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => last = Some(e),
                Err(source) => {
                    return Err(CollectError::Read {
                        path: path.clone(),
                        source,
                    });
                }
            }
        }
        Err(CollectError::Read {
            path: self.files[0].clone(),
            source: last.unwrap_or_else(|| io::ErrorKind::NotFound.into()),
        })
    }
}

impl Collector for OsCollector {
    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        let (path, meta) = self.locate()?;
        let mtime = meta.modified().ok();
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = cache
            .as_ref()
            .is_some_and(|c| c.path == path && c.mtime == mtime && c.len == meta.len());
        if !fresh {
            let release = read_with(path, |data| {
                parse_os_release(data).map_err(|e| CollectError::parse(path, e))
            })?;
            *cache = Some(Cached {
                path: path.to_owned(),
                mtime,
                len: meta.len(),
                release,
            });
        }
        let Some(cached) = cache.as_ref() else {
            return Ok(());
        };
        let r = &cached.release;
        let labels: [(&str, &str); 12] = std::array::from_fn(|i| (KEYS[i].0, r.values[i].as_str()));
        let mut family = gauge_family(
            enc,
            "node_os_info",
            "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, image_version, name, pretty_name, variant, variant_id, version, version_codename, version_id.",
        )?;
        gauge(&mut family, &labels, 1u64)?;
        if let Some(version) = r.version().filter(|v| *v > 0.0) {
            let mut family = gauge_family(
                enc,
                "node_os_version",
                "Metric containing the major.minor part of the OS version.",
            )?;
            let labels = [
                ("id", r.get("ID")),
                ("id_like", r.get("ID_LIKE")),
                ("name", r.get("NAME")),
            ];
            gauge(&mut family, &labels, version)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    const DEBIAN: &str = r#"PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"#;

    #[test]
    fn parses_quotes_escapes_and_comments() {
        let r = parse_os_release(
            "# comment\n\nNAME='Single Quoted'\nPRETTY_NAME=\"Say \\\"hi\\\" \\$HOME\"\nID=plain\n",
        )
        .unwrap();
        assert_eq!(r.get("NAME"), "Single Quoted");
        assert_eq!(r.get("PRETTY_NAME"), "Say \"hi\" $HOME");
        assert_eq!(r.get("ID"), "plain");
        assert_eq!(r.get("VARIANT"), "");
    }

    #[test]
    fn version_is_node_exporters_major_minor() {
        let v = |id: &str| {
            OsRelease {
                values: std::array::from_fn(|i| {
                    if KEYS[i].1 == "VERSION_ID" {
                        id.to_owned()
                    } else {
                        String::new()
                    }
                }),
            }
            .version()
        };
        assert_eq!(v("12"), Some(12.0));
        assert_eq!(v("22.04"), Some(22.04));
        assert_eq!(v("3.18.4"), Some(3.18));
        assert_eq!(v("7."), Some(7.0));
        assert_eq!(v("rolling"), None);
        assert_eq!(v(""), None);
    }

    #[test]
    fn hostile_os_releases_are_errors() {
        assert_eq!(
            parse_os_release("NAME=x\ngarbage line\n")
                .unwrap_err()
                .to_string(),
            "line 2: no '=' in \"garbage line\""
        );
        assert_eq!(
            parse_os_release("NAME=\"unterminated\n")
                .unwrap_err()
                .to_string(),
            "line 1: NAME: unterminated quote in \"\\\"unterminated\""
        );
    }

    #[test]
    fn encodes_info_and_version_and_falls_back_to_usr_lib() {
        let dir = tree(&[("rootfs/usr/lib/os-release", DEBIAN.as_bytes())]);
        let body = scrape_of("os", build(&config_for(dir.path())).unwrap());
        assert_eq!(
            samples(&body),
            [
                "node_os_info{build_id=\"\",id=\"debian\",id_like=\"\",image_id=\"\",image_version=\"\",name=\"Debian GNU/Linux\",pretty_name=\"Debian GNU/Linux 12 (bookworm)\",variant=\"\",variant_id=\"\",version=\"12 (bookworm)\",version_codename=\"bookworm\",version_id=\"12\"} 1",
                "node_os_version{id=\"debian\",id_like=\"\",name=\"Debian GNU/Linux\"} 12.0",
            ]
        );
    }

    #[test]
    fn a_changed_file_is_read_again() {
        let dir = tree(&[("rootfs/etc/os-release", b"ID=old\nVERSION_ID=1\n")]);
        let scraper =
            super::super::testutil::scraper_of("os", build(&config_for(dir.path())).unwrap());
        assert!(
            String::from_utf8(scraper.scrape())
                .unwrap()
                .contains("id=\"old\"")
        );
        std::fs::write(
            dir.path().join("rootfs/etc/os-release"),
            "ID=newer\nVERSION_ID=2\n",
        )
        .unwrap();
        let body = String::from_utf8(scraper.scrape()).unwrap();
        assert!(
            body.contains("node_os_version{id=\"newer\",id_like=\"\",name=\"\"} 2.0\n"),
            "{body}"
        );
    }

    #[test]
    fn no_os_release_fails_the_collector() {
        let dir = tree(&[]);
        let body = scrape_of("os", build(&config_for(dir.path())).unwrap());
        assert!(body.contains("node_scrape_collector_success{collector=\"os\"} 0\n"));
    }
}
