//! Live, on this machine: Debian's node_exporter with its defaults next to ours with our
//! defaults, as a user who swaps one for the other would run them.
//! - Every metric family node_exporter exposes here must come from ours, with the same label
//!   names.
//! - Every metric name Grafana dashboard 1860 and awesome-prometheus-alerts' host rules query
//!   (`fixtures/dashboard-names.txt`) that node_exporter supplies here, ours must supply.
//!
//! Families we do not produce yet are listed in `live_allowlist.txt`, each with its reason; a
//! listed family that ours now produces fails the test too, so the list can only shrink.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use support::allowlist::Allowlist;
use support::{Exposition, Running, start_node_exporter, start_ours};

/// What node_exporter says about its own process rather than the host: the Go runtime, the
/// process, its HTTP handler and its build. Ours has its own equivalents where they make sense.
fn process_specific(family: &str) -> bool {
    family.starts_with("go_")
        || family.starts_with("process_")
        || family.starts_with("promhttp_")
        || family == "node_exporter_build_info"
}

fn allowlist() -> Allowlist {
    Allowlist::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/live_allowlist.txt"))
}

/// Both exporters with their defaults, and one scrape of each (the text format, so both are
/// read alike).
struct Both {
    theirs: Exposition,
    ours: Exposition,
    _running: (Running, Running, tempfile::TempDir),
}

async fn scrape_text(base: &str) -> String {
    let resp = reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .header(reqwest::header::ACCEPT, "text/plain; version=0.0.4")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{base}/metrics");
    resp.text().await.unwrap()
}

async fn both_with_defaults() -> Both {
    let dir = tempfile::tempdir().unwrap();
    let node = start_node_exporter(dir.path(), &[]).await;
    let ours = start_ours(dir.path(), &[]).await;
    Both {
        theirs: Exposition::parse(&scrape_text(&node.base).await),
        ours: Exposition::parse(&scrape_text(&ours.base).await),
        _running: (node, ours, dir),
    }
}

/// Labels node_exporter 1.12 has (its e2e-output.txt shows them) that Debian's 1.5 lacks.
const LABELS_SINCE_1_5: [(&str, &str); 2] = [
    ("node_disk_info", "rotational"),
    ("node_network_info", "adminstate"),
];

/// The label names a family's series use.
fn label_names(e: &Exposition, family: &str) -> BTreeSet<String> {
    e.samples
        .get(family)
        .into_iter()
        .flat_map(|s| s.keys().flat_map(|l| l.keys().cloned()))
        .collect()
}

#[tokio::test]
async fn every_family_node_exporter_exposes_here_comes_from_ours_with_the_same_label_names() {
    let both = both_with_defaults().await;
    let mut gaps: BTreeMap<String, String> = BTreeMap::new();
    for family in both.theirs.samples.keys() {
        if process_specific(family) {
            continue;
        }
        if !both.ours.samples.contains_key(family) {
            gaps.insert(family.clone(), "missing".to_owned());
            continue;
        }
        let (theirs, mut ours) = (
            label_names(&both.theirs, family),
            label_names(&both.ours, family),
        );
        // Labels node_exporter gained after Debian's 1.5 (ours follows 1.12).
        for (f, label) in LABELS_SINCE_1_5 {
            if f == family {
                ours.remove(label);
            }
        }
        if theirs != ours {
            gaps.insert(
                family.clone(),
                format!("label names differ: node_exporter {theirs:?}, ours {ours:?}"),
            );
        }
    }
    let allow = allowlist();
    let mut verdict = allow.check(&gaps.keys().cloned().collect());
    // A listed family node_exporter does not expose on this machine (no conntrack module, no
    // ARP entry) is no gap here, but not stale either: it is stale once ours exposes it.
    verdict
        .stale
        .retain(|family| both.ours.samples.contains_key(family));
    println!(
        "node_exporter exposes {} host families here; {} of them not (yet) like ours, all in {}",
        both.theirs
            .samples
            .keys()
            .filter(|f| !process_specific(f))
            .count(),
        gaps.len() - verdict.unlisted.len(),
        allow.path.display()
    );
    let mut failure = String::new();
    if !verdict.unlisted.is_empty() {
        let _ = writeln!(
            failure,
            "{} families node_exporter exposes on this machine that ours does not, or with \
             other label names:",
            verdict.unlisted.len()
        );
        for family in &verdict.unlisted {
            let _ = writeln!(failure, "  {family}: {}", gaps[family]);
        }
    }
    if !verdict.stale.is_empty() {
        let _ = writeln!(
            failure,
            "{} lists families ours now exposes like node_exporter; delete their lines: {:?}",
            allow.path.display(),
            verdict.stale
        );
    }
    assert!(failure.is_empty(), "{failure}");
}

/// `fixtures/dashboard-names.txt`: metric name -> where it is queried (`dashboard: <panel>`,
/// `rule: <alert>`).
fn dashboard_names() -> (PathBuf, BTreeMap<String, Vec<(String, String)>>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dashboard-names.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut names: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let mut fields = line.split('\t');
        let (Some(name), Some(kind @ ("dashboard" | "rule")), Some(place), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            panic!(
                "{}:{}: not <name>\\t<dashboard|rule>\\t<where>: {line:?}",
                path.display(),
                n + 1
            );
        };
        names
            .entry(name.to_owned())
            .or_default()
            .push((kind.to_owned(), place.to_owned()));
    }
    (path, names)
}

/// "X/N names, rules with all metrics Y/M" for one exporter's scrape.
fn coverage(names: &BTreeMap<String, Vec<(String, String)>>, e: &Exposition) -> String {
    let queried_by = |kind: &str| -> Vec<&String> {
        names
            .iter()
            .filter(|(_, w)| w.iter().any(|(k, _)| k == kind))
            .map(|(n, _)| n)
            .collect()
    };
    let dashboard = queried_by("dashboard");
    let supplied = dashboard
        .iter()
        .filter(|n| e.samples.contains_key(n.as_str()))
        .count();
    let mut rules: BTreeMap<&str, bool> = BTreeMap::new();
    for (name, places) in names {
        for (_, alert) in places.iter().filter(|(k, _)| k == "rule") {
            *rules.entry(alert).or_insert(true) &= e.samples.contains_key(name);
        }
    }
    let complete = rules.values().filter(|ok| **ok).count();
    format!(
        "{supplied}/{} dashboard names, rules with all metrics {complete}/{}",
        dashboard.len(),
        rules.len()
    )
}

#[tokio::test]
async fn every_dashboard_and_rule_name_node_exporter_supplies_here_ours_supplies_too() {
    let (path, names) = dashboard_names();
    let both = both_with_defaults().await;
    println!("node_exporter: {}", coverage(&names, &both.theirs));
    println!("vpsmon:        {}", coverage(&names, &both.ours));
    // The same allowlist as the family test: a name is a family here.
    let allow = allowlist();
    let mut failure = String::new();
    for (name, places) in &names {
        if both.theirs.samples.contains_key(name)
            && !both.ours.samples.contains_key(name)
            && !allow.contains(name)
        {
            let places: Vec<String> = places.iter().map(|(k, w)| format!("{k}: {w}")).collect();
            let _ = writeln!(failure, "  {name} ({})", places.join("; "));
        }
    }
    assert!(
        failure.is_empty(),
        "names from {} that node_exporter supplies on this machine and ours does not:\n{failure}",
        path.display()
    );
}
