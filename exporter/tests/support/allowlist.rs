//! A committed list of known gaps (families we do not produce yet), each with its reason. A test
//! accepts a gap only if it is listed, and fails on a listed name that is no longer a gap, so the
//! list can only shrink.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct Allowlist {
    pub path: PathBuf,
    /// name -> reason.
    pub entries: BTreeMap<String, String>,
}

/// What a test found against its allowlist.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Gaps the list does not name: the test fails on these.
    pub unlisted: Vec<String>,
    /// Listed names that are no longer gaps: delete their lines.
    pub stale: Vec<String>,
}

impl Verdict {
    pub fn is_ok(&self) -> bool {
        self.unlisted.is_empty() && self.stale.is_empty()
    }
}

impl Allowlist {
    /// Reads `<name> <reason>` lines; `#` starts a comment line. A line without a reason or a
    /// name given twice is an error naming the line.
    pub fn load(path: &Path) -> Allowlist {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let mut entries = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, reason) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let reason = reason.trim();
            assert!(
                !reason.is_empty(),
                "{}:{}: {name:?} has no reason after it",
                path.display(),
                n + 1
            );
            let old = entries.insert(name.to_owned(), reason.to_owned());
            assert!(
                old.is_none(),
                "{}:{}: {name:?} is listed twice",
                path.display(),
                n + 1
            );
        }
        Allowlist {
            path: path.to_owned(),
            entries,
        }
    }

    /// Compares the gaps a test found with the list.
    pub fn check(&self, gaps: &BTreeSet<String>) -> Verdict {
        Verdict {
            unlisted: gaps
                .iter()
                .filter(|g| !self.entries.contains_key(*g))
                .cloned()
                .collect(),
            stale: self
                .entries
                .keys()
                .filter(|e| !gaps.contains(*e))
                .cloned()
                .collect(),
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }
}

#[test]
fn an_allowlist_can_only_shrink() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("list.txt");
    std::fs::write(
        &path,
        "# comment\nnode_a not written yet\n\nnode_b needs netlink\n",
    )
    .unwrap();
    let list = Allowlist::load(&path);
    assert_eq!(list.entries["node_b"], "needs netlink");
    let gaps: BTreeSet<String> = ["node_a", "node_c"].map(String::from).into();
    let v = list.check(&gaps);
    assert_eq!(v.unlisted, ["node_c"]);
    assert_eq!(v.stale, ["node_b"]);
    assert!(!v.is_ok());
}
