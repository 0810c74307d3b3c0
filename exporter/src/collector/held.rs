//! Descriptors of procfs and sysfs files held open from one scrape to the next.
//!
//! Opening a file is a good part of what a cold scrape costs: the kernel walks the path
//! (`/proc/net/*` through the `self` symlink and the network namespace, `/sys/block/vda/...`
//! through its symlink into `/sys/devices`), checks permissions at each step, and allocates
//! the open file, for some 80 files a scrape. These files are generated when they are read, so
//! a descriptor kept open reads fresh figures every time: a read at offset 0 makes procfs'
//! and sysfs' seq_files run their `show` again (`seq_read_iter` restarts its iterator at 0).
//! Nothing read is kept, only the way to the file.
//!
//! Only procfs and sysfs files are held (checked with fstatfs when opened): a regular file
//! (udev's database, utmp, a textfile, a fixture tree) is replaced by rename, and a held
//! descriptor would go on reading the old one. A held descriptor whose object went away (a
//! disk or CPU removed) fails with ENODEV; any failure drops it, and the path is opened again.
//! Paths under `class/net/` are held only by the caller that knows the device's ifindex (the
//! network class collector): a network device can be renamed, and the name's next owner must
//! not be read through the old device's files. A descriptor not used for two scrapes (its
//! device is gone, or a collector no longer reads it) is closed by [`sweep`]; at most
//! [`MAX_HELD`] are held, so the open-file limit stays the server's.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::absent;

/// The most descriptors held; past it, files are opened and closed as before.
pub(crate) const MAX_HELD: usize = 256;

const PROC_SUPER_MAGIC: i64 = 0x9fa0;
const SYSFS_MAGIC: i64 = 0x6265_6572;

/// A held file: its path, the identity its caller gave it (an ifindex, or 0), and whether a
/// read is using it now (then a concurrent scrape opens its own, and no sweep closes it).
struct Slot {
    key: Box<[u8]>,
    id: u64,
    /// A file: how a read returns it ([`shape_of`]). A directory: [`Shape::Whole`] when it
    /// is on sysfs, so its listing may be kept (`absent::generation`).
    shape: Shape,
    /// A sysfs directory: its last listing, and the `absent::generation` it was made in.
    listing: Option<(u64, Vec<DirEntry>)>,
    /// `None` once dropped (a failed read): removed by the next [`sweep`].
    file: Option<File>,
    /// The scrape that last read it.
    used: u64,
    busy: bool,
}

/// FNV-1a: the keys are short paths this process chose, so SipHash's defence against
/// chosen keys buys nothing here, and it cost more than the lookups.
#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

fn key(path: &Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

/// The held files, in the order they were first held, which is the order a scrape reads them
/// in: the next read is looked for where the last one was found, and only when it is not
/// there by path in `index`. A scrape then walks the slots in order (the CPU prefetches them)
/// instead of probing a hash table twice per file, each probe a few cold cache lines.
#[derive(Default)]
struct Store {
    slots: Vec<Slot>,
    /// By path, as bytes, the positions of its slots in `slots`.
    index: HashMap<Box<[u8]>, Vec<usize>, std::hash::BuildHasherDefault<Fnv>>,
    /// Where the next read is expected.
    next: usize,
    /// A slot was dropped since the last sweep.
    dropped: bool,
}

impl Store {
    fn usable(&self, at: usize, key: &[u8], id: u64) -> bool {
        self.slots
            .get(at)
            .is_some_and(|s| s.id == id && !s.busy && s.file.is_some() && *s.key == *key)
    }

    /// Rebuilds `index` from `slots`.
    fn reindex(&mut self) {
        self.index.clear();
        for (i, s) in self.slots.iter().enumerate() {
            self.index.entry(s.key.clone()).or_default().push(i);
        }
    }
}

static HELD: Mutex<Option<Store>> = Mutex::new(None);
/// The number of the current scrape, advanced by [`sweep`].
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// The held descriptor of `path` for `id`, its slot and its [`Shape`], marked busy until
/// [`give_back`].
fn borrow(path: &Path, id: u64) -> Option<(RawFd, usize, Shape)> {
    let mut held = HELD.lock().ok()?;
    let store = held.as_mut()?;
    let key = key(path);
    let at = if store.usable(store.next, key, id) {
        store.next
    } else {
        *store
            .index
            .get(key)?
            .iter()
            .find(|&&i| store.usable(i, key, id))?
    };
    store.next = at + 1;
    let slot = &mut store.slots[at];
    slot.busy = true;
    Some((slot.file.as_ref()?.as_raw_fd(), at, slot.shape))
}

/// Ends a [`borrow`] of slot `at`: the descriptor is kept, as used in this scrape, or closed.
fn give_back(at: usize, keep: bool) {
    let Ok(mut held) = HELD.lock() else { return };
    let Some(store) = held.as_mut() else { return };
    let Some(slot) = store.slots.get_mut(at) else {
        return;
    };
    slot.busy = false;
    if keep {
        slot.used = EPOCH.load(Ordering::Relaxed);
    } else {
        slot.file = None;
        store.dropped = true;
    }
}

/// `f` of the listing kept in slot `at` (borrowed), if it was made in `generation`; else `f`
/// is given back. `f` runs with the store locked.
fn with_kept<T, F: FnOnce(&[DirEntry]) -> T>(at: usize, generation: u64, f: F) -> Result<T, F> {
    let Ok(held) = HELD.lock() else { return Err(f) };
    match held
        .as_ref()
        .and_then(|s| s.slots.get(at)?.listing.as_ref())
    {
        Some((g, listed)) if *g == generation => Ok(f(listed)),
        _ => Err(f),
    }
}

/// Keeps `listed` in slot `at` (borrowed) as made in `generation`.
fn keep_listing(at: usize, generation: u64, listed: &[DirEntry]) {
    if let Ok(mut held) = HELD.lock()
        && let Some(slot) = held.as_mut().and_then(|s| s.slots.get_mut(at))
    {
        slot.listing = Some((generation, listed.to_vec()));
    }
}

/// Holds `file` as `path`'s for `id`, if there is room and it is not held already.
fn put(path: &Path, id: u64, file: File, shape: Shape) {
    let Ok(mut held) = HELD.lock() else { return };
    let store = held.get_or_insert_with(Store::default);
    if store.slots.len() >= MAX_HELD {
        return;
    }
    let key = key(path);
    let positions = store.index.entry(key.into()).or_default();
    if positions
        .iter()
        .any(|&i| store.slots[i].id == id && store.slots[i].file.is_some())
    {
        return;
    }
    positions.push(store.slots.len());
    store.slots.push(Slot {
        key: key.into(),
        id,
        shape,
        listing: None,
        file: Some(file),
        used: EPOCH.load(Ordering::Relaxed),
        busy: false,
    });
    store.next = store.slots.len();
}

/// Whether `file` is generated by the kernel on each read (procfs, sysfs).
pub(crate) fn generated(file: &File) -> bool {
    kernel_fs(file).is_some()
}

/// Whether `dir` is the root of, or in, a procfs or sysfs (the kernel's, not a copy).
pub(crate) fn is_kernel_dir(dir: &Path) -> bool {
    File::open(dir).is_ok_and(|d| kernel_fs(&d).is_some())
}

/// The filesystem `file` is on (statfs' f_type), if it is procfs or sysfs.
fn kernel_fs(file: &File) -> Option<i64> {
    fs_magic(file).filter(|&m| m == PROC_SUPER_MAGIC || m == SYSFS_MAGIC)
}

/// The filesystem `file` is on (statfs' f_type).
fn fs_magic(file: &File) -> Option<i64> {
    // SAFETY: statfs is plain data; fstatfs fills it for an open descriptor.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: the descriptor is open for the duration of the call.
    let rc = unsafe { libc::fstatfs(file.as_raw_fd(), &mut st) };
    #[allow(clippy::unnecessary_cast)] // f_type's width differs between libcs.
    (rc == 0).then_some(st.f_type as i64)
}

/// procfs files the kernel shows as one record (`single_open`, `proc_create_single`,
/// `proc_create_net_single`): one read as long as the file returns all of it.
const SINGLE_RECORD: &[&str] = &[
    "meminfo",
    "stat",
    "loadavg",
    "netstat",
    "snmp",
    "snmp6",
    "sockstat",
    "sockstat6",
    "cpu",
    "memory",
    "io",
    "irq",
    "uptime",
];

/// How a read at offset 0 returns a held file.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Shape {
    /// A page of records at a time (diskstats, net/dev, net/udp...): read until a read
    /// returns nothing.
    Paged,
    /// Whole, when the read asks for more than it holds: a shorter read is its end.
    Whole,
    /// A /proc/sys file: whole as above, but the kernel allocates (and zeroes) as much as the
    /// read asks for, so ask for little, and ask again from the start for more only when that
    /// was filled (an integer vector would not continue at an offset).
    Sysctl,
}

/// The [`Shape`] of `path`, a held procfs or sysfs file on fs `magic`:
/// - a sysfs attribute is one `show` of at most a page, or a binary attribute read as asked;
/// - a /proc/sys file is answered whole by its handler, and nothing at an offset past it;
/// - a one-record procfs file ([`SINGLE_RECORD`]: meminfo, stat, net/snmp, pressure/*...) is
///   one `show` that seq_file grows its buffer for, then copies as far as the read asks.
///
/// Other procfs files (diskstats, net/dev, net/udp...) return a page of records at a time: a
/// short read is not their end.
fn shape_of(path: &Path, magic: i64) -> Shape {
    if magic == SYSFS_MAGIC {
        return Shape::Whole;
    }
    if magic != PROC_SUPER_MAGIC {
        return Shape::Paged;
    }
    let parent = path.parent().and_then(Path::file_name);
    let name = path.file_name().and_then(|n| n.to_str());
    let in_sys = path.components().any(|c| c.as_os_str() == "sys");
    let one_record = name.is_some_and(|n| SINGLE_RECORD.contains(&n))
        && match name {
            // pressure/{cpu,memory,io,irq}, not some other directory's files of that name.
            Some("cpu" | "memory" | "io" | "irq") => parent.is_some_and(|p| p == "pressure"),
            _ => true,
        };
    if in_sys {
        Shape::Sysctl
    } else if one_record {
        Shape::Whole
    } else {
        Shape::Paged
    }
}

/// Whether a path names a network device's file through its (renameable) name: something
/// under `class/net/<device>`.
fn under_class_net(path: &Path) -> bool {
    let mut parts = path.components().map(|c| c.as_os_str());
    while let Some(p) = parts.next() {
        let mut rest = parts.clone();
        if p == "class" && rest.next().is_some_and(|n| n == "net") && rest.next().is_some() {
            return true;
        }
    }
    false
}

/// Reads `path` with `read`, given a descriptor and whether it may read at an offset (pread):
/// through the descriptor held from an earlier scrape if there is one, else a fresh one from
/// `open`, which is then held if it is a procfs or sysfs file that reads at offsets. `id` tells
/// apart two objects that had the same path in turn (a network device's ifindex); `None` for a
/// path that holds only when it cannot name another object later (see the module's doc).
pub(crate) fn read<T>(
    path: &Path,
    id: Option<u64>,
    open: impl FnOnce() -> io::Result<File>,
    mut read: impl FnMut(RawFd, bool, Shape) -> io::Result<T>,
) -> io::Result<T> {
    let slot = id.unwrap_or(0);
    // Only what may be held is ever held: no need to ask before looking.
    if let Some((fd, at, shape)) = borrow(path, slot) {
        let result = read(fd, true, shape);
        let gone = result.as_ref().is_err_and(object_gone);
        give_back(at, !gone);
        if !gone {
            return result;
        }
        // Its object went away: walk the path again.
    }
    if let Some(e) = absent::missing(path) {
        return Err(e);
    }
    let file = absent::note(path, open())?;
    match read(file.as_raw_fd(), true, Shape::Paged) {
        // A file that does not read at offsets: read it as a stream, and do not hold it.
        Err(e) if e.raw_os_error() == Some(libc::ESPIPE) => {
            read(file.as_raw_fd(), false, Shape::Paged)
        }
        // An error of the file's own (a link that is down has no `speed`: EINVAL) is its
        // answer this time: the file is held all the same, and read again next scrape.
        result => {
            if !result.as_ref().is_err_and(object_gone)
                && (id.is_some() || !under_class_net(path))
                && let Some(magic) = kernel_fs(&file)
            {
                put(path, slot, file, shape_of(path, magic));
            }
            result
        }
    }
}

/// Whether a read failed because the file's object went away (a device removed: sysfs
/// answers ENODEV), not because of what the file had to say.
fn object_gone(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENODEV | libc::ESRCH | libc::EBADF | libc::ENOENT)
    )
}

/// Ends a scrape: closes the descriptors no read used in this scrape or the one before.
pub(crate) fn sweep() {
    let epoch = EPOCH.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut held) = HELD.lock()
        && let Some(store) = held.as_mut()
    {
        store.next = 0;
        // A read in progress (a concurrent scrape) holds its slot's position: positions change
        // only when no read is in progress; the stale slots wait for the next sweep.
        if store.slots.iter().any(|s| s.busy) {
            return;
        }
        let stale = |s: &Slot| s.file.is_none() || s.used + 1 < epoch;
        if store.dropped || store.slots.iter().any(stale) {
            store.slots.retain(|s| !stale(s));
            store.reindex();
            store.dropped = false;
        }
    }
}

/// Whether `path` (with id 0) is held (for tests).
#[cfg(test)]
pub(crate) fn holds(path: &Path) -> bool {
    HELD.lock().unwrap().as_ref().is_some_and(|h| {
        h.slots
            .iter()
            .any(|s| *s.key == *key(path) && s.id == 0 && s.file.is_some())
    })
}

/// `pread` or `read` of `fd` at `offset` into `buf`, retried on EINTR.
pub(crate) fn read_at(
    fd: RawFd,
    buf: &mut [std::mem::MaybeUninit<u8>],
    offset: usize,
    positional: bool,
) -> io::Result<usize> {
    loop {
        // SAFETY: buf is writable for its length; the kernel initialises the n bytes it returns.
        let n = unsafe {
            if positional {
                libc::pread(
                    fd,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    offset as libc::off_t,
                )
            } else {
                libc::read(fd, buf.as_mut_ptr().cast(), buf.len())
            }
        };
        match usize::try_from(n) {
            Ok(n) => return Ok(n),
            Err(_) => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

/// A directory entry: its name and its `d_type` (`libc::DT_*`; DT_UNKNOWN where the filesystem
/// does not say).
#[derive(Clone)]
pub(crate) struct DirEntry {
    pub(crate) name: OsString,
    pub(crate) kind: u8,
}

/// The entries of directory `path` but `.` and `..`, in the directory's order, through a
/// descriptor held across scrapes (rewound for each listing): listing with `std::fs::read_dir`
/// costs a path walk, an open, an fstat and a close more each time. A sysfs directory that is
/// removed while held (a module unloaded) lists nothing but its dots, like an empty one: a
/// held directory that lists nothing is opened again by its path, and an empty one not held.
pub(crate) fn list_dir(path: &Path) -> io::Result<Vec<DirEntry>> {
    with_listing(path, <[DirEntry]>::to_vec)
}

/// `f` of [`list_dir`]'s entries of `path`, without a copy of a kept listing. `f` may run
/// with the store locked: it must not use held descriptors itself, nor panic (a poisoned
/// store holds nothing from then on).
pub(crate) fn with_listing<T>(path: &Path, f: impl FnOnce(&[DirEntry]) -> T) -> io::Result<T> {
    let mut f = f;
    if let Some((fd, at, shape)) = borrow(path, 0) {
        // Listed since the kernel last announced a change: still what it lists.
        let generation = absent::generation().filter(|_| shape == Shape::Whole);
        if let Some(g) = generation {
            match with_kept(at, g, f) {
                Ok(out) => {
                    give_back(at, true);
                    return Ok(out);
                }
                Err(back) => f = back,
            }
        }
        let listed = entries(fd).ok().filter(|e| !e.is_empty());
        if let (Some(g), Some(listed)) = (generation, &listed) {
            keep_listing(at, g, listed);
        }
        give_back(at, listed.is_some());
        if let Some(listed) = listed {
            return Ok(f(&listed));
        }
    }
    match absent::known(path) {
        Some(absent::Found::Missing(errno)) => return Err(io::Error::from_raw_os_error(errno)),
        Some(absent::Found::Empty) => return Ok(f(&[])),
        Some(absent::Found::Elsewhere) | None => {}
    }
    let dir = absent::note(
        path,
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(path),
    )?;
    let listed = entries(dir.as_raw_fd())?;
    // An empty directory is not held (a removed one lists empty too, and is opened again):
    // it is remembered as empty until the kernel announces a change (`absent`).
    if listed.is_empty() {
        absent::remember(path, absent::Found::Empty);
    } else if !under_class_net(path)
        && let Some(magic) = kernel_fs(&dir)
    {
        // For a directory, the shape says whether its listing may be kept (sysfs: see
        // `absent`).
        let shape = if magic == SYSFS_MAGIC {
            Shape::Whole
        } else {
            Shape::Paged
        };
        put(path, 0, dir, shape);
    }
    Ok(f(&listed))
}

/// Rewinds `dir` and reads every entry with getdents64.
fn entries(fd: RawFd) -> io::Result<Vec<DirEntry>> {
    // struct linux_dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name (NUL-ended).
    const NAME: usize = 19;
    // SAFETY: lseek on an open descriptor.
    if unsafe { libc::lseek(fd, 0, libc::SEEK_SET) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    // u64s: the records are 8-byte aligned.
    let mut buf = [0u64; 1024];
    loop {
        // SAFETY: buf is writable for its size in bytes.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                fd,
                buf.as_mut_ptr(),
                std::mem::size_of_val(&buf),
            )
        };
        let n = match usize::try_from(n) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(_) => {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
        };
        // SAFETY: the kernel initialised the first n bytes of buf.
        let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
        let mut off = 0;
        while off + NAME <= n {
            let reclen = usize::from(u16::from_ne_bytes([bytes[off + 16], bytes[off + 17]]));
            if reclen < NAME || off + reclen > n {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "getdents64: a malformed record",
                ));
            }
            let kind = bytes[off + 18];
            let name = &bytes[off + NAME..off + reclen];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if name != b"." && name != b".." {
                out.push(DirEntry {
                    name: OsStr::from_bytes(name).to_owned(),
                    kind,
                });
            }
            off += reclen;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::read_with;

    /// `rchar` of /proc/self/io counts this process' reads, that of the file itself included:
    /// read again through the held descriptor, it has grown.
    fn rchar() -> u64 {
        read_with(Path::new("/proc/self/io"), |d| {
            Ok(d.lines()
                .find_map(|l| l.strip_prefix("rchar: "))
                .and_then(|v| v.parse().ok())
                .expect("rchar in /proc/self/io"))
        })
        .unwrap()
    }

    #[test]
    fn a_held_proc_file_reads_fresh_figures_each_time() {
        let mut last = rchar();
        for _ in 0..3 {
            let now = rchar();
            assert!(now > last, "rchar {now} after {last}: a stale read");
            last = now;
        }
    }

    /// Reads are looked for where the last one was found: in another order than the last
    /// scrape's, each path still reads its own file.
    #[test]
    fn held_files_read_in_another_order_read_their_own_contents() {
        let first_word = |p: &str| {
            read_with(Path::new(p), |d| {
                Ok(d.split_whitespace().next().unwrap_or_default().to_owned())
            })
            .unwrap()
        };
        for order in [
            ["status", "limits"],
            ["limits", "status"],
            ["status", "limits"],
        ] {
            for file in order {
                let want = if file == "status" { "Name:" } else { "Limit" };
                assert_eq!(first_word(&format!("/proc/self/{file}")), want);
            }
            sweep();
        }
    }

    /// Held files read in one read where the kernel returns them whole (meminfo, a /proc/sys
    /// file, a sysfs attribute), page by page where it does not (vmstat and zoneinfo, one of
    /// which is larger than a page: vmstat on most kernels, though it was 3.9 KB on the 6.18
    /// development VM, zoneinfo with 3 zones or more): each time, every line.
    #[test]
    fn held_files_are_read_to_their_end_whether_or_not_one_read_returns_them_whole() {
        let mut paged = false;
        for path in [
            "/proc/meminfo",
            "/proc/vmstat",
            "/proc/zoneinfo",
            "/proc/sys/kernel/ostype",
            "/sys/kernel/mm/transparent_hugepage/enabled",
        ] {
            if !Path::new(path).exists() {
                continue;
            }
            for _ in 0..3 {
                let ours =
                    read_with(Path::new(path), |d| Ok((d.lines().count(), d.len()))).unwrap();
                let std = std::fs::read_to_string(path).unwrap().lines().count();
                assert_eq!(ours.0, std, "{path}: lines read");
                // SAFETY: sysconf reads a constant.
                let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
                paged |= i64::try_from(ours.1).unwrap() > page;
            }
        }
        assert!(
            paged,
            "vmstat and zoneinfo fit a page: the multi-page case is not exercised"
        );
    }

    #[test]
    fn a_regular_file_replaced_by_rename_is_read_anew() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("value");
        std::fs::write(&path, "1\n").unwrap();
        assert_eq!(crate::collector::read_u64(&path).unwrap(), 1);
        assert!(!holds(&path), "a file on a disk is not held");
        let next = dir.path().join("value.new");
        std::fs::write(&next, "2\n").unwrap();
        std::fs::rename(&next, &path).unwrap();
        assert_eq!(crate::collector::read_u64(&path).unwrap(), 2);
    }

    #[test]
    fn a_held_directory_lists_what_is_there_now() {
        let fds = || list_dir(Path::new("/proc/self/fd")).unwrap().len();
        let before = fds();
        let opened = File::open("/proc/self/stat").unwrap();
        assert_eq!(fds(), before + 1);
        drop(opened);
        assert_eq!(fds(), before);
    }

    #[test]
    fn network_device_files_are_held_only_with_their_ifindex() {
        assert!(under_class_net(Path::new("/sys/class/net/eth0/mtu")));
        assert!(under_class_net(Path::new("/host/sys/class/net/eth0")));
        assert!(!under_class_net(Path::new("/sys/class/net")));
        assert!(!under_class_net(Path::new(
            "/sys/class/hwmon/hwmon0/temp1_input"
        )));
        assert!(!under_class_net(Path::new("/proc/net/dev")));
    }
}
