//! An alert travels the whole chain: /proc → vpsmon-exporter → Prometheus (rules from
//! vpsmon-gen-config, fast profile) → Alertmanager → vpsmon-receiver → the fake Telegram.
//! Each scenario prints the time from the fault to the message as a figure; none is asserted,
//! except that the default profile's messages come within what its settings allow.

use std::time::{Duration, Instant};

use testkit::telegram::Fault;
use vpsmon_e2e::procfs::CpuFixture;
use vpsmon_e2e::{AgentSpec, Fleet, Options};

/// Generous: the fast profile needs ~10 s, a loaded CI machine may need several times that.
const WAIT: Duration = Duration::from_secs(90);

async fn fleet(agents: Vec<AgentSpec>) -> Fleet {
    Fleet::start(Options {
        agents,
        shards: 1,
        remote_write: None,
        receiver: true,
    })
    .await
    .expect("start the fleet")
}

fn figure(scenario: &str, what: &str, d: Duration) {
    println!(
        "FIGURE {scenario}: {what} {:.1} s after the fault",
        d.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_exporter_raises_agent_down_naming_it_then_resolves() {
    let mut f = fleet(vec![AgentSpec::real("web-1"), AgentSpec::real("db-1")]).await;
    let db = f.agent("db-1");
    let fault = f.kill_agent(db);
    let (took, text) = f
        .wait_alert("FIRING", "AgentDown", "db-1", fault, WAIT)
        .await
        .unwrap();
    figure("1 agent down", "AgentDown message", took);
    assert!(text.contains("Agent: db-1"), "{text}");
    assert!(
        f.alert_messages("FIRING", "AgentDown", "web-1").is_empty(),
        "the live agent was reported down"
    );

    f.start_agent(db).await.unwrap();
    let back = Instant::now();
    let (took, text) = f
        .wait_alert("RESOLVED", "AgentDown", "db-1", back, WAIT)
        .await
        .unwrap();
    figure("1 agent down", "RESOLVED message (after restart)", took);
    assert!(text.contains("Agent: db-1"), "{text}");
}

/// What a user gets without `--profile`: 15 s scrape and evaluation, AgentDown `for: 1m`, 30 s
/// group_wait, 5 m group_interval. Takes about 2 min to fire and 5 more to resolve; it runs
/// beside the other tests. The bounds are the profile's own worst case plus a minute of slack
/// for a loaded machine, so a regression in the chain (not a slow machine) fails it.
#[tokio::test(flavor = "multi_thread")]
async fn default_profile_agent_down_and_resolved_arrive_within_the_profiles_bounds() {
    use vpsmon_gen_config::settings::Profile;
    let d = Profile::Default.defaults();
    let secs = |p: vpsmon_gen_config::duration::PromDuration| Duration::from_millis(p.millis());
    let (scrape, eval) = (
        secs(d.intervals.scrape_interval),
        secs(d.intervals.evaluation_interval),
    );
    let slack = Duration::from_secs(60);
    // A missed scrape, the evaluation that sees it, `for`, the evaluation that fires, group_wait.
    let fire_bound =
        scrape + eval + secs(d.rules.agent_down_for) + eval + secs(d.intervals.group_wait) + slack;
    // Seen up again, evaluated resolved, then the group's next flush (group_interval after the
    // firing message at the latest).
    let resolve_bound = scrape + 2 * eval + secs(d.intervals.group_interval) + slack;

    let mut f = Fleet::start_with_profile(
        Options {
            agents: vec![AgentSpec::real("web-1"), AgentSpec::real("db-1")],
            shards: 1,
            remote_write: None,
            receiver: true,
        },
        "default",
    )
    .await
    .expect("start the fleet");
    // Let Prometheus scrape db-1 up once (15 s interval), so the alert comes from the kill.
    let client = reqwest::Client::new();
    let up = format!(
        "http://127.0.0.1:{}/api/v1/query?query=up%7Bagent%3D%22db-1%22%7D%3D%3D1",
        f.prometheus[0].0
    );
    testkit::procs::eventually(Duration::from_secs(60), "db-1 scraped up", || async {
        let v: serde_json::Value = client.get(&up).send().await.ok()?.json().await.ok()?;
        (!v["data"]["result"].as_array()?.is_empty()).then_some(())
    })
    .await
    .unwrap();
    let db = f.agent("db-1");
    let fault = f.kill_agent(db);
    let (took, text) = f
        .wait_alert("FIRING", "AgentDown", "db-1", fault, fire_bound)
        .await
        .unwrap();
    figure("5 default profile, 1 agent down", "AgentDown message", took);
    assert!(text.contains("Agent: db-1"), "{text}");

    f.start_agent(db).await.unwrap();
    let back = Instant::now();
    let (took, _) = f
        .wait_alert("RESOLVED", "AgentDown", "db-1", back, resolve_bound)
        .await
        .unwrap();
    figure(
        "5 default profile, 1 agent down",
        "RESOLVED message (after restart)",
        took,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn busy_cpu_on_a_fixture_procfs_raises_high_cpu_then_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let cpu = CpuFixture::start(dir.path(), 5).unwrap();
    let mut f = fleet(vec![
        AgentSpec::real("web-1"),
        AgentSpec {
            name: "busy-1".into(),
            procfs: Some(cpu.procfs().to_owned()),
            ..AgentSpec::real("busy-1")
        },
    ])
    .await;
    // Let Prometheus see a calm baseline first, so the alert comes from the change.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(f.alert_messages("FIRING", "HighCPU", "busy-1").is_empty());
    cpu.set_busy(95);
    let fault = Instant::now();
    let (took, text) = f
        .wait_alert("FIRING", "HighCPU", "busy-1", fault, WAIT)
        .await
        .unwrap();
    figure("2 high cpu", "HighCPU message", took);
    assert!(text.contains("High CPU on busy-1"), "{text}");

    cpu.set_busy(5);
    let calm = Instant::now();
    let (took, _) = f
        .wait_alert("RESOLVED", "HighCPU", "busy-1", calm, WAIT)
        .await
        .unwrap();
    figure(
        "2 high cpu",
        "RESOLVED message (after the load stopped)",
        took,
    );
    // (No assertion about web-1: it reads this machine's real /proc, and a loaded CI machine may
    // really be busy.)
    let _ = f.kill_agent(0);
}

/// sendMessage calls the fake Telegram answered 503.
fn refused_sends(f: &Fleet) -> usize {
    f.telegram
        .requests_for("sendMessage")
        .iter()
        .filter(|r| r.status == 503)
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn telegram_outage_delays_the_message_but_it_arrives_exactly_once() {
    let mut f = fleet(vec![AgentSpec::real("web-1"), AgentSpec::real("db-1")]).await;
    // Telegram answers 503 from before the fault until 20 s after the first refused send, however
    // long the alert takes to fire on a loaded machine.
    let outage = Duration::from_secs(20);
    f.telegram
        .fail_until(Duration::from_secs(3600), Fault::ServerError(503));
    let fault = f.kill_agent(f.agent("db-1"));
    testkit::procs::eventually(WAIT, "a sendMessage answered 503", || async {
        (refused_sends(&f) > 0).then_some(())
    })
    .await
    .unwrap();
    tokio::time::sleep(outage).await;
    f.telegram.clear_faults();
    let cleared = Instant::now();
    assert!(
        f.alert_messages("FIRING", "AgentDown", "db-1").is_empty(),
        "a message got through the outage"
    );
    let (took, _) = f
        .wait_alert("FIRING", "AgentDown", "db-1", fault, WAIT)
        .await
        .unwrap();
    figure("3 telegram 503 outage", "AgentDown message", took);
    println!(
        "FIGURE 3 telegram 503 outage: {} sendMessage calls answered 503; delivered {:.1} s after Telegram recovered",
        refused_sends(&f),
        took.saturating_sub(cleared.duration_since(fault))
            .as_secs_f64()
    );
    // Alertmanager and the receiver both retried: wait past another retry round, then count.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let got = f.alert_messages("FIRING", "AgentDown", "db-1");
    assert_eq!(
        got.len(),
        1,
        "expected exactly one AgentDown message, got:\n{:#?}",
        got.iter().map(|m| &m.1).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn receiver_restart_while_an_alert_fires_still_delivers_it() {
    let mut f = fleet(vec![AgentSpec::real("web-1"), AgentSpec::real("db-1")]).await;
    f.stop_receiver();
    let fault = f.kill_agent(f.agent("db-1"));
    // The alert fires (~5 s `for`) and Alertmanager tries to post it while the receiver is down.
    let am = format!(
        "http://127.0.0.1:{}/api/v2/alerts?filter=alertname%3D%22AgentDown%22",
        f.alertmanager_port
    );
    testkit::procs::eventually(WAIT, "Alertmanager to hold the AgentDown alert", || async {
        let body: serde_json::Value = reqwest::get(&am).await.ok()?.json().await.ok()?;
        body.as_array()
            .is_some_and(|a| a.iter().any(|x| x["labels"]["agent"] == "db-1"))
            .then_some(())
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(f.alert_messages("FIRING", "AgentDown", "db-1").is_empty());
    f.start_receiver().await.unwrap();
    let (took, _) = f
        .wait_alert("FIRING", "AgentDown", "db-1", fault, WAIT)
        .await
        .unwrap();
    figure("4 receiver restarted", "AgentDown message", took);
}
