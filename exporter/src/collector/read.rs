//! Reading a file into a reused buffer: /proc files are small, and a scrape reads a dozen of
//! them, so the buffers are kept per thread instead of allocated per read.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::filesystem::Measured;
use super::{CollectError, Prefetched};

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

/// Reads a sysfs attribute with one read(2) of at most 128 bytes, as node_exporter and procfs
/// do: some drivers (hwmon) answer EAGAIN forever, and a read loop would spin on them.
/// Invalid UTF-8 becomes U+FFFD; the caller trims.
pub(crate) fn read_attr(path: &Path) -> io::Result<String> {
    let mut buf = [0u8; 128];
    let n = File::open(path)?.read(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn read_into(path: &Path, buf: &mut String) -> io::Result<()> {
    if buf.capacity() < 4096 {
        buf.reserve(4096);
    }
    match File::open(path)?.read_to_string(buf) {
        // Left empty by read_to_string. Read again as bytes; only this rare case pays for it.
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            let mut bytes = Vec::new();
            File::open(path)?.read_to_end(&mut bytes)?;
            buf.push_str(&String::from_utf8_lossy(&bytes));
            tracing::debug!(path = %path.display(), "not UTF-8; invalid bytes read as U+FFFD");
            Ok(())
        }
        other => other.map(|_| ()),
    }
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
}

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
