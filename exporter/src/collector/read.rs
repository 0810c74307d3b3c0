//! Reading a file into a reused buffer: /proc files are small, and a scrape reads a dozen of
//! them, so the buffers are kept per thread instead of allocated per read.

use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::path::Path;

use super::filesystem::Measured;
use super::held;
use super::{CollectError, ParseError, Prefetched};

/// What a first read of a /proc/sys file asks for (the kernel allocates and zeroes as much).
/// Tests ask for 16 bytes, so that real sysctl files longer than that take the path that asks
/// again for more.
const SYSCTL_ASK: usize = if cfg!(test) { 16 } else { 256 };

/// Buffers larger than this are not kept (a huge file should not pin its memory).
const KEEP_CAPACITY: usize = 256 * 1024;

thread_local! {
    static POOL: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Reads `path` (UTF-8) and hands its contents to `f`. A missing or unreadable file becomes a
/// [`CollectError::Read`] naming the path. Bytes that are not UTF-8 (an interface or mount
/// point named in another encoding) become U+FFFD, so one odd name costs only its own entry.
pub(crate) fn read_with<T>(
    path: &Path,
    f: impl FnOnce(&str) -> Result<T, CollectError>,
) -> Result<T, CollectError> {
    let mut buf = POOL.with(|p| p.borrow_mut().pop()).unwrap_or_default();
    buf.clear();
    let out = match read_into(path, &mut buf) {
        Ok(()) => f(&buf),
        Err(source) => Err(CollectError::Read {
            path: path.to_owned(),
            source,
        }),
    };
    if buf.capacity() <= KEEP_CAPACITY {
        POOL.with(|p| p.borrow_mut().push(buf));
    }
    out
}

/// The entries of `dir` named `<prefix><digit>...` (`cpu0`, `clocksource1`), sorted by name as
/// Go's `filepath.Glob("<prefix>[0-9]*")` returns them (node_exporter's order: `cpu10` before
/// `cpu2`).
pub(crate) fn numbered_entries(dir: &Path, prefix: &str) -> io::Result<Vec<String>> {
    // Only the matching names are copied out of the listing.
    let mut names: Vec<String> = held::with_listing(dir, |entries| {
        entries
            .iter()
            .filter_map(|e| e.name.to_str())
            .filter(|n| {
                n.strip_prefix(prefix)
                    .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
            })
            .map(str::to_owned)
            .collect()
    })?;
    names.sort_unstable();
    Ok(names)
}

/// A file holding one unsigned number (sysfs and /proc/sys attributes).
pub(crate) fn read_u64(path: &Path) -> Result<u64, CollectError> {
    read_with(path, |d| {
        let s = d.trim();
        s.parse().map_err(|_| {
            CollectError::parse(path, ParseError::new(1, format!("{s:?} is not a number")))
        })
    })
}

/// [`read_u64`], with a file that is missing or only root may read as `None` (procfs' rule
/// for optional sysfs attributes).
pub(crate) fn read_optional_u64(path: &Path) -> Result<Option<u64>, CollectError> {
    match read_u64(path) {
        Ok(v) => Ok(Some(v)),
        Err(CollectError::Read { source, .. })
            if matches!(
                source.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// A one-value sysfs file (`/sys/.../model`), whitespace trimmed, as procfs' SysReadFile.
pub(crate) fn read_trimmed(path: &Path) -> Result<String, CollectError> {
    read_with(path, |d| Ok(d.trim().to_owned()))
}

/// Reads a sysfs attribute with one read(2) of at most 128 bytes, as node_exporter and procfs
/// do: some drivers (hwmon) answer EAGAIN forever, and a read loop would spin on them.
/// Invalid UTF-8 becomes U+FFFD; the caller trims.
pub(crate) fn read_attr_once(path: &Path) -> io::Result<String> {
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 128];
    let n = held::read(
        path,
        None,
        || File::open(path),
        |fd, positional, _| held::read_at(fd, &mut buf, 0, positional),
    )?;
    // SAFETY: the kernel initialised the first n bytes.
    let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// Reads the whole file into `buf` through a descriptor held across scrapes (`held`): std's
/// `read_to_string` adds a statx and an lseek per file for a size hint that procfs answers
/// with 0 anyway. How the file comes back decides when it has all been read ([`held::Shape`]):
/// a paged procfs file (a short read is not its end) until a read returns nothing, a file the
/// kernel returns whole at the first short read.
fn read_into(path: &Path, buf: &mut String) -> io::Result<()> {
    let mut bytes = std::mem::take(buf).into_bytes();
    let result = held::read(
        path,
        None,
        || File::open(path),
        |fd, positional, shape| {
            bytes.clear();
            // A /proc/sys file: the kernel allocates what is asked for; values are short.
            let mut limit = if shape == held::Shape::Sysctl {
                SYSCTL_ASK
            } else {
                usize::MAX
            };
            loop {
                if bytes.capacity() - bytes.len() < 1024 {
                    bytes.reserve(bytes.capacity().max(4096));
                }
                let len = bytes.len();
                let spare = bytes.spare_capacity_mut();
                let asked = spare.len().min(limit);
                let n = held::read_at(fd, &mut spare[..asked], len, positional)?;
                if n == 0 {
                    return Ok(());
                }
                // SAFETY: the kernel wrote n bytes after the initialised ones.
                unsafe { bytes.set_len(len + n) };
                match shape {
                    // A file that returns itself whole needs no read at its end.
                    held::Shape::Whole | held::Shape::Sysctl if n < asked => return Ok(()),
                    // Filled: the value may be longer; ask for more, from the start.
                    held::Shape::Sysctl => {
                        bytes.clear();
                        limit = limit.saturating_mul(8);
                    }
                    _ => {}
                }
            }
        },
    );
    *buf = match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(path = %path.display(), "not UTF-8; invalid bytes read as U+FFFD");
            String::from_utf8_lossy(e.as_bytes()).into_owned()
        }
    };
    result
}

/// A file's contents, or the kind and text of the error reading it.
type SharedRead = Result<String, (io::ErrorKind, String)>;

/// Files read once per scrape although two collectors parse them (cpu and stat both need
/// /proc/stat, whose per-IRQ line makes it one of the dearer files to read).
#[derive(Default)]
pub(crate) struct Shared {
    files: std::cell::RefCell<Vec<(std::path::PathBuf, SharedRead)>>,
    /// The prefetch of the collector being updated, if it has one.
    prefetched: std::cell::RefCell<Option<Prefetched>>,
    /// Every link's RTM_NEWLINK body from one RTM_GETLINK dump, which netdev, netclass and arp
    /// (for its devices' names) all read.
    links: std::cell::OnceCell<SharedLinks>,
}

/// The link dump's message bodies (`links`), or the kind and text of its error.
type SharedLinks = Result<std::sync::Arc<Vec<Vec<u8>>>, (io::ErrorKind, String)>;

impl Shared {
    /// Hands the next collector its prefetch (see `Collector::prefetch`).
    pub(crate) fn set_prefetched(&self, prefetched: Option<Prefetched>) {
        *self.prefetched.borrow_mut() = prefetched;
    }

    /// The filesystem collector's prefetched statvfs results, if the scrape measured them ahead.
    pub(crate) fn take_filesystem(&self) -> Option<Measured> {
        let prefetched = self.prefetched.borrow_mut().take();
        prefetched.map(|p| match p {
            Prefetched::Filesystem(m) => m,
        })
    }

    /// Hands `f` the body of every link's RTM_NEWLINK message with this moment's counters
    /// ([`super::links`]), had on the first call of this scrape.
    pub(crate) fn with_links<T>(&self, f: impl FnOnce(&[Vec<u8>]) -> T) -> io::Result<T> {
        let links = self
            .links
            .get_or_init(|| super::links::current().map_err(|e| (e.kind(), e.to_string())));
        match links {
            Ok(bodies) => Ok(f(bodies)),
            Err((kind, message)) => Err(io::Error::new(*kind, message.clone())),
        }
    }

    /// As [`read_with`], but the file is read only on the first call of this scrape.
    pub(crate) fn read_with<T>(
        &self,
        path: &Path,
        f: impl FnOnce(&str) -> Result<T, CollectError>,
    ) -> Result<T, CollectError> {
        let mut files = self.files.borrow_mut();
        let i = match files.iter().position(|(p, _)| p == path) {
            Some(i) => i,
            None => {
                let mut buf = String::new();
                let read = read_into(path, &mut buf)
                    .map(|()| buf)
                    .map_err(|e| (e.kind(), e.to_string()));
                files.push((path.to_owned(), read));
                files.len() - 1
            }
        };
        match &files[i].1 {
            Ok(data) => f(data),
            Err((kind, message)) => Err(CollectError::Read {
                path: path.to_owned(),
                source: io::Error::new(*kind, message.clone()),
            }),
        }
    }
}

/// Parses an integer sysfs attribute as Go's `strconv.ParseUint(s, 0, 64)` does (procfs's
/// parser): `0x` hex (`flags` is written `0x1003`), `0o`/leading-`0` octal, `0b` binary, else
/// decimal.
pub(crate) fn parse_sysfs_uint(digits: &str) -> Option<u64> {
    let prefixed = |p: &str| digits.get(..2).is_some_and(|h| h.eq_ignore_ascii_case(p));
    let (radix, body) = if prefixed("0x") {
        (16, &digits[2..])
    } else if prefixed("0b") {
        (2, &digits[2..])
    } else if prefixed("0o") {
        (8, &digits[2..])
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    // from_str_radix would accept a sign.
    if body.is_empty() || body.starts_with(['+', '-']) {
        return None;
    }
    u64::from_str_radix(body, radix).ok()
}

/// As [`parse_sysfs_uint`], signed (`strconv.ParseInt(s, 0, 64)`): `speed` is -1 when unknown.
pub(crate) fn parse_sysfs_int(s: &str) -> Option<i64> {
    match s.strip_prefix('-') {
        Some(rest) => 0i64.checked_sub_unsigned(parse_sysfs_uint(rest)?),
        None => i64::try_from(parse_sysfs_uint(s.strip_prefix('+').unwrap_or(s))?).ok(),
    }
}

/// Errors reading a sysfs attribute that mean "this device has no such attribute" (procfs's
/// `canIgnoreError`): `speed` of a virtual interface gives EINVAL, some EOPNOTSUPP.
pub(crate) fn attr_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied | io::ErrorKind::InvalidInput
    ) || matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EOPNOTSUPP))
}

/// A sysfs device directory whose attributes are read by name: opened once (O_PATH) when a
/// file is not already held, so that reading several attributes does not walk the path again,
/// symlink (`class/net/eth0 -> ../../devices/...`) included, for each of them. `id` is the
/// device's identity for [`held`] (its ifindex), `None` for files not to hold.
pub(crate) struct AttrDir<'p> {
    path: &'p Path,
    id: Option<u64>,
    dir: Option<std::os::fd::OwnedFd>,
    /// The directory was not there (the device went away since it was listed).
    gone: bool,
}

impl<'p> AttrDir<'p> {
    pub(crate) fn new(path: &'p Path, id: Option<u64>) -> AttrDir<'p> {
        AttrDir {
            path,
            id,
            dir: None,
            gone: false,
        }
    }

    /// Whether the directory was missing when a file had to be opened.
    pub(crate) fn gone(&self) -> bool {
        self.gone
    }

    fn open_dir(path: &Path) -> io::Result<std::os::fd::OwnedFd> {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // SAFETY: c is NUL-terminated; the descriptor returned is owned below.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor nothing else owns.
        Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
    }

    fn open(&mut self, name: &std::ffi::CStr) -> io::Result<File> {
        use std::os::fd::AsRawFd;
        if self.dir.is_none() {
            match Self::open_dir(self.path) {
                Ok(d) => self.dir = Some(d),
                Err(e) => {
                    self.gone = e.kind() == io::ErrorKind::NotFound;
                    return Err(e);
                }
            }
        }
        let dir = self.dir.as_ref().map_or(-1, AsRawFd::as_raw_fd);
        // SAFETY: name is NUL-terminated and dir an open directory descriptor.
        let fd = unsafe { libc::openat(dir, name.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor nothing else owns.
        Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
    }

    /// Reads attribute `name` into `buf`, trimmed as [`read_attr`].
    pub(crate) fn read<'b>(
        &mut self,
        name: &std::ffi::CStr,
        buf: &'b mut Vec<u8>,
    ) -> io::Result<&'b str> {
        let path = self.path.join(name.to_string_lossy().as_ref());
        let n = held::read(
            &path,
            self.id,
            || self.open(name),
            |fd, positional, _| read_page(fd, positional, buf),
        )?;
        trimmed(buf, n)
    }
}

/// Reads one sysfs attribute file into `buf`, trimmed as procfs's `SysReadFile` does. Such
/// files are tiny and read by the dozen per device, so no pooled buffer or String per file.
pub(crate) fn read_attr<'b>(path: &Path, buf: &'b mut Vec<u8>) -> io::Result<&'b str> {
    let n = held::read(
        path,
        None,
        || File::open(path),
        |fd, positional, _| read_page(fd, positional, buf),
    )?;
    trimmed(buf, n)
}

/// One read of at most a page into `buf`: a sysfs attribute is at most a page and comes whole
/// in one read (kernfs fills the reader's buffer from one show()), so no second read to see
/// the end; a file that is not one is cut at a page, as before.
fn read_page(fd: std::os::fd::RawFd, positional: bool, buf: &mut Vec<u8>) -> io::Result<usize> {
    buf.clear();
    buf.reserve(4096);
    let n = held::read_at(fd, &mut buf.spare_capacity_mut()[..4096], 0, positional)?;
    // SAFETY: the kernel wrote the first n bytes.
    unsafe { buf.set_len(n) };
    Ok(n)
}

fn trimmed(buf: &[u8], n: usize) -> io::Result<&str> {
    let s = std::str::from_utf8(&buf[..n])
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    Ok(s.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// /proc/sys files read whole: one longer than the first ask (16 bytes in tests) is asked
    /// for again, from its start, with room for all of it, every time.
    #[test]
    fn sysctl_files_longer_than_the_first_ask_are_read_whole() {
        let paths = [
            "/proc/sys/kernel/random/boot_id",
            "/proc/sys/net/core/netdev_rss_key",
            "/proc/sys/kernel/ostype",
            // Integer vectors, which answer nothing at an offset: asked for again from 0.
            "/proc/sys/net/ipv4/tcp_rmem",
            "/proc/sys/net/ipv4/tcp_wmem",
        ];
        let mut longer = 0;
        for path in paths {
            let Ok(want) = std::fs::read_to_string(path) else {
                continue;
            };
            longer += usize::from(want.len() > SYSCTL_ASK);
            for _ in 0..3 {
                let got = read_with(Path::new(path), |d| Ok(d.to_owned())).unwrap();
                assert_eq!(got, want, "{path}");
            }
        }
        assert!(
            longer > 0,
            "no sysctl file longer than {SYSCTL_ASK} bytes among {paths:?}"
        );
    }
}
