//! The Telegram bot end to end: the receiver process's `serve` (webhook server + bot in one
//! runtime) polls a fake Telegram; a real Prometheus scrapes real `vpsmon-exporter`s and a real
//! Alertmanager holds alerts and silences (testkit::promstack). Replies are checked as a user
//! reads them, numbers against Prometheus' own answer for the same query at the time the reply
//! states.

use std::time::Duration;

use chrono::{DateTime, NaiveTime, TimeDelta, Utc};
use serde_json::json;
use testkit::procs::free_port;
use testkit::promstack::{Stack, Target};
use testkit::telegram::FakeTelegram;
use vpsmon_receiver::bot::buttons;
use vpsmon_receiver::chart::COLOURS;
use vpsmon_receiver::promapi::alertmanager::AlertFilter;
use vpsmon_receiver::promapi::{AlertmanagerClient, PrometheusClient};

mod support;

const WAIT: Duration = Duration::from_secs(60);
const ADMIN: i64 = 4242;
const STRANGER: i64 = 777;
/// The alert chat (`ALERT_CHAT_ID`), where the webhook's alerts go.
const ALERT_CHAT: i64 = -1001234567890;

const CPU: &str =
    r#"100 * (1 - avg by (agent) (rate(node_cpu_seconds_total{agent!="",mode="idle"}[2m])))"#;
const MEM: &str = r#"max by (agent) (100 * (1 - node_memory_MemAvailable_bytes{agent!=""} / node_memory_MemTotal_bytes{agent!=""}))"#;
const DISK: &str = r#"max by (agent) (100 * (1 - node_filesystem_avail_bytes{agent!="",fstype!~"tmpfs|overlay"} / node_filesystem_size_bytes{agent!="",fstype!~"tmpfs|overlay"}) and node_filesystem_readonly{agent!=""} == 0)"#;
const LOAD: &str = r#"max by (agent) (node_load1{agent!=""}) / count by (agent) (node_cpu_seconds_total{agent!="",mode="idle"})"#;
const AGE: &str = r#"max by (agent) (time() - timestamp(up{agent!=""}))"#;
const CPUS: &str = r#"count by (agent) (node_cpu_seconds_total{agent!="",mode="idle"})"#;

/// The receiver (`serve`, as main.rs runs it) with the bot pointed at `tg`; stops on drop.
struct Receiver {
    /// `http://127.0.0.1:PORT`, the webhook server.
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    /// Starts the receiver in this process and returns once its webhook server answers, so a
    /// test never posts before the listener is bound.
    async fn start(tg: &FakeTelegram, prometheus: &str, alertmanager: &str) -> Receiver {
        let listen = format!("127.0.0.1:{}", free_port());
        let env = [
            ("BOT_TOKEN", tg.token().to_string()),
            ("TELEGRAM_API_URL", tg.url()),
            ("PROMETHEUS_URL", prometheus.to_string()),
            ("ALERTMANAGER_URL", alertmanager.to_string()),
            ("ALLOWED_USERS", format!("1,{ADMIN}")),
            ("RECEIVER_LISTEN", listen.clone()),
            ("ALERT_CHAT_ID", ALERT_CHAT.to_string()),
            ("RECEIVER_TIMEZONE", "UTC".to_string()),
            // These tests post webhooks as Alertmanager would without credentials.
            ("RECEIVER_WEBHOOK_NO_AUTH", "1".to_string()),
        ];
        let config = support::load_config(None, "", &env);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            vpsmon_receiver::serve(config, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        let url = format!("http://{listen}");
        let healthz = format!("{url}/healthz");
        let http = reqwest::Client::new();
        testkit::procs::eventually(WAIT, "the receiver's /healthz", || {
            let (http, healthz) = (http.clone(), healthz.clone());
            async move {
                let resp = http.get(&healthz).send().await.ok()?;
                resp.status().is_success().then_some(())
            }
        })
        .await
        .unwrap();
        Receiver {
            url,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Posts an Alertmanager webhook to `/alerts`; the HTTP status.
    async fn post_alerts(&self, body: serde_json::Value) -> u16 {
        reqwest::Client::new()
            .post(format!("{}/alerts", self.url))
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Stops the receiver and waits until the bot's poll loop ended.
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(WAIT, self.task.take().unwrap())
            .await
            .expect("the receiver stops when asked")
            .unwrap();
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

/// Sends `text` as `user` in the user's private chat; returns the bot's text reply.
async fn ask(tg: &FakeTelegram, user: i64, text: &str) -> String {
    let before = tg.messages().len();
    tg.user_message(user, user, text);
    let msgs = tg.wait_for_messages(before + 1, WAIT).await;
    let m = &msgs[before];
    assert_eq!(m.chat_id, user, "reply in the asker's chat");
    assert_eq!(m.parse_mode, None, "plain text: names cannot break markup");
    m.visible_text.clone()
}

/// Waits until the bot has fetched every update, and a little more for any reply to them.
async fn quiet(tg: &FakeTelegram) {
    testkit::procs::eventually(WAIT, "the bot to fetch every update", || async {
        (tg.pending_updates() == 0).then_some(())
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// The evaluation time a reply states ("as of 20:55:03 UTC"), on the day nearest to now.
fn as_of(reply: &str) -> DateTime<Utc> {
    let t = reply
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("as of "))
        .and_then(|l| l.strip_suffix(" UTC"))
        .unwrap_or_else(|| panic!("no \"as of HH:MM:SS UTC\" line in {reply:?}"));
    let time = NaiveTime::parse_from_str(t, "%H:%M:%S").unwrap();
    let now = Utc::now();
    [-1, 0, 1]
        .iter()
        .map(|d| {
            (now.date_naive() + TimeDelta::days(*d))
                .and_time(time)
                .and_utc()
        })
        .min_by_key(|c| (*c - now).num_milliseconds().abs())
        .unwrap()
}

/// `agent → value` of `q` at `t`, from Prometheus directly.
async fn prom_at(
    stack: &Stack,
    q: &str,
    t: DateTime<Utc>,
) -> std::collections::BTreeMap<String, f64> {
    stack
        .query(q, Some(t.timestamp() as f64))
        .await
        .unwrap()
        .into_iter()
        .collect()
}

fn pct(v: f64) -> String {
    format!("{v:.1}%")
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_answer_with_prometheus_numbers_charts_alerts_and_silences() {
    let stack = Stack::start_with(
        &[Target::up("web1"), Target::up("web2"), Target::down("web3")],
        &[("web1", &["--collector.ports"])],
    )
    .await
    .unwrap();
    // Every target scraped, and CPU rates (two scrapes) for both live agents.
    stack
        .wait_series(&[
            (r#"up{agent!=""}"#, 3),
            (CPU, 2),
            (MEM, 2),
            (DISK, 2),
            (r#"count by (agent) (vpsmon_listening_port{agent!=""})"#, 1),
        ])
        .await
        .unwrap();
    // The bot evaluates at the start of the second before the current one: let that second have
    // the rates too.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let tg = FakeTelegram::start().await;
    let receiver = Receiver::start(&tg, &stack.prometheus_url, &stack.alertmanager_url).await;

    // /help (and /start): every command with an example.
    let help = ask(&tg, ADMIN, "/start").await;
    for cmd in [
        "/agents",
        "/cpu [agent]",
        "/mem",
        "/disk",
        "/load",
        "/chart <cpu|mem|disk|load|net> [agent] [minutes] [hhmm]",
        "/alerts",
        "/silences",
        "/silence <alertname|agent> <duration> [comment]",
        "/ports <agent>",
    ] {
        assert!(help.contains(cmd), "{cmd} missing from {help}");
    }
    assert_eq!(help.matches("e.g. /").count(), 11, "{help}");

    // /agents: every agent, numbers equal to Prometheus' at the stated time.
    let reply = ask(&tg, ADMIN, "/agents").await;
    let t = as_of(&reply);
    let (cpu, mem, disk, age) = (
        prom_at(&stack, CPU, t).await,
        prom_at(&stack, MEM, t).await,
        prom_at(&stack, DISK, t).await,
        prom_at(&stack, AGE, t).await,
    );
    // Unhealthy first: the down agent, then any over a threshold (the defaults: no rules are
    // loaded; the exporters read this machine's CPU, memory and disk), worst first, then the
    // others by name.
    let usage = |a: &str| (cpu[a] / 80.0).max(mem[a] / 85.0).max(disk[a] / 90.0);
    let mut up = ["web1", "web2"];
    up.sort_by(|a, b| {
        let over = |a: &str| usage(a) > 1.0;
        over(b)
            .cmp(&over(a))
            .then(if over(a) && over(b) {
                usage(b).total_cmp(&usage(a))
            } else {
                std::cmp::Ordering::Equal
            })
            .then(a.cmp(b))
    });
    let over = up.iter().filter(|a| usage(a) > 1.0).count();
    let mut want = String::from("3 agents: 2 up, 1 down");
    if over > 0 {
        want.push_str(&format!(", {over} over a threshold"));
    }
    want.push('\n');
    want.push_str(&format!(
        "\n🔴 web3 down · last scrape {:.1}s ago · CPU no value · mem no value · disk no value",
        age["web3"]
    ));
    for a in up {
        want.push_str(&format!(
            "\n🟢 {a} up · last scrape {:.1}s ago · CPU {} · mem {} · disk {}",
            age[a],
            pct(cpu[a]),
            pct(mem[a]),
            pct(disk[a])
        ));
    }
    want.push_str(&format!("\n\nas of {} UTC", t.format("%H:%M:%S")));
    assert_eq!(reply, want);

    // /cpu by name, /mon_cpu by address, /mem and /load for every agent.
    let reply = ask(&tg, ADMIN, "/cpu web1").await;
    let t = as_of(&reply);
    let (cpu, cpus) = (
        prom_at(&stack, CPU, t).await,
        prom_at(&stack, CPUS, t).await,
    );
    assert_eq!(
        reply,
        format!(
            "web1: CPU {} of {} CPUs\n\nas of {} UTC",
            pct(cpu["web1"]),
            cpus["web1"],
            t.format("%H:%M:%S")
        )
    );
    let prom = PrometheusClient::new(&stack.prometheus_url, WAIT);
    let up = prom.query(r#"up{agent="web2"}"#, None).await.unwrap();
    let address = up[0].label("instance").unwrap().to_string();
    let reply = ask(&tg, ADMIN, &format!("/mon_cpu {address}")).await;
    assert!(reply.starts_with("web2: CPU "), "{reply}");
    let reply = ask(&tg, ADMIN, "/mem").await;
    let t = as_of(&reply);
    let mem = prom_at(&stack, MEM, t).await;
    assert_eq!(
        reply,
        format!(
            "web1: memory {}\nweb2: memory {}\nweb3: memory no value (down)\n\nas of {} UTC",
            pct(mem["web1"]),
            pct(mem["web2"]),
            t.format("%H:%M:%S")
        )
    );
    let reply = ask(&tg, ADMIN, "/load web2").await;
    let t = as_of(&reply);
    let load = prom_at(&stack, LOAD, t).await;
    assert_eq!(
        reply,
        format!(
            "web2: load {:.2} per CPU\n\nas of {} UTC",
            load["web2"],
            t.format("%H:%M:%S")
        )
    );
    let reply = ask(&tg, ADMIN, "/disk@vpsmon_bot web1").await;
    let t = as_of(&reply);
    let disk = prom_at(&stack, DISK, t).await;
    assert_eq!(
        reply,
        format!(
            "web1: disk {} (fullest filesystem)\n\nas of {} UTC",
            pct(disk["web1"]),
            t.format("%H:%M:%S")
        )
    );

    // An unknown agent: the known ones listed.
    assert_eq!(
        ask(&tg, ADMIN, "/cpu db9").await,
        "Unknown agent \"db9\". Known agents: web1, web2, web3."
    );
    assert_eq!(
        ask(&tg, ADMIN, "/chart mem db9").await,
        "Unknown agent \"db9\". Known agents: web1, web2, web3."
    );

    // /chart cpu: a PNG with one line per live agent and a legend; /chart cpu web1: one line.
    tg.user_message(ADMIN, ADMIN, "/chart cpu");
    let photos = tg.wait_for_photos(1, WAIT).await;
    let p = &photos[0];
    assert_eq!(p.chat_id, ADMIN);
    let caption = p.visible_caption.clone().unwrap();
    assert!(caption.starts_with("CPU busy — all agents, "), "{caption}");
    assert!(caption.ends_with(" UTC (5 min)"), "{caption}");
    let png = Png::decode(&p.bytes);
    // One legend entry per agent with data: web1, web2, not the down web3. (Both exporters run
    // on this machine, so their lines may lie on top of each other; the plot shows at least one.)
    assert!(png.legend(COLOURS[0]) > 20, "web1 in the legend");
    assert!(png.legend(COLOURS[1]) > 20, "web2 in the legend");
    assert_eq!(png.all(COLOURS[2]), 0, "no line for the down agent");
    assert!(
        png.plot(COLOURS[0]) + png.plot(COLOURS[1]) > 5,
        "the data drawn"
    );
    assert!(
        png.all(plotters::style::RGBColor(200, 0, 0)) > 50,
        "the 80 % threshold"
    );

    tg.user_message(ADMIN, ADMIN, "/mon_cpu_picture web1 10");
    let photos = tg.wait_for_photos(2, WAIT).await;
    let caption = photos[1].visible_caption.clone().unwrap();
    assert!(caption.starts_with("CPU busy — web1, "), "{caption}");
    assert!(caption.ends_with(" UTC (10 min)"), "{caption}");
    let png = Png::decode(&photos[1].bytes);
    assert!(png.legend(COLOURS[0]) > 20, "web1 in the legend");
    assert!(png.plot(COLOURS[0]) > 5, "web1's data drawn");
    assert_eq!(png.all(COLOURS[1]), 0, "only web1");

    // hhmm: the minutes around a time of day; one that has not come yet is refused.
    let now = Utc::now();
    let earlier = now - TimeDelta::minutes(2);
    if earlier.date_naive() == now.date_naive() {
        tg.user_message(
            ADMIN,
            ADMIN,
            &format!("/chart net web2 4 {}", earlier.format("%H%M")),
        );
        let photos = tg.wait_for_photos(3, WAIT).await;
        let caption = photos[2].visible_caption.clone().unwrap();
        let start = (earlier - TimeDelta::minutes(2)).format("%H:%M");
        assert!(
            caption.starts_with(&format!("Network — web2, {start}–")),
            "{caption}"
        );
    }
    let later = now + TimeDelta::minutes(30);
    if later.date_naive() == now.date_naive() {
        let reply = ask(
            &tg,
            ADMIN,
            &format!("/chart cpu 10 {}", later.format("%H%M")),
        )
        .await;
        assert!(
            reply.starts_with(&format!("{} is later than now (", later.format("%H%M"))),
            "{reply}"
        );
    }

    // /alerts from Alertmanager.
    assert_eq!(ask(&tg, ADMIN, "/alerts").await, "✅ No firing alerts.");
    // With the pipeline's heartbeat, which always fires and is never listed.
    stack
        .post_alerts(&json!([{
            "labels": {"alertname": "HighCPU", "agent": "web1", "severity": "warning"},
            "annotations": {"summary": "CPU busy above 80% on web1"},
            "startsAt": (Utc::now() - TimeDelta::minutes(3)).to_rfc3339(),
        }, {
            "labels": {"alertname": "Watchdog", "severity": "none"},
            "startsAt": (Utc::now() - TimeDelta::minutes(3)).to_rfc3339(),
        }]))
        .await
        .unwrap();
    let am = AlertmanagerClient::new(&stack.alertmanager_url, WAIT);
    testkit::procs::eventually(WAIT, "Alertmanager to hold the alert", || async {
        (!am.alerts(AlertFilter::FIRING).await.ok()?.is_empty()).then_some(())
    })
    .await
    .unwrap();
    let reply = ask(&tg, ADMIN, "/alerts").await;
    assert!(
        reply.starts_with("🔥 1 firing:\n\n• HighCPU on web1 (warning), for 3m"),
        "{reply}"
    );
    assert!(reply.ends_with(" — CPU busy above 80% on web1"), "{reply}");

    // /silence an agent: Alertmanager then lists it, and the alert is no longer firing.
    assert_eq!(ask(&tg, ADMIN, "/silences").await, "No active silences.");
    let reply = ask(&tg, ADMIN, "/silence web1 2h upgrading the kernel").await;
    assert!(
        reply.starts_with("🔕 Silenced agent=\"web1\" until "),
        "{reply}"
    );
    assert!(reply.contains(" UTC (2h). Id "), "{reply}");
    let silences = am.silences().await.unwrap();
    assert_eq!(silences.len(), 1, "{silences:?}");
    let s = &silences[0];
    assert_eq!(s.status.state, "active");
    assert_eq!(s.matchers.len(), 1);
    assert_eq!(
        (s.matchers[0].name.as_str(), s.matchers[0].value.as_str()),
        ("agent", "web1")
    );
    assert_eq!(s.comment, "upgrading the kernel");
    assert_eq!(s.created_by, format!("telegram @user{ADMIN} ({ADMIN})"));
    let length = s.ends_at - s.starts_at;
    assert!(
        (length - TimeDelta::hours(2)).num_seconds().abs() <= 5,
        "{length}"
    );
    assert!(reply.ends_with(&format!("Id {}.", s.id)), "{reply}");
    let reply = ask(&tg, ADMIN, "/silences").await;
    assert!(
        reply.starts_with("🔕 1 active:\n\n• agent=\"web1\" until "),
        "{reply}"
    );
    assert!(
        reply.ends_with(&format!(
            " by telegram @user{ADMIN} ({ADMIN}) — upgrading the kernel (id {})",
            s.id
        )),
        "{reply}"
    );
    // An alert name (not an agent) silences by alertname.
    let reply = ask(&tg, ADMIN, "/silence HighDisk 30m").await;
    assert!(
        reply.starts_with("🔕 Silenced alertname=\"HighDisk\" until "),
        "{reply}"
    );
    testkit::procs::eventually(WAIT, "the silenced alert to leave /alerts", || async {
        (ask(&tg, ADMIN, "/alerts").await == "✅ No firing alerts.").then_some(())
    })
    .await
    .unwrap();

    // /ports: web1's exporter runs with --collector.ports: the host's listening sockets as
    // Prometheus has them at the reply's time, the exporter's own among them.
    let reply = ask(&tg, ADMIN, "/ports web1").await;
    let t = as_of(&reply);
    let prom = PrometheusClient::new(&stack.prometheus_url, WAIT);
    let ports = prom
        .query(r#"vpsmon_listening_port{agent="web1"}"#, Some(t))
        .await
        .unwrap();
    let up = prom.query(r#"up{agent="web1"}"#, Some(t)).await.unwrap();
    let exporter_port = up[0].label("instance").unwrap().rsplit(':').next().unwrap();
    assert!(
        reply.starts_with(&format!("{} listening ports on web1:\n\n", ports.len())),
        "{reply}"
    );
    assert!(
        reply
            .lines()
            .any(|l| l == format!("tcp   127.0.0.1:{exporter_port}")),
        "the exporter's own socket in {reply}"
    );
    assert_eq!(reply.lines().count(), ports.len() + 4, "{reply}");
    // web2's exporter runs without it.
    assert_eq!(
        ask(&tg, ADMIN, "/ports web2").await,
        "Listening ports of web2 are not available: enable --collector.ports on that agent's vpsmon-exporter."
    );

    // A stranger learns nothing about the fleet, for any command or text, and is told so once:
    // the rest of the hour the bot stays silent to them.
    let before = tg.messages().len();
    assert_eq!(ask(&tg, STRANGER, "/agents").await, "Not authorized.");
    for text in ["/cpu web1", "/chart cpu", "hello"] {
        tg.user_message(STRANGER, STRANGER, text);
    }
    // An admin's question after them is answered, and is the only message since.
    assert!(
        ask(&tg, ADMIN, "/help")
            .await
            .starts_with("vpsmon bot: ask the fleet.")
    );
    quiet(&tg).await;
    assert_eq!(tg.messages().len(), before + 2);
    assert_eq!(
        tg.photos().len(),
        if earlier.date_naive() == now.date_naive() {
            3
        } else {
            2
        }
    );
    assert_eq!(tg.messages()[before].visible_text, "Not authorized.");

    receiver.stop().await;
}

/// A decoded chart: checks its size and that it has several colours; counts a colour's pixels
/// in the legend (upper left) and in the plot's right half (where the stack's few seconds of
/// data are).
struct Png {
    px: Vec<[u8; 3]>,
}

impl Png {
    fn decode(bytes: &[u8]) -> Png {
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes.to_vec()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (800, 400));
        let px: Vec<[u8; 3]> = buf[..info.buffer_size()]
            .chunks(3)
            .map(|c| [c[0], c[1], c[2]])
            .collect();
        let distinct: std::collections::HashSet<[u8; 3]> = px.iter().copied().collect();
        assert!(distinct.len() > 2, "more than one colour");
        Png { px }
    }
    fn count(&self, c: plotters::style::RGBColor, region: impl Fn(usize, usize) -> bool) -> usize {
        self.px
            .iter()
            .enumerate()
            .filter(|(i, p)| region(i % 800, i / 800) && **p == [c.0, c.1, c.2])
            .count()
    }
    fn legend(&self, c: plotters::style::RGBColor) -> usize {
        self.count(c, |x, y| x < 300 && y < 150)
    }
    fn plot(&self, c: plotters::style::RGBColor) -> usize {
        self.count(c, |x, _| x >= 400)
    }
    fn all(&self, c: plotters::style::RGBColor) -> usize {
        self.count(c, |_, _| true)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_services_and_bad_input_get_one_line_answers() {
    let tg = FakeTelegram::start().await;
    let (prom_port, am_port) = (free_port(), free_port());
    let prom = format!("http://127.0.0.1:{prom_port}");
    let am = format!("http://127.0.0.1:{am_port}");
    let receiver = Receiver::start(&tg, &prom, &am).await;

    assert_eq!(
        ask(&tg, ADMIN, "/agents").await,
        format!("⚠️ Prometheus at {prom} is unreachable: connection refused")
    );
    assert_eq!(
        ask(&tg, ADMIN, "/cpu web1").await,
        format!("⚠️ Prometheus at {prom} is unreachable: connection refused")
    );
    assert_eq!(
        ask(&tg, ADMIN, "/alerts").await,
        format!("⚠️ Alertmanager at {am} is unreachable: connection refused")
    );
    assert_eq!(
        ask(&tg, ADMIN, "/silences").await,
        format!("⚠️ Alertmanager at {am} is unreachable: connection refused")
    );

    let chart_usage = "Usage: /chart <cpu|mem|disk|load|net> [agent] [minutes] [hhmm]";
    for (text, want) in [
        ("/chart cpu web1 0", format!("minutes \"0\" must be a whole number from 1 to 1440. {chart_usage}")),
        ("/chart cpu web1 90000", format!("minutes \"90000\" must be a whole number from 1 to 1440. {chart_usage}")),
        ("/chart cpu web1 five", format!("minutes \"five\" must be a whole number from 1 to 1440. {chart_usage}")),
        ("/chart cpu 5 2460", format!("hhmm \"2460\" is not a time of day (24-hour hhmm, e.g. 0930). {chart_usage}")),
        ("/mon_cpu_picture web1 5 9:30", format!("hhmm \"9:30\" is not a time of day (24-hour hhmm, e.g. 0930). {chart_usage}")),
        ("/chart", format!("name a chart: cpu, mem, disk, load or net. {chart_usage}")),
        ("/chart fan", format!("\"fan\" is not a chart (use cpu, mem, disk, load or net). {chart_usage}")),
        ("/cpu web1 web2", "give at most one agent. Usage: /cpu [agent]".to_string()),
        ("/silence web1 soon", "\"soon\" is not a duration (e.g. 30m, 2h, 1d). Usage: /silence <alertname|agent> <duration> [comment]".to_string()),
        ("/ports", "name one agent. Usage: /ports <agent>".to_string()),
        ("/agents now", "/agents takes no arguments. Usage: /agents".to_string()),
        ("/reboot web1", "Unknown command /reboot. /help lists the commands.".to_string()),
        ("hello", "Send /help for the commands.".to_string()),
    ] {
        assert_eq!(ask(&tg, ADMIN, text).await, want, "for {text}");
    }
    // A stranger: one reply, not the usage.
    assert_eq!(
        ask(&tg, STRANGER, "/chart cpu web1 0").await,
        "Not authorized."
    );
    // Nothing else was sent: one reply per message.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(tg.messages().len(), 4 + 13 + 1);
    receiver.stop().await;
}

/// Puts a firing alert into Alertmanager as Prometheus does; returns its fingerprint.
async fn hold_alert(stack: &Stack, am: &AlertmanagerClient, labels: &serde_json::Value) -> String {
    stack
        .post_alerts(&json!([{"labels": labels, "startsAt": Utc::now().to_rfc3339()}]))
        .await
        .unwrap();
    testkit::procs::eventually(WAIT, "Alertmanager to hold the alert", || async {
        am.alerts(AlertFilter::FIRING)
            .await
            .ok()?
            .first()
            .map(|a| a.fingerprint.clone())
    })
    .await
    .unwrap()
}

/// Sends an alert message with silence buttons as the notifier does (signed with the bot
/// token's key), through teloxide.
async fn alert_message(
    tg: &FakeTelegram,
    chat: i64,
    text: &str,
    alerts: &[(&str, &serde_json::Value)],
) -> i64 {
    use teloxide::prelude::*;
    let key = buttons::ButtonKey::from_token(&vpsmon_common::Secret::new(tg.token()));
    let targets: Vec<buttons::Target> = alerts
        .iter()
        .map(|(fp, labels)| buttons::Target {
            fingerprint: fp.to_string(),
            labels: serde_json::from_value((*labels).clone()).unwrap(),
        })
        .collect();
    let bot = teloxide::Bot::new(tg.token()).set_api_url(tg.url().parse().unwrap());
    let m = bot
        .send_message(ChatId(chat), text)
        .parse_mode(teloxide::types::ParseMode::Html)
        .reply_markup(buttons::keyboard(&key, &targets).unwrap())
        .await
        .unwrap();
    i64::from(m.id.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn silence_buttons_create_silences_edit_the_message_and_know_resolved_alerts() {
    let stack = Stack::start(&[]).await.unwrap();
    let tg = FakeTelegram::start().await;
    let receiver = Receiver::start(&tg, &stack.prometheus_url, &stack.alertmanager_url).await;
    let am = AlertmanagerClient::new(&stack.alertmanager_url, WAIT);
    let labels = json!({"alertname": "HighCPU", "agent": "web1", "severity": "warning"});
    let fp = hold_alert(&stack, &am, &labels).await;
    const CHAT: i64 = -100123;
    let id = alert_message(
        &tg,
        CHAT,
        "<b>🔥 FIRING</b> HighCPU on web1",
        &[(&fp, &labels)],
    )
    .await;
    let markup = tg.messages()[0].reply_markup.clone().unwrap();
    let labels: Vec<&str> = markup["inline_keyboard"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["text"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["Silence 1h", "Silence 4h", "Silence 24h"]);
    let data = |i: usize| {
        markup["inline_keyboard"][0][i]["callback_data"]
            .as_str()
            .unwrap()
            .to_string()
    };

    // A stranger's press: "not authorized", nothing else.
    tg.press_button(STRANGER, CHAT, id, &data(0));
    let answers = tg.wait_for_callback_answers(1, WAIT).await;
    assert_eq!(answers[0].text.as_deref(), Some("Not authorized."));
    assert!(am.silences().await.unwrap().is_empty());
    assert!(tg.edits().is_empty());

    // An admin's press: a silence of exactly the alert's labels, the message says who and until.
    tg.press_button(ADMIN, CHAT, id, &data(1));
    let answers = tg.wait_for_callback_answers(2, WAIT).await;
    assert_eq!(answers[1].text.as_deref(), Some("Silenced for 4h."));
    let silences = am.silences().await.unwrap();
    assert_eq!(silences.len(), 1, "{silences:?}");
    let s = &silences[0];
    let mut matchers: Vec<(&str, &str)> = s
        .matchers
        .iter()
        .map(|m| (m.name.as_str(), m.value.as_str()))
        .collect();
    matchers.sort();
    assert_eq!(
        matchers,
        [
            ("agent", "web1"),
            ("alertname", "HighCPU"),
            ("severity", "warning")
        ]
    );
    assert!(s.matchers.iter().all(|m| m.is_equal && !m.is_regex));
    assert_eq!(s.created_by, format!("telegram @user{ADMIN} ({ADMIN})"));
    assert!(
        ((s.ends_at - s.starts_at) - TimeDelta::hours(4))
            .num_seconds()
            .abs()
            <= 5
    );
    let edits = tg.wait_for_edits(1, WAIT).await;
    assert_eq!(
        edits[0].visible_text.clone().unwrap_or_default(),
        format!(
            "🔥 FIRING HighCPU on web1\n\n🔕 Silenced by @user{ADMIN} ({ADMIN}) until {}",
            s.ends_at.format("%Y-%m-%d %H:%M UTC")
        )
    );
    assert_eq!(edits[0].reply_markup, None, "the buttons are gone");
    testkit::procs::eventually(WAIT, "the alert to be silenced", || async {
        am.alerts(AlertFilter::FIRING)
            .await
            .ok()?
            .is_empty()
            .then_some(())
    })
    .await
    .unwrap();

    // Buttons of an alert Alertmanager no longer has: they say so and go away.
    let gone = alert_message(
        &tg,
        CHAT,
        "<b>🔥 FIRING</b> HighDisk on web2",
        &[(
            "00000000deadbeef",
            &json!({"alertname": "HighDisk", "agent": "web2"}),
        )],
    )
    .await;
    let markup = tg.messages()[1].reply_markup.clone().unwrap();
    let press = markup["inline_keyboard"][0][0]["callback_data"]
        .as_str()
        .unwrap()
        .to_string();
    tg.press_button(ADMIN, CHAT, gone, &press);
    let answers = tg.wait_for_callback_answers(3, WAIT).await;
    assert_eq!(
        answers[2].text.as_deref(),
        Some("This alert has resolved: nothing to silence.")
    );
    let edits = tg.wait_for_edits(2, WAIT).await;
    assert_eq!(edits[1].method, "editMessageReplyMarkup");
    assert_eq!(edits[1].reply_markup, None);
    assert_eq!(am.silences().await.unwrap().len(), 1, "no second silence");
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alert_chart_draws_the_rules_expression_for_the_alerts_series_with_the_threshold() {
    use vpsmon_receiver::bot::alert_chart::{AlertChartError, alert_chart};
    let stack = Stack::start(&[Target::up("web1"), Target::up("web2")])
        .await
        .unwrap();
    let expr =
        r#"(1 - avg without (cpu, mode) (rate(node_cpu_seconds_total{mode="idle"}[2m]))) > 0.8"#;
    stack
        .wait_series(&[(&expr.replace(" > 0.8", ""), 2)])
        .await
        .unwrap();
    let prom = PrometheusClient::new(&stack.prometheus_url, WAIT);
    let series = prom.query(r#"up{agent="web1"}"#, None).await.unwrap();
    let mut labels = series[0].labels.clone();
    labels.remove("__name__");
    labels.insert("alertname".into(), "HighCPU".into());
    let mut url = reqwest::Url::parse(&format!("{}/graph", stack.prometheus_url)).unwrap();
    url.query_pairs_mut()
        .append_pair("g0.expr", expr)
        .append_pair("g0.tab", "1");

    let (png, caption) = alert_chart(&prom, chrono_tz::UTC, &labels, url.as_str())
        .await
        .unwrap();
    assert_eq!(
        caption,
        r#"📈 HighCPU — web1: the last 30 minutes of (1 - avg without (cpu, mode) (rate(node_cpu_seconds_total{mode="idle"}[2m]))) (threshold 80%)"#
    );
    let png = Png::decode(&png);
    assert!(png.legend(COLOURS[0]) > 20, "web1's line in the legend");
    assert!(png.plot(COLOURS[0]) > 5, "web1's data drawn");
    assert_eq!(png.all(COLOURS[1]), 0, "web2's series is not the alert's");
    assert!(
        png.all(plotters::style::RGBColor(200, 0, 0)) > 50,
        "the threshold"
    );

    // Failures name why (the caller logs and counts them; the text alert still goes out).
    let e = alert_chart(&prom, chrono_tz::UTC, &labels, "http://prom/graph")
        .await
        .unwrap_err();
    assert!(matches!(e, AlertChartError::NoExpression), "{e}");
    let e = alert_chart(
        &prom,
        chrono_tz::UTC,
        &labels,
        &format!("{}/graph?g0.expr=up%7B", stack.prometheus_url),
    )
    .await
    .unwrap_err();
    assert!(
        e.to_string().starts_with(&format!(
            "Prometheus at {} refused /api/v1/query_range (bad_data)",
            stack.prometheus_url
        )),
        "{e}"
    );

    // From the webhook: the alert's text, then its chart as a photo replying to it.
    let tg = FakeTelegram::start().await;
    tg.enforce_rate_limits(true);
    let receiver = Receiver::start(&tg, &stack.prometheus_url, &stack.alertmanager_url).await;
    let http = reqwest::Client::new();
    let post = |body: serde_json::Value| receiver.post_alerts(body);
    let mut firing = webhook("firing", &json!(labels), "fp-web1");
    firing["alerts"][0]["generatorURL"] = json!(url.as_str());
    assert_eq!(post(firing).await, 200);
    let msgs = tg.wait_for_messages(1, WAIT).await;
    assert_eq!(msgs[0].chat_id, ALERT_CHAT);
    assert!(msgs[0].visible_text.contains("HighCPU"), "{msgs:?}");
    let photos = tg.wait_for_photos(1, WAIT).await;
    assert_eq!(photos[0].chat_id, ALERT_CHAT);
    assert_eq!(photos[0].reply_to_message_id, Some(msgs[0].message_id));
    assert_eq!(photos[0].caption.as_deref(), Some(caption.as_str()));
    let png = Png::decode(&photos[0].bytes);
    assert!(png.plot(COLOURS[0]) > 5, "web1's data drawn");
    assert_eq!(png.all(COLOURS[1]), 0, "only the alert's series");

    // A chart that cannot be made (no expression in the generatorURL) or sent (Telegram's 400)
    // costs the photo, never the text; both are counted.
    let mut labels2 = labels.clone();
    labels2.insert("alertname".into(), "HighMemory".into());
    let mut no_expr = webhook("firing", &json!(labels2), "fp-mem");
    no_expr["groupKey"] = json!("{}:{alertname=\"HighMemory\"}");
    no_expr["alerts"][0]["generatorURL"] = json!(format!("{}/graph", stack.prometheus_url));
    assert_eq!(post(no_expr).await, 200);
    tg.wait_for_messages(2, WAIT).await;
    tg.push_fault_for(
        "sendPhoto",
        testkit::telegram::Fault::Error {
            code: 400,
            description: "Bad Request: IMAGE_PROCESS_FAILED".into(),
        },
    );
    let mut refused = webhook("firing", &json!(labels), "fp-web1-again");
    refused["groupKey"] = json!("{}:{alertname=\"HighCPU\",again=\"1\"}");
    refused["alerts"][0]["generatorURL"] = json!(url.as_str());
    assert_eq!(post(refused).await, 200);
    let msgs = tg.wait_for_messages(3, WAIT).await;
    assert!(msgs[1].visible_text.contains("HighMemory"), "{msgs:?}");
    let metrics = format!("{}/metrics", receiver.url);
    let counted = testkit::procs::eventually(WAIT, "both failed charts counted", || {
        let (http, metrics) = (http.clone(), metrics.clone());
        async move {
            let text = http.get(&metrics).send().await.ok()?.text().await.ok()?;
            text.contains(r#"vpsmon_receiver_alert_charts_total{result="failed"} 2"#)
                .then_some(text)
        }
    })
    .await
    .unwrap();
    assert!(
        counted.contains(r#"vpsmon_receiver_alert_charts_total{result="sent"} 1"#),
        "{counted}"
    );
    assert_eq!(tg.photos().len(), 1, "no photo for the failed charts");
    receiver.stop().await;
}

/// A v4 webhook notification with one alert, as Alertmanager posts it.
fn webhook(status: &str, labels: &serde_json::Value, fingerprint: &str) -> serde_json::Value {
    json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"HighCPU\"}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "vpsmon",
        "groupLabels": {"alertname": "HighCPU"},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": status,
            "labels": labels,
            "annotations": {"summary": "CPU busy on web1"},
            "startsAt": "2026-11-21T10:00:00Z",
            "endsAt": if status == "firing" { "0001-01-01T00:00:00Z" } else { "2026-11-21T10:05:00Z" },
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
            "fingerprint": fingerprint,
        }],
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_firing_alert_message_from_the_webhook_carries_silence_buttons_that_work() {
    let stack = Stack::start(&[]).await.unwrap();
    let tg = FakeTelegram::start().await;
    let receiver = Receiver::start(&tg, &stack.prometheus_url, &stack.alertmanager_url).await;
    let am = AlertmanagerClient::new(&stack.alertmanager_url, WAIT);
    let labels = json!({"alertname": "HighCPU", "agent": "web1", "severity": "warning"});
    let fp = hold_alert(&stack, &am, &labels).await;
    let post = |body: serde_json::Value| receiver.post_alerts(body);
    assert_eq!(post(webhook("firing", &labels, &fp)).await, 200);
    let msgs = tg.wait_for_messages(1, WAIT).await;
    assert_eq!(msgs[0].chat_id, ALERT_CHAT);
    let markup = msgs[0].reply_markup.clone().expect("silence buttons");
    let row = markup["inline_keyboard"][0].as_array().unwrap();
    let texts: Vec<&str> = row.iter().map(|b| b["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["Silence 1h", "Silence 4h", "Silence 24h"]);
    let data = row[0]["callback_data"].as_str().unwrap();
    assert_eq!(buttons::parse(data).unwrap().fingerprints(), [fp.as_str()]);

    tg.press_button(ADMIN, ALERT_CHAT, msgs[0].message_id, data);
    let answers = tg.wait_for_callback_answers(1, WAIT).await;
    assert_eq!(answers[0].text.as_deref(), Some("Silenced for 1h."));
    let silences = am.silences().await.unwrap();
    assert_eq!(silences.len(), 1);
    let edits = tg.wait_for_edits(1, WAIT).await;
    let edited = edits[0].visible_text.clone().unwrap_or_default();
    assert!(edited.starts_with(&msgs[0].visible_text), "{edited}");
    assert!(
        edited.contains(&format!("\n\n🔕 Silenced by @user{ADMIN} ({ADMIN}) until ")),
        "{edited}"
    );

    // A resolved notification carries no buttons.
    assert_eq!(post(webhook("resolved", &labels, &fp)).await, 200);
    let msgs = tg.wait_for_messages(2, WAIT).await;
    assert_eq!(msgs[1].reply_markup, None, "{:?}", msgs[1]);
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_alerts_buttons_silence_nothing_and_strangers_in_a_group_hear_nothing() {
    let stack = Stack::start(&[]).await.unwrap();
    let tg = FakeTelegram::start().await;
    let receiver = Receiver::start(&tg, &stack.prometheus_url, &stack.alertmanager_url).await;
    let am = AlertmanagerClient::new(&stack.alertmanager_url, WAIT);
    // A real alert Alertmanager holds, and a webhook that names its fingerprint under other
    // labels: what a forger who knows the fingerprint would post.
    let real = json!({"alertname": "AgentDown", "agent": "db1", "severity": "critical"});
    let fp = hold_alert(&stack, &am, &real).await;
    let forged = json!({"alertname": "HighCPU", "agent": "test-box", "severity": "warning"});
    assert_eq!(
        receiver.post_alerts(webhook("firing", &forged, &fp)).await,
        200
    );
    let msgs = tg.wait_for_messages(1, WAIT).await;
    assert!(
        msgs[0].visible_text.contains("test-box"),
        "{}",
        msgs[0].visible_text
    );
    let markup = msgs[0].reply_markup.clone().expect("silence buttons");
    let data = markup["inline_keyboard"][0][2]["callback_data"]
        .as_str()
        .unwrap()
        .to_string();

    tg.press_button(ADMIN, ALERT_CHAT, msgs[0].message_id, &data);
    let answers = tg.wait_for_callback_answers(1, WAIT).await;
    assert_eq!(
        answers[0].text.as_deref(),
        Some("That alert is not firing: nothing silenced.")
    );
    assert!(am.silences().await.unwrap().is_empty(), "nothing silenced");
    assert_eq!(
        am.alerts(AlertFilter::FIRING).await.unwrap()[0].fingerprint,
        fp,
        "the real alert still fires unsilenced"
    );

    // The same alert sent truthfully (its own group): its button silences it.
    let mut truthful = webhook("firing", &real, &fp);
    truthful["groupKey"] = json!("{}:{alertname=\"AgentDown\"}");
    assert_eq!(receiver.post_alerts(truthful).await, 200);
    let msgs = tg.wait_for_messages(2, WAIT).await;
    let data = msgs[1].reply_markup.clone().unwrap()["inline_keyboard"][0][0]["callback_data"]
        .as_str()
        .unwrap()
        .to_string();
    tg.press_button(ADMIN, ALERT_CHAT, msgs[1].message_id, &data);
    let answers = tg.wait_for_callback_answers(2, WAIT).await;
    assert_eq!(answers[1].text.as_deref(), Some("Silenced for 1h."));
    assert_eq!(am.silences().await.unwrap().len(), 1);

    // Strangers in the alert group: however much they write, the bot says nothing there, so
    // the group's 20 messages a minute stay the alerts'.
    let before = tg.messages().len();
    for text in ["/agents", "/help", "hello", "/silence db1 1d"] {
        tg.user_message(STRANGER, ALERT_CHAT, text);
        tg.user_message(STRANGER + 1, ALERT_CHAT, text);
    }
    quiet(&tg).await;
    assert_eq!(
        tg.messages().len(),
        before,
        "{:?}",
        &tg.messages()[before..]
    );
    assert_eq!(
        am.silences().await.unwrap().len(),
        1,
        "no silence from a stranger"
    );
    receiver.stop().await;
}

/// One agent is "1 agent", not "1 agents".
#[tokio::test(flavor = "multi_thread")]
async fn one_agent_is_singular_in_agents() {
    let stack = Stack::start(&[Target::up("solo")]).await.unwrap();
    stack.wait_series(&[(r#"up{agent!=""}"#, 1)]).await.unwrap();
    // The bot asks for a whole second at least SETTLE ago.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let tg = FakeTelegram::start().await;
    let receiver = Receiver::start(&tg, &stack.prometheus_url, &stack.alertmanager_url).await;
    let reply = ask(&tg, ADMIN, "/agents").await;
    // ", 1 over a threshold" when this machine's disk, memory or CPU is.
    let head = reply.lines().next().unwrap();
    assert!(
        head == "1 agent: 1 up, 0 down" || head == "1 agent: 1 up, 0 down, 1 over a threshold",
        "{reply}"
    );
    receiver.stop().await;
}

/// `/agents` of 300 agents (their last hour written by promtool into a real Prometheus): pages
/// that each fit one message, the down agents first, then those over a threshold, then the rest
/// by name; Prev/Next buttons turn the page in place; a forged or stale button is answered.
#[tokio::test(flavor = "multi_thread")]
async fn agents_of_a_large_fleet_are_paged_unhealthy_first() {
    use testkit::fleet_history::SimAgent;
    let agents: Vec<SimAgent> = (0..300)
        .map(|i| SimAgent {
            name: format!("node-{i:03}"),
            up: i % 20 != 7,
            cpu_percent: 10.0,
            memory_percent: 40.0,
            disk_percent: if i % 50 == 3 { 95.0 } else { 50.0 },
        })
        .collect();
    let stack = Stack::start_with_history(&agents, Utc::now().timestamp())
        .await
        .unwrap();
    let tg = FakeTelegram::start().await;
    let receiver = Receiver::start(&tg, &stack.prometheus_url, &stack.alertmanager_url).await;

    // The order a user should read: down, then over the disk threshold, then the rest.
    let mut want: Vec<&str> = Vec::new();
    let classes: [fn(&SimAgent) -> bool; 3] = [
        |a: &SimAgent| !a.up,
        |a: &SimAgent| a.up && a.disk_percent > 90.0,
        |a: &SimAgent| a.up && a.disk_percent <= 90.0,
    ];
    for class in classes {
        want.extend(agents.iter().filter(|a| class(a)).map(|a| a.name.as_str()));
    }
    let names = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with('🟢') || l.starts_with('🔴'))
            .map(|l| l.split(' ').nth(1).unwrap().to_string())
            .collect()
    };
    let buttons = |markup: &Option<serde_json::Value>| -> Vec<(String, String)> {
        markup.as_ref().unwrap()["inline_keyboard"][0]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["text"].as_str().unwrap().to_string(),
                    b["callback_data"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };

    let first = ask(&tg, ADMIN, "/agents").await;
    let head = first.lines().next().unwrap();
    let pages: usize = head
        .strip_prefix("300 agents: 285 up, 15 down, 6 over a threshold · page 1/")
        .and_then(|r| r.strip_suffix(", unhealthy first"))
        .unwrap_or_else(|| panic!("{head}"))
        .parse()
        .unwrap();
    assert!(pages >= 3, "{first}");
    let msg = tg.messages().last().unwrap().clone();
    assert_eq!(
        buttons(&msg.reply_markup),
        [("Next »".into(), "ag:2".into())]
    );
    assert!(
        first.lines().last().unwrap().starts_with("as of "),
        "{first}"
    );

    // Next, page by page: every agent once, in the order above, each page one message.
    let mut seen = names(&first);
    // Telegram's limit, in UTF-16 code units as it counts.
    assert!(first.encode_utf16().count() <= 4096);
    for page in 2..=pages {
        tg.press_button(ADMIN, msg.chat_id, msg.message_id, &format!("ag:{page}"));
        let edits = tg.wait_for_edits(page - 1, WAIT).await;
        let edit = edits.last().unwrap();
        let text = edit.visible_text.clone().unwrap();
        assert!(text.encode_utf16().count() <= 4096);
        assert!(
            text.starts_with(&format!(
                "300 agents: 285 up, 15 down, 6 over a threshold · page {page}/{pages}, \
                 unhealthy first\n\n"
            )),
            "{text}"
        );
        let mut want_buttons = vec![("« Prev".to_string(), format!("ag:{}", page - 1))];
        if page < pages {
            want_buttons.push(("Next »".into(), format!("ag:{}", page + 1)));
        }
        assert_eq!(buttons(&edit.reply_markup), want_buttons);
        let answers = tg.wait_for_callback_answers(page - 1, WAIT).await;
        let answer = format!("Page {page}/{pages}.");
        assert_eq!(
            answers.last().unwrap().text.as_deref(),
            Some(answer.as_str())
        );
        seen.extend(names(&text));
    }
    assert_eq!(seen, want);

    // A page past the end (the fleet shrank since): the last page, and why.
    let n = tg.callback_answers().len();
    tg.press_button(ADMIN, msg.chat_id, msg.message_id, "ag:999");
    let answers = tg.wait_for_callback_answers(n + 1, WAIT).await;
    let answer = format!("The fleet has {pages} pages now: page {pages}.");
    assert_eq!(answers[n].text.as_deref(), Some(answer.as_str()));
    // Forged data and a stranger: answered, the message left alone.
    let edits = tg.edits().len();
    for (user, data, reply) in [
        (ADMIN, "ag:0", "This button is not one of this receiver's."),
        (
            ADMIN,
            "ag:2;rm",
            "This button is not one of this receiver's.",
        ),
        (STRANGER, "ag:2", "Not authorized."),
    ] {
        let n = tg.callback_answers().len();
        tg.press_button(user, msg.chat_id, msg.message_id, data);
        let answers = tg.wait_for_callback_answers(n + 1, WAIT).await;
        assert_eq!(answers[n].text.as_deref(), Some(reply), "{data}");
    }
    assert_eq!(tg.edits().len(), edits, "no edit for them");
    receiver.stop().await;
}
