//! prometheus.yml (or one prometheus-shard-N.yml per shard). Paths in it are relative to the
//! file itself, so the same files work from /etc/prometheus in a container and from a checkout.

use std::fmt::Write;

use super::targets::Job;
use super::{header, q};
use crate::settings::Settings;

/// `shard`: Some(i) when writing shard i of `s.shards`.
pub fn render(s: &Settings, jobs: &[Job<'_>], shard: Option<u32>) -> String {
    let mut out = header(&s.source_name);
    out.push_str("global:\n");
    let _ = writeln!(out, "  scrape_interval: {}", s.intervals.scrape_interval);
    let _ = writeln!(out, "  scrape_timeout: {}", s.scrape_timeout);
    let _ = writeln!(
        out,
        "  evaluation_interval: {}",
        s.intervals.evaluation_interval
    );
    if let Some(i) = shard {
        out.push_str("  # Tells the shards' series apart in a central store.\n");
        let _ = writeln!(out, "  external_labels:\n    shard: {}", q(&i.to_string()));
    }
    out.push_str("rule_files:\n  - alert.rules.yml\n");
    for f in &s.user_rule_files {
        let _ = writeln!(out, "  - {}", q(f));
    }
    out.push_str("alerting:\n  alertmanagers:\n    - static_configs:\n        - targets:\n");
    for a in &s.alertmanager_addresses {
        let _ = writeln!(out, "            - {}", q(a));
    }
    out.push_str("scrape_configs:\n");
    let own = &s.prometheus_addresses[shard.unwrap_or(0) as usize];
    static_job(&mut out, "prometheus", std::slice::from_ref(own));
    // Scraped by one Prometheus only, so a sharded setup does not store them N times.
    if shard.unwrap_or(0) == 0 {
        static_job(&mut out, "alertmanager", &s.alertmanager_addresses);
        static_job(
            &mut out,
            "vpsmon-receiver",
            std::slice::from_ref(&s.receiver_metrics_address),
        );
    }
    for job in jobs {
        agent_job(&mut out, s, job, shard);
    }
    if !s.remote_write.is_empty() {
        out.push_str("remote_write:\n");
        for url in &s.remote_write {
            let _ = writeln!(out, "  - url: {}", q(url));
        }
    }
    out
}

fn static_job(out: &mut String, name: &str, targets: &[String]) {
    let _ = writeln!(out, "  - job_name: {name}");
    out.push_str("    static_configs:\n      - targets:\n");
    for t in targets {
        let _ = writeln!(out, "          - {}", q(t));
    }
}

fn agent_job(out: &mut String, s: &Settings, job: &Job<'_>, shard: Option<u32>) {
    let set = job.settings;
    let _ = writeln!(out, "  - job_name: {}", job.name);
    let _ = writeln!(out, "    scheme: {}", set.scheme.as_str());
    if let Some(file) = &set.bearer_token_file {
        out.push_str("    authorization:\n      type: Bearer\n");
        let _ = writeln!(out, "      credentials_file: {}", q(file));
    }
    if let Some(tls) = &set.tls {
        out.push_str("    tls_config:\n");
        if let Some(ca) = &tls.ca_file {
            let _ = writeln!(out, "      ca_file: {}", q(ca));
        }
        if let Some(name) = &tls.server_name {
            let _ = writeln!(out, "      server_name: {}", q(name));
        }
        let _ = writeln!(
            out,
            "      insecure_skip_verify: {}",
            tls.insecure_skip_verify
        );
    }
    if let Some(cf) = &set.cf_access {
        // Cloudflare Access service token; files are read at every scrape, so rotation is live.
        out.push_str("    http_headers:\n");
        let _ = writeln!(
            out,
            "      CF-Access-Client-Id:\n        files:\n          - {}",
            q(&cf.client_id_file)
        );
        let _ = writeln!(
            out,
            "      CF-Access-Client-Secret:\n        files:\n          - {}",
            q(&cf.client_secret_file)
        );
    }
    out.push_str("    file_sd_configs:\n");
    let _ = writeln!(out, "      - files:\n          - {}", q(&job.file()));
    let _ = writeln!(
        out,
        "        refresh_interval: {}",
        s.intervals.file_sd_refresh
    );
    if let Some(i) = shard {
        out.push_str("    relabel_configs:\n");
        out.push_str("      # Keep only this shard's share of the targets.\n");
        out.push_str("      - source_labels: [__address__]\n");
        let _ = writeln!(out, "        modulus: {}", s.shards);
        out.push_str("        target_label: __tmp_hash\n        action: hashmod\n");
        out.push_str("      - source_labels: [__tmp_hash]\n");
        let _ = writeln!(out, "        regex: {}", q(&i.to_string()));
        out.push_str("        action: keep\n");
    }
}
