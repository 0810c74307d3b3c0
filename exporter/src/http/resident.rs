//! After start-up, unmaps the pages of code and read-only data that start-up touched, so that
//! the resident set is what serving scrapes needs rather than everything start-up ran once
//! (flag parsing, regex compilation, logging set-up: most of the binary).
//!
//! Only read-only file mappings whose every page is still the file's own (no private copy —
//! `Anonymous: 0 kB` in smaps) are released: such a page is refilled from the page cache on its
//! next use, with the same content. Relocated data (RELRO) has private copies and is kept.

/// What was released, for the start-up log line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Released {
    pub mappings: usize,
    pub kib: u64,
}

/// Releases the start-up pages; an unreadable /proc/self/smaps releases nothing.
pub fn release_startup_pages() -> Released {
    match std::fs::read_to_string("/proc/self/smaps") {
        Ok(smaps) => release(&smaps),
        Err(_) => Released::default(),
    }
}

/// One mapping of smaps that may be released: its range and resident size.
#[derive(Debug, PartialEq, Eq)]
struct Candidate {
    start: usize,
    end: usize,
    rss_kib: u64,
}

fn release(smaps: &str) -> Released {
    let mut released = Released::default();
    for c in candidates(smaps) {
        // SAFETY: the range is a whole read-only mapping of a file whose pages all come from
        // the page cache (no private copies), so MADV_DONTNEED only drops page table entries
        // and every later access faults the same bytes back in.
        let rc = unsafe {
            libc::madvise(
                c.start as *mut libc::c_void,
                c.end - c.start,
                libc::MADV_DONTNEED,
            )
        };
        if rc == 0 {
            released.mappings += 1;
            released.kib += c.rss_kib;
        }
    }
    released
}

/// The read-only, file-backed mappings with no private (anonymous) pages.
fn candidates(smaps: &str) -> Vec<Candidate> {
    let mut out = Vec::new();
    let mut current: Option<(Candidate, bool)> = None; // (mapping, eligible so far)
    let finish = |m: Option<(Candidate, bool)>, out: &mut Vec<Candidate>| {
        if let Some((c, true)) = m {
            out.push(c);
        }
    };
    for line in smaps.lines() {
        if let Some(header) = parse_header(line) {
            finish(current.take(), &mut out);
            current = Some(header);
            continue;
        }
        let Some((c, eligible)) = current.as_mut() else {
            continue;
        };
        let field = |name: &str| {
            line.strip_prefix(name)
                .and_then(|v| v.trim().strip_suffix("kB"))
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        if let Some(kib) = field("Rss:") {
            c.rss_kib = kib;
        } else if let Some(kib) = field("Anonymous:") {
            *eligible &= kib == 0;
        }
    }
    finish(current.take(), &mut out);
    out
}

/// `start-end perms offset dev inode path`: a candidate if readable, not writable, and a file.
fn parse_header(line: &str) -> Option<(Candidate, bool)> {
    let mut parts = line.split_whitespace();
    let range = parts.next()?;
    let (start, end) = range.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    let perms = parts.next()?;
    if perms.len() != 4 {
        return None;
    }
    let (_offset, _dev, _inode) = (parts.next()?, parts.next()?, parts.next()?);
    let path = parts.next().unwrap_or("");
    let eligible = perms.starts_with('r') && perms.as_bytes()[1] == b'-' && path.starts_with('/');
    Some((
        Candidate {
            start,
            end,
            rss_kib: 0,
        },
        eligible,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    // From /proc/PID/smaps of the release binary (trimmed to the fields read): the read-only
    // headers and code are candidates, RELRO (read-only but with private copies), data,
    // heap and the vDSO are not.
    const SMAPS: &str = "\
560814674000-560814883000 r--p 00000000 fe:00 6365720                    /usr/local/bin/vpsmon-exporter
Size:               2108 kB
Rss:                1008 kB
Anonymous:             0 kB
VmFlags: rd mr mw me
560814883000-560814e86000 r-xp 0020e000 fe:00 6365720                    /usr/local/bin/vpsmon-exporter
Size:               6156 kB
Rss:                3460 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me
560814e86000-560814ee9000 r--p 00810000 fe:00 6365720                    /usr/local/bin/vpsmon-exporter
Size:                396 kB
Rss:                 396 kB
Anonymous:           396 kB
560814ee9000-560814eeb000 rw-p 00872000 fe:00 6365720                    /usr/local/bin/vpsmon-exporter
Rss:                   8 kB
Anonymous:             8 kB
56081563b000-56081565c000 rw-p 00000000 00:00 0                          [heap]
Rss:                 728 kB
Anonymous:           728 kB
7fa914c28000-7fa914dbd000 r-xp 00028000 fe:00 1190061                    /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                1408 kB
Anonymous:             0 kB
7ffdbd7f6000-7ffdbd7f8000 r-xp 00000000 00:00 0                          [vdso]
Rss:                   4 kB
Anonymous:             0 kB
";

    #[test]
    fn only_read_only_file_mappings_without_private_pages_are_released() {
        let rss: Vec<(usize, usize, u64)> = candidates(SMAPS)
            .into_iter()
            .map(|c| (c.start, c.end, c.rss_kib))
            .collect();
        assert_eq!(
            rss,
            [
                (0x560814674000, 0x560814883000, 1008),
                (0x560814883000, 0x560814e86000, 3460),
                (0x7fa914c28000, 0x7fa914dbd000, 1408),
            ]
        );
    }

    #[test]
    fn released_code_still_runs() {
        // This test binary's own code and libc are released, then run again.
        let released = release_startup_pages();
        assert!(released.mappings > 0, "{released:?}");
        assert_eq!(format!("{:?}", (1..4).collect::<Vec<_>>()), "[1, 2, 3]");
    }
}
