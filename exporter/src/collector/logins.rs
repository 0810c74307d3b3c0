//! logins: `vpsmon_login_session_start_time_seconds{user,tty,remote_host}`, one series per
//! active session in utmp (`--collector.logins.utmp-path`, default `<rootfs>/var/run/utmp`).
//! A host without utmp at the default path (a container, a minimal image) has no sessions to
//! report: the family is empty, the collector succeeds, and one info line says so.
//!
//! utmp is a binary file of fixed-size records (`struct utmp`, Linux x86_64 glibc: 384 bytes).
//! It is parsed field by field at explicit offsets, never by transmuting bytes into a struct, so
//! a hostile file can only produce an error, never undefined behaviour.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{gauge, gauge_family};
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, FlagSpec, PathKind, Shared,
};

/// Size of one `struct utmp` record on Linux x86_64 with glibc.
pub const RECORD_SIZE: usize = 384;
/// `ut_type` of a login session.
pub const USER_PROCESS: i16 = 7;
/// `ut_type` of a session that has ended (the record stays until the tty is reused).
pub const DEAD_PROCESS: i16 = 8;

// Offsets in `struct utmp` (glibc bits/utmp.h, x86_64): ut_type (short, 2 bytes padding),
// ut_pid, ut_line[32], ut_id[4], ut_user[32], ut_host[256], ut_exit, ut_session, ut_tv
// (two int32 on x86_64, for 32-bit compatibility), ut_addr_v6[4], 20 unused bytes.
const OFF_TYPE: usize = 0;
const OFF_PID: usize = 4;
const OFF_LINE: usize = 8;
const OFF_ID: usize = 40;
const OFF_USER: usize = 44;
const OFF_HOST: usize = 76;
const OFF_TV_SEC: usize = 340;
const OFF_TV_USEC: usize = 344;
const LINE_LEN: usize = 32;
const USER_LEN: usize = 32;
const HOST_LEN: usize = 256;
/// The largest `ut_type` glibc defines (ACCOUNTING).
const MAX_TYPE: i16 = 9;

/// The default utmp path, relative to `--path.rootfs`.
pub const DEFAULT_UTMP_PATH: &str = "var/run/utmp";
/// Tried when the default is missing: `/var/run` is a symlink to the absolute `/run`, which
/// inside a container resolves to the container's own /run, not the host's under the rootfs.
pub const FALLBACK_UTMP_PATH: &str = "run/utmp";

/// One active login session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: String,
    pub tty: String,
    /// Empty for a local (console) login.
    pub remote_host: String,
    pub pid: i32,
    /// Seconds since the epoch.
    pub start_time: i64,
}

/// What is wrong with a utmp file: the byte offset of the bad record and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record at byte offset {offset}: {message}")]
pub struct RecordError {
    pub offset: usize,
    pub message: String,
}

/// A NUL-terminated (or full-length) C string field; invalid UTF-8 is replaced, not refused,
/// because a user name or host is still worth showing.
fn c_string(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

fn i32_at(rec: &[u8], off: usize) -> i32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&rec[off..off + 4]);
    i32::from_le_bytes(b)
}

/// Parses a whole utmp file and returns its `USER_PROCESS` sessions in file order.
///
/// A short trailing record is ignored: login programs rewrite utmp in place, and a reader may
/// catch a record half-written. Anything else that is not a utmp record is an error naming its
/// byte offset.
pub fn parse_utmp(data: &[u8]) -> Result<Vec<Session>, RecordError> {
    let mut sessions = Vec::new();
    for (i, rec) in data.chunks_exact(RECORD_SIZE).enumerate() {
        let offset = i * RECORD_SIZE;
        let ut_type = i16::from_le_bytes([rec[OFF_TYPE], rec[OFF_TYPE + 1]]);
        if !(0..=MAX_TYPE).contains(&ut_type) || rec[OFF_TYPE + 2..OFF_PID] != [0, 0] {
            return Err(RecordError {
                offset,
                message: format!(
                    "ut_type {ut_type} is not a utmp record type (0..=9): not a utmp file of Linux x86_64?"
                ),
            });
        }
        if ut_type != USER_PROCESS {
            continue;
        }
        let usec = i32_at(rec, OFF_TV_USEC);
        if !(0..1_000_000).contains(&usec) {
            return Err(RecordError {
                offset,
                message: format!("ut_tv.tv_usec {usec} is out of range"),
            });
        }
        sessions.push(Session {
            user: c_string(&rec[OFF_USER..OFF_USER + USER_LEN]),
            tty: c_string(&rec[OFF_LINE..OFF_LINE + LINE_LEN]),
            remote_host: c_string(&rec[OFF_HOST..OFF_HOST + HOST_LEN]),
            pid: i32_at(rec, OFF_PID),
            // tv_sec is a signed 32-bit field; utmp readers treat it as unsigned after 2038.
            start_time: i64::from(i32_at(rec, OFF_TV_SEC) as u32),
        });
    }
    Ok(sessions)
}

/// Writes one `struct utmp` record (for fixtures and tests): the exact layout [`parse_utmp`] reads.
pub fn encode_record(
    ut_type: i16,
    pid: i32,
    tty: &str,
    user: &str,
    host: &str,
    tv_sec: u32,
) -> [u8; RECORD_SIZE] {
    let mut rec = [0u8; RECORD_SIZE];
    rec[OFF_TYPE..OFF_TYPE + 2].copy_from_slice(&ut_type.to_le_bytes());
    rec[OFF_PID..OFF_PID + 4].copy_from_slice(&pid.to_le_bytes());
    let put = |rec: &mut [u8; RECORD_SIZE], off: usize, len: usize, s: &str| {
        let b = &s.as_bytes()[..s.len().min(len)];
        rec[off..off + b.len()].copy_from_slice(b);
    };
    put(&mut rec, OFF_LINE, LINE_LEN, tty);
    // ut_id: the last four characters of the tty, as login(1) writes it.
    put(&mut rec, OFF_ID, 4, &tty[tty.len().saturating_sub(4)..]);
    put(&mut rec, OFF_USER, USER_LEN, user);
    put(&mut rec, OFF_HOST, HOST_LEN, host);
    rec[OFF_TV_SEC..OFF_TV_SEC + 4].copy_from_slice(&tv_sec.to_le_bytes());
    rec
}

/// The utmp file; not given: `<rootfs>/var/run/utmp` (or `<rootfs>/run/utmp`).
pub const UTMP_PATH: FlagSpec = FlagSpec::optional(
    "--collector.logins.utmp-path",
    "utmp file the logins collector reads [default: <path.rootfs>/var/run/utmp]",
)
.value_name("FILE")
.existing(PathKind::File);

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "logins",
    default_enabled: true,
    help: "Active login sessions from utmp",
    flags: &[UTMP_PATH],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    let (path, fallback) = match config.options.optional(&UTMP_PATH) {
        Some(p) => (PathBuf::from(p), None),
        None => (
            config.paths.rootfs.join(DEFAULT_UTMP_PATH),
            Some(config.paths.rootfs.join(FALLBACK_UTMP_PATH)),
        ),
    };
    Ok(Box::new(LoginsCollector {
        path,
        fallback,
        told_absent: AtomicBool::new(false),
    }))
}

struct LoginsCollector {
    path: PathBuf,
    /// Read when `path` does not exist (only for the default path).
    fallback: Option<PathBuf>,
    /// Whether the absence of utmp has been logged (once per process).
    told_absent: AtomicBool,
}

/// Reads and parses a utmp file; an error names the file (and the record's offset).
pub fn read_sessions(path: &std::path::Path) -> Result<Vec<Session>, CollectError> {
    let data = std::fs::read(path).map_err(|source| CollectError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_utmp(&data).map_err(|e| CollectError::Record {
        path: path.to_owned(),
        offset: e.offset,
        message: e.message,
    })
}

impl LoginsCollector {
    /// The sessions, or `None` when the default utmp file and its fallback both do not exist:
    /// containers and minimal images have no login service writing utmp, so there is nothing
    /// to report, and that is no failure. A path given with the flag must exist (it is checked
    /// at start-up; a file that disappears later is a failure).
    fn sessions(&self) -> Result<Option<Vec<Session>>, CollectError> {
        let Some(fallback) = &self.fallback else {
            return read_sessions(&self.path).map(Some);
        };
        for path in [&self.path, fallback] {
            match read_sessions(path) {
                Err(CollectError::Read { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound => {}
                result => return result.map(Some),
            }
        }
        if !self.told_absent.swap(true, Ordering::Relaxed) {
            tracing::info!(
                collector = "logins",
                "no utmp file at {} or {}: no login sessions to report (normal in containers and minimal images; said once)",
                self.path.display(),
                fallback.display()
            );
        }
        Ok(None)
    }
}

impl Collector for LoginsCollector {
    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        let sessions = self.sessions()?.unwrap_or_default();
        // One series per (user, tty, host): a stale duplicate record must not make the scrape
        // invalid; the newest start wins.
        let mut series: BTreeMap<(&str, &str, &str), i64> = BTreeMap::new();
        for s in &sessions {
            let t = series
                .entry((&s.user, &s.tty, &s.remote_host))
                .or_insert(s.start_time);
            *t = (*t).max(s.start_time);
        }
        let mut family = gauge_family(
            enc,
            "vpsmon_login_session_start_time_seconds",
            "Start time of each active login session in utmp, in seconds since the epoch.",
        )?;
        for ((user, tty, host), start) in series {
            gauge(
                &mut family,
                &[("user", user), ("tty", tty), ("remote_host", host)],
                start,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, logs_of, samples, scrape_of, scraper_of, tree};
    use super::*;

    fn file(records: &[[u8; RECORD_SIZE]]) -> Vec<u8> {
        records.concat()
    }

    #[test]
    fn active_sessions_only_dead_and_boot_records_skipped() {
        let data = file(&[
            encode_record(2, 0, "~", "reboot", "6.1.0-27-amd64", 1_763_700_000),
            encode_record(
                USER_PROCESS,
                812,
                "pts/0",
                "alice",
                "203.0.113.7",
                1_763_740_000,
            ),
            encode_record(DEAD_PROCESS, 0, "pts/1", "", "", 1_763_741_000),
            encode_record(USER_PROCESS, 901, "tty1", "root", "", 1_763_742_000),
        ]);
        let sessions = parse_utmp(&data).unwrap();
        assert_eq!(
            sessions,
            [
                Session {
                    user: "alice".into(),
                    tty: "pts/0".into(),
                    remote_host: "203.0.113.7".into(),
                    pid: 812,
                    start_time: 1_763_740_000
                },
                Session {
                    user: "root".into(),
                    tty: "tty1".into(),
                    remote_host: "".into(),
                    pid: 901,
                    start_time: 1_763_742_000
                },
            ]
        );
    }

    #[test]
    fn a_truncated_trailing_record_is_ignored() {
        let mut data = file(&[encode_record(USER_PROCESS, 1, "pts/0", "bob", "h", 5)]);
        data.extend_from_slice(&encode_record(USER_PROCESS, 2, "pts/1", "eve", "x", 6)[..100]);
        let sessions = parse_utmp(&data).unwrap();
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0].user, "bob");
        assert_eq!(parse_utmp(&[]).unwrap(), []);
    }

    #[test]
    fn garbage_names_the_byte_offset() {
        let mut data = file(&[
            encode_record(USER_PROCESS, 1, "pts/0", "bob", "h", 5),
            [0xAB; RECORD_SIZE],
        ]);
        assert_eq!(
            parse_utmp(&data).unwrap_err().to_string(),
            "record at byte offset 384: ut_type -21589 is not a utmp record type (0..=9): not a utmp file of Linux x86_64?"
        );
        data.truncate(RECORD_SIZE);
        data[OFF_TV_USEC..OFF_TV_USEC + 4].copy_from_slice(&2_000_000i32.to_le_bytes());
        assert_eq!(
            parse_utmp(&data).unwrap_err().to_string(),
            "record at byte offset 0: ut_tv.tv_usec 2000000 is out of range"
        );
    }

    #[test]
    fn long_fields_and_bad_utf8_are_kept() {
        let user = "u".repeat(40);
        let mut rec = encode_record(USER_PROCESS, 1, "pts/9", &user, "h", 5);
        rec[OFF_HOST] = 0xff;
        let s = &parse_utmp(&rec).unwrap()[0];
        assert_eq!(s.user, "u".repeat(32));
        assert_eq!(s.remote_host, "\u{fffd}");
    }

    #[test]
    fn encodes_one_series_per_session() {
        let data = file(&[
            encode_record(
                USER_PROCESS,
                812,
                "pts/0",
                "alice",
                "203.0.113.7",
                1_763_740_000,
            ),
            encode_record(DEAD_PROCESS, 0, "pts/1", "", "", 1_763_741_000),
            encode_record(USER_PROCESS, 901, "tty1", "root", "", 1_763_742_000),
        ]);
        let dir = tree(&[("rootfs/var/run/utmp", &data)]);
        let body = scrape_of("logins", build(&config_for(dir.path())).unwrap());
        assert_eq!(
            samples(&body),
            [
                "vpsmon_login_session_start_time_seconds{user=\"alice\",tty=\"pts/0\",remote_host=\"203.0.113.7\"} 1763740000",
                "vpsmon_login_session_start_time_seconds{user=\"root\",tty=\"tty1\",remote_host=\"\"} 1763742000",
            ]
        );
        assert!(body.contains("node_scrape_collector_success{collector=\"logins\"} 1\n"));
    }

    #[test]
    fn falls_back_to_run_utmp_when_var_run_is_missing() {
        let data = encode_record(
            USER_PROCESS,
            7,
            "pts/3",
            "carol",
            "192.0.2.4",
            1_763_744_000,
        );
        let dir = tree(&[("rootfs/run/utmp", &data)]);
        let body = scrape_of("logins", build(&config_for(dir.path())).unwrap());
        assert_eq!(
            samples(&body),
            [
                "vpsmon_login_session_start_time_seconds{user=\"carol\",tty=\"pts/3\",remote_host=\"192.0.2.4\"} 1763744000"
            ]
        );
    }

    #[test]
    fn no_utmp_at_the_default_path_is_no_sessions_said_once_not_a_failure() {
        // A container or minimal image: /var/run -> /run, and nothing writes /run/utmp.
        let dir = tree(&[("rootfs/run/.keep", b"")]);
        let config = config_for(dir.path());
        let scraper = scraper_of("logins", build(&config).unwrap());
        let mut bodies = Vec::new();
        let logs = logs_of(|| {
            for _ in 0..3 {
                bodies.push(String::from_utf8(scraper.scrape()).unwrap());
            }
        });
        let root = &config.paths.rootfs;
        assert_eq!(
            logs,
            format!(
                " INFO vpsmon_exporter::collector::logins: no utmp file at {} or {}: no login sessions to report (normal in containers and minimal images; said once) collector=\"logins\"\n",
                root.join("var/run/utmp").display(),
                root.join("run/utmp").display()
            )
        );
        for body in bodies {
            assert!(
                body.contains("node_scrape_collector_success{collector=\"logins\"} 1\n"),
                "{body}"
            );
            assert_eq!(samples(&body), Vec::<&str>::new());
        }
        // A utmp that appears later (a login service started) is read.
        let data = encode_record(USER_PROCESS, 9, "pts/0", "dave", "", 1_763_745_000);
        std::fs::write(root.join("run/utmp"), data).unwrap();
        assert_eq!(
            samples(&String::from_utf8(scraper.scrape()).unwrap()),
            [
                "vpsmon_login_session_start_time_seconds{user=\"dave\",tty=\"pts/0\",remote_host=\"\"} 1763745000"
            ]
        );
    }

    #[test]
    fn an_explicit_utmp_path_that_is_gone_is_a_failure() {
        let dir = tree(&[]);
        let mut config = config_for(dir.path());
        let gone = dir.path().join("gone/utmp");
        config
            .options
            .set(&UTMP_PATH, vec![gone.to_str().unwrap().to_owned()]);
        let body = scrape_of("logins", build(&config).unwrap());
        assert!(body.contains("node_scrape_collector_success{collector=\"logins\"} 0\n"));
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tree(&[("rootfs/var/run/utmp", &[0xAB; RECORD_SIZE])]);
        let config = config_for(dir.path());
        let body = scrape_of("logins", build(&config).unwrap());
        assert!(body.contains("node_scrape_collector_success{collector=\"logins\"} 0\n"));
        assert!(!body.contains("vpsmon_login_session"));
        let path = config.paths.rootfs.join("var/run/utmp");
        assert_eq!(
            read_sessions(&path).unwrap_err().to_string(),
            format!(
                "parsing {}: record at byte offset 0: ut_type -21589 is not a utmp record type (0..=9): not a utmp file of Linux x86_64?",
                path.display()
            )
        );
        let missing = dir.path().join("nope/utmp");
        assert_eq!(
            read_sessions(&missing).unwrap_err().to_string(),
            format!(
                "reading {}: No such file or directory (os error 2)",
                missing.display()
            )
        );
    }
}
