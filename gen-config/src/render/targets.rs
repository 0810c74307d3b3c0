//! Agents grouped into scrape jobs (one per distinct scheme/auth/TLS setting), and each job's
//! file_sd target file. Prometheus rereads these files on change: no restart, no reload.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::agents::{Agent, ScrapeSettings};

pub struct Job<'a> {
    pub name: String,
    pub settings: &'a ScrapeSettings,
    pub agents: Vec<&'a Agent>,
}

impl Job<'_> {
    /// The target file, relative to prometheus.yml.
    pub fn file(&self) -> String {
        format!("targets/{}.json", self.name)
    }
}

/// Jobs in a stable order: plain `agents` first, then by name. A job's name depends only on its
/// settings (not on agent order), so reordering the list never renames a job.
pub fn jobs(agents: &[Agent]) -> Vec<Job<'_>> {
    let mut by_settings: BTreeMap<&ScrapeSettings, Vec<&Agent>> = BTreeMap::new();
    for a in agents {
        by_settings.entry(&a.scrape).or_default().push(a);
    }
    let mut jobs: Vec<Job<'_>> = by_settings
        .into_iter()
        .map(|(settings, agents)| Job {
            name: job_name(settings),
            settings,
            agents,
        })
        .collect();
    jobs.sort_by(|a, b| (a.name != "agents", &a.name).cmp(&(b.name != "agents", &b.name)));
    jobs
}

fn job_name(s: &ScrapeSettings) -> String {
    if *s == ScrapeSettings::default() {
        return "agents".into();
    }
    let tls = s.tls.clone().unwrap_or_default();
    let canonical = format!(
        "scheme={}\nbearer={:?}\nca={:?}\nserver_name={:?}\ninsecure={}\ncf={:?}",
        s.scheme.as_str(),
        s.bearer_token_file,
        tls.ca_file,
        tls.server_name,
        tls.insecure_skip_verify,
        s.cf_access
            .as_ref()
            .map(|c| (&c.client_id_file, &c.client_secret_file)),
    );
    format!(
        "agents-{}-{:08x}",
        s.scheme.as_str(),
        fnv1a(canonical.as_bytes())
    )
}

/// FNV-1a: tiny, and stable across Rust releases (std's hasher is not).
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

#[derive(Serialize)]
struct TargetGroup<'a> {
    targets: [&'a str; 1],
    labels: BTreeMap<&'a str, &'a str>,
}

/// file_sd JSON: one group per agent, carrying `agent` and the agent's own labels.
pub fn render(job: &Job<'_>) -> String {
    let groups: Vec<TargetGroup<'_>> = job
        .agents
        .iter()
        .map(|a| {
            let mut labels: BTreeMap<&str, &str> = a
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            labels.insert("agent", &a.name);
            TargetGroup {
                targets: [&a.address],
                labels,
            }
        })
        .collect();
    let mut out = serde_json::to_string_pretty(&groups).expect("target groups serialize");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::{Scheme, Tls};

    fn agent(name: &str, scrape: ScrapeSettings) -> Agent {
        Agent {
            name: name.into(),
            address: format!("{name}.example.com:9100"),
            labels: BTreeMap::new(),
            scrape,
            action: None,
            line: 1,
        }
    }

    /// A job's name depends on its settings only: reordering or adding agents never renames
    /// it (a rename would change the `job` label of every series).
    #[test]
    fn job_names_are_stable_and_plain_agents_come_first() {
        let https = ScrapeSettings {
            scheme: Scheme::Https,
            bearer_token_file: Some("secrets/a.token".into()),
            tls: Some(Tls {
                ca_file: Some("ca.pem".into()),
                server_name: None,
                insecure_skip_verify: false,
            }),
            cf_access: None,
        };
        let list = vec![
            agent("b", https.clone()),
            agent("a", ScrapeSettings::default()),
        ];
        let names = |agents: &[Agent]| {
            jobs(agents)
                .iter()
                .map(|j| j.name.clone())
                .collect::<Vec<_>>()
        };
        let first = names(&list);
        assert_eq!(first[0], "agents");
        assert!(
            first[1].starts_with("agents-https-") && first[1].len() == "agents-https-".len() + 8
        );
        let mut reordered = list.clone();
        reordered.reverse();
        reordered.push(agent("c", https));
        assert_eq!(names(&reordered), first);
    }
}
