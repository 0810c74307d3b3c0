//! node_exporter's own end-to-end test, on our binary: its fixture tree (`proc/`, `sys.ttar`,
//! `udev.ttar`, `textfile/`, `usr/`), the collector flags of its `end-to-end-test.sh`, and its
//! `e2e-output.txt`. Every family in that output written by a collector we have (the registry
//! says which) must come out of ours with the same HELP, type and samples: the same label
//! sets, the same values.
//! The collector list, the flags and the skip regex are read from the registry and the script,
//! so the test covers each collector the day it is added.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use support::allowlist::Allowlist;
use support::e2e_tree::{e2e_tree, fixture_dir};
use support::{Exposition, Labels};

/// Which node_exporter collector writes a family: `node_<collector>_*` unless a longer prefix
/// here says otherwise. Taken from the names node_exporter 1.12's `collector/*_linux.go` build
/// (`BuildFQName(namespace, subsystem, name)`) where the subsystem is not the collector's name.
const OWNERS: &[(&str, &str)] = &[
    ("node_boot_time_seconds", "stat"),
    ("node_context_switches_total", "stat"),
    ("node_forks_total", "stat"),
    ("node_intr_total", "stat"),
    ("node_procs_", "stat"),
    ("node_softirqs_total", "stat"),
    ("node_softirqs_functions_total", "softirqs"),
    ("node_interrupts_total", "interrupts"),
    ("node_load", "loadavg"),
    ("node_cpu_frequency_", "cpufreq"),
    ("node_cpu_scaling_", "cpufreq"),
    ("node_memory_", "meminfo"),
    ("node_memory_numa_", "meminfo_numa"),
    ("node_disk_", "diskstats"),
    ("node_network_", "netclass"),
    ("node_network_receive_", "netdev"),
    ("node_network_transmit_", "netdev"),
    ("node_network_transmit_queue_length", "netclass"),
    ("node_nf_conntrack_", "conntrack"),
    ("node_power_supply_", "powersupplyclass"),
    ("node_cooling_device_", "thermal_zone"),
    ("node_udp_queues", "udp_queues"),
    ("node_tape_", "tapestats"),
    ("node_md_", "mdadm"),
    ("node_uname_", "uname"),
    // The fixture's two .prom files.
    ("testmetric", "textfile"),
];

/// Families the fixture tree cannot give: node_exporter 1.12's netdev reads interfaces over
/// netlink by default, so the e2e output holds the counters of the loopback interface of the
/// machine that made it (the tree has no `proc/net/dev`). Ours reads `/proc/net/dev`, which
/// the debian12-vm and node_exporter golden fixtures (`tests/golden.rs`) cover instead.
const NETLINK_ONLY: &[&str] = &[
    "node_network_receive_compressed_total",
    "node_network_receive_drop_total",
    "node_network_receive_errs_total",
    "node_network_receive_fifo_total",
    "node_network_receive_frame_total",
    "node_network_receive_multicast_total",
    "node_network_receive_nohandler_total",
    "node_network_transmit_carrier_total",
    "node_network_transmit_colls_total",
    "node_network_transmit_compressed_total",
    "node_network_transmit_drop_total",
    "node_network_transmit_errs_total",
    "node_network_transmit_fifo_total",
];
/// ... and netdev's own success, which is 0 for ours on a tree without `proc/net/dev`.
const NETLINK_COLLECTOR: &str = "netdev";

const SUCCESS: &str = "node_scrape_collector_success";

/// The collector that writes `family`, among `collectors` (node_exporter's, from the output).
fn owner<'a>(family: &str, collectors: &'a BTreeSet<String>) -> Option<&'a str> {
    let defaults = collectors
        .iter()
        .map(|c| (format!("node_{c}_"), c.as_str()));
    let listed = OWNERS
        .iter()
        .filter_map(|(p, c)| Some((p.to_string(), collectors.get(*c)?.as_str())));
    defaults
        .chain(listed)
        .filter(|(prefix, _)| family.starts_with(prefix.as_str()))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, c)| c)
}

/// The text of the here-document that starts after `opener` in the script.
fn heredoc<'a>(script: &'a str, opener: &str) -> &'a str {
    let start = script
        .find(opener)
        .unwrap_or_else(|| panic!("end-to-end-test.sh has no {opener:?}"));
    let body = &script[start + opener.len()..];
    let terminator = opener.rsplit(' ').next().unwrap();
    let end = body
        .find(&format!("\n{terminator}\n"))
        .expect("here-document end");
    body[..end].trim_start_matches('\n')
}

/// The first `name='value'` or `name="value"` assignment in the script. For the `case` on the
/// architecture that is the x86_64 branch, the one e2e-output.txt was made on.
fn shell_var(script: &str, name: &str) -> String {
    script
        .lines()
        .find_map(|l| {
            let v = l.trim().strip_prefix(name)?.strip_prefix('=')?;
            Some(v.trim_matches(|c| c == '\'' || c == '"').to_owned())
        })
        .unwrap_or_else(|| panic!("end-to-end-test.sh does not set {name}"))
}

/// The script's `collector_flags`, with its variables filled in as on x86_64.
fn script_flags(script: &str) -> Vec<String> {
    let mut text = heredoc(script, "collector_flags=$(cat << FLAGS").to_owned();
    text = text.replace("${extra_flags}", "");
    for var in ["cpu_info_collector", "cpu_info_bugs", "cpu_info_flags"] {
        text = text.replace(&format!("${{{var}}}"), &shell_var(script, var));
    }
    text.split_whitespace().map(str::to_owned).collect()
}

/// The collector a `--[no-]collector.<name>[.<option>]` flag belongs to, as the script's
/// `cut -d. -f2`.
fn flag_collector(flag: &str) -> &str {
    flag.split('.').nth(1).unwrap_or("")
}

/// Every long flag our binary knows.
fn our_flags() -> BTreeSet<String> {
    vpsmon_exporter::cli::command()
        .get_arguments()
        .filter_map(|a| a.get_long())
        .map(|l| format!("--{l}"))
        .collect()
}

fn fmt_labels(labels: &Labels) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(","))
}

/// Equal, but for the last bits of a unit conversion: node_exporter multiplies milliseconds by
/// 0.001 (9653.880000000001 s), dividing by 1000 gives the nearest double (9653.88 s).
fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

/// `# HELP <family> <text>` lines: family -> text (as written, escapes and all).
fn helps(text: &str) -> BTreeMap<&str, &str> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# HELP ")?.split_once(' '))
        .collect()
}

/// At most this many differing samples are listed per family.
const SHOWN: usize = 6;

/// The differences within one family, or None when its samples are equal.
fn compare_family(
    family: &str,
    theirs: &BTreeMap<Labels, f64>,
    ours: &BTreeMap<Labels, f64>,
) -> Option<String> {
    let mut lines = Vec::new();
    for (labels, &want) in theirs {
        match ours.get(labels) {
            None => lines.push(format!(
                "{}: missing (node_exporter: {want})",
                fmt_labels(labels)
            )),
            Some(&got) if !same(got, want) => lines.push(format!(
                "{}: ours {got}, node_exporter {want}",
                fmt_labels(labels)
            )),
            Some(_) => {}
        }
    }
    for (labels, got) in ours.iter().filter(|(l, _)| !theirs.contains_key(*l)) {
        lines.push(format!("{}: only in ours ({got})", fmt_labels(labels)));
    }
    if lines.is_empty() {
        return None;
    }
    let mut out = format!(
        "    {family}: {} differences ({} samples in node_exporter's, {} in ours)\n",
        lines.len(),
        theirs.len(),
        ours.len()
    );
    for l in lines.iter().take(SHOWN) {
        let _ = writeln!(out, "      {family}{l}");
    }
    if lines.len() > SHOWN {
        let _ = writeln!(out, "      ... and {} more", lines.len() - SHOWN);
    }
    Some(out)
}

#[tokio::test]
async fn our_collectors_match_node_exporters_e2e_output_on_its_fixture_tree() {
    let fixtures = fixture_dir();
    let script = std::fs::read_to_string(fixtures.join("end-to-end-test.sh")).unwrap();
    let expected_text = std::fs::read_to_string(fixtures.join("e2e-output.txt")).unwrap();
    let expected = Exposition::parse(&expected_text);
    // The script drops these lines from node_exporter's output before diffing; so do we.
    let skip = regex::Regex::new(&shell_var(&script, "skip_re")).expect("skip_re");

    // The collectors the e2e run had on: node_exporter reports each one's success.
    let theirs: BTreeSet<String> = expected.samples[SUCCESS]
        .keys()
        .map(|l| l["collector"].clone())
        .collect();
    let ours: BTreeSet<String> = vpsmon_exporter::collector::specs()
        .iter()
        .map(|s| s.name.to_owned())
        .filter(|n| theirs.contains(n))
        .collect();
    assert!(
        !ours.is_empty(),
        "no collector of ours is in e2e-output.txt"
    );

    // The script's flags that belong to a collector we run and that our binary knows. A flag
    // of ours we do not know is left out (as the script leaves out flags of collectors a
    // platform lacks); what it changes then shows below as a difference.
    let known = our_flags();
    let mut args: Vec<String> = [
        "--path.rootfs=collector/fixtures",
        "--path.procfs=collector/fixtures/proc",
        "--path.sysfs=collector/fixtures/sys",
        "--path.udev.data=collector/fixtures/udev/data",
        "--collector.disable-defaults",
    ]
    .map(String::from)
    .into();
    args.extend(ours.iter().map(|c| format!("--collector.{c}")));
    let mut not_passed = Vec::new();
    for flag in script_flags(&script) {
        if !ours.contains(flag_collector(&flag)) {
            continue;
        }
        let name = flag.split('=').next().unwrap();
        if known.contains(name) {
            args.push(flag);
        } else {
            not_passed.push(flag);
        }
    }

    let tree = e2e_tree();
    let logs = tempfile::tempdir().unwrap();
    let running = support::start_ours_in(logs.path(), Some(&tree), &args).await;
    let resp = reqwest::Client::new()
        .get(format!("{}/metrics", running.base))
        .header(reqwest::header::ACCEPT, "text/plain; version=0.0.4")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mine_text = resp.text().await.unwrap();
    let mine = Exposition::parse(&mine_text);
    let (want_help, got_help) = (helps(&expected_text), helps(&mine_text));

    let mut unowned = Vec::new();
    // collector -> (family, its differences), in family order.
    let mut report: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    let mut compared = 0usize;
    let mut skipped = Vec::new();
    for (family, samples) in &expected.samples {
        if skip.is_match(family) {
            continue;
        }
        if family == SUCCESS {
            continue; // per collector, below
        }
        let Some(collector) = owner(family, &theirs) else {
            // The HTTP handler's own counters are not a collector's.
            if !family.starts_with("promhttp_") {
                unowned.push(family.clone());
            }
            continue;
        };
        if !ours.contains(collector) {
            continue;
        }
        if NETLINK_ONLY.contains(&family.as_str()) {
            skipped.push(family.clone());
            continue;
        }
        compared += samples.len();
        let diff = match mine.samples.get(family) {
            None => Some(format!(
                "    {family}: missing ({} samples), e.g. {family}{} {}\n",
                samples.len(),
                fmt_labels(samples.keys().next().unwrap()),
                samples.values().next().unwrap()
            )),
            Some(got) => {
                let mut diff = String::new();
                let (want_type, got_type) = (expected.types.get(family), mine.types.get(family));
                if want_type != got_type {
                    let _ = writeln!(
                        diff,
                        "    {family}: TYPE ours {got_type:?}, node_exporter {want_type:?}"
                    );
                }
                let (want, got_h) = (
                    want_help.get(family.as_str()),
                    got_help.get(family.as_str()),
                );
                if want != got_h {
                    let _ = writeln!(
                        diff,
                        "    {family}: HELP ours {got_h:?}, node_exporter {want:?}"
                    );
                }
                diff += &compare_family(family, samples, got).unwrap_or_default();
                (!diff.is_empty()).then_some(diff)
            }
        };
        if let Some(diff) = diff {
            report
                .entry(collector)
                .or_default()
                .push((family.clone(), diff));
        }
    }
    assert!(
        unowned.is_empty(),
        "e2e-output.txt families with no known collector (add their prefix to OWNERS): {unowned:?}"
    );
    // Families ours writes for these collectors that node_exporter does not.
    for family in mine.samples.keys() {
        if expected.samples.contains_key(family) || skip.is_match(family) {
            continue;
        }
        if let Some(collector) = owner(family, &theirs).filter(|c| ours.contains(*c)) {
            report
                .entry(collector)
                .or_default()
                .push((family.clone(), format!("    {family}: only in ours\n")));
        }
    }
    // Each collector's success: 1 in node_exporter's run, and must be in ours.
    for collector in ours.iter().filter(|c| *c != NETLINK_COLLECTOR) {
        let labels: Labels = [("collector".to_owned(), collector.clone())].into();
        let want = expected.samples[SUCCESS].get(&labels).copied();
        let got = mine
            .samples
            .get(SUCCESS)
            .and_then(|s| s.get(&labels))
            .copied();
        compared += 1;
        if got != want {
            report.entry(collector).or_default().push((
                format!("{SUCCESS}{{collector={collector:?}}}"),
                format!(
                    "    {SUCCESS}{}: ours {got:?}, node_exporter {want:?}\n",
                    fmt_labels(&labels)
                ),
            ));
        }
    }

    // Differences in collectors others are finishing, each with its reason; the list can only
    // shrink.
    let allow =
        Allowlist::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e_allowlist.txt"));
    let differing: BTreeSet<String> = report.values().flatten().map(|(f, _)| f.clone()).collect();
    let verdict = allow.check(&differing);
    let listing = |keep: &dyn Fn(&str) -> bool| -> String {
        let mut out = String::new();
        for (collector, diffs) in &report {
            let text: String = diffs
                .iter()
                .filter(|(f, _)| keep(f))
                .map(|(_, d)| d.as_str())
                .collect();
            if !text.is_empty() {
                let _ = write!(out, "  collector {collector}:\n{text}");
            }
        }
        out
    };
    println!(
        "{compared} samples of {} collectors compared ({}); flags passed: {:?}",
        ours.len(),
        ours.iter().cloned().collect::<Vec<_>>().join(" "),
        &args[5..]
    );
    println!("skipped (netlink, see NETLINK_ONLY): {skipped:?}");
    if !not_passed.is_empty() {
        println!("script flags our binary does not know, not passed: {not_passed:?}");
    }
    if !differing.is_empty() {
        println!(
            "differences allowed by {}:\n{}",
            allow.path.display(),
            listing(&|f| allow.contains(f))
        );
    }
    let mut failure = String::new();
    if !verdict.unlisted.is_empty() {
        let _ = writeln!(
            failure,
            "vpsmon-exporter differs from node_exporter 1.12's e2e-output.txt on its fixture tree \
             ({} families; script flags not passed as ours lacks them: {not_passed:?}):",
            verdict.unlisted.len()
        );
        failure.push_str(&listing(&|f| verdict.unlisted.iter().any(|u| u == f)));
    }
    if !verdict.stale.is_empty() {
        let _ = writeln!(
            failure,
            "{} lists families that now match; delete their lines: {:?}",
            allow.path.display(),
            verdict.stale
        );
    }
    assert!(failure.is_empty(), "{failure}");
}
