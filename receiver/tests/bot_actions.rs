//! Actions from the chat (issue 19) end to end: the receiver's `serve` polls a fake Telegram and
//! signs its requests to REAL `vpsmon-exporter`s started with actions configured (each with its
//! own key, audit log and marker file). What a user sees is checked: the preview, who may press
//! Confirm, the expiry, the refusals, the per-agent rows of `/run all` with one agent down, and
//! output full of HTML and invalid UTF-8 reaching Telegram escaped.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use testkit::procs::{Proc, free_port, wait_http_ok};
use testkit::promstack::exporter_bin;
use testkit::telegram::{Edit, FakeTelegram, SentMessage};
use vpsmon_receiver::bot::actions::{EXPIRED, NOT_ACTION_USER};

mod support;

const WAIT: Duration = Duration::from_secs(60);
/// May run actions (ACTION_USERS).
const ADMIN: i64 = 4242;
/// May use the bot (ALLOWED_USERS), not run actions.
const VIEWER: i64 = 5151;

/// One agent: a real exporter, or (`proc: None`) a port where nothing listens.
struct Agent {
    name: String,
    dir: PathBuf,
    _proc: Option<Proc>,
}

impl Agent {
    fn marker(&self) -> PathBuf {
        self.dir.join("marker")
    }
    fn audit(&self) -> String {
        std::fs::read_to_string(self.dir.join("audit.log")).unwrap_or_default()
    }
}

/// The fleet, the fake Telegram and the receiver; stops on drop.
struct Setup {
    tg: FakeTelegram,
    agents: Vec<Agent>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for Setup {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.abort();
    }
}

fn write_secret(path: &Path, value: &str) {
    std::fs::write(path, format!("{value}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// The user the exporters run their actions as: this test's own (root only when it is root).
fn me() -> String {
    let out = std::process::Command::new("/usr/bin/id")
        .arg("-un")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Starts a real exporter with the test actions, or leaves the port empty when `up` is false.
async fn agent(root: &Path, name: &str, up: bool) -> (Agent, u16) {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let key: String = format!("{name}-key-").repeat(8);
    write_secret(&dir.join("action.key"), &key);
    let port = free_port();
    let marker = dir.join("marker");
    let config = format!(
        r#"actions:
  mark:
    description: touch the marker file
    argv: [/usr/bin/touch, "{marker}"]
    user: {user}
    all_agents: true
  html:
    argv: [/usr/bin/printf, '<b>bold</b> & <script>x</script> a\377b\nlast line\n']
    user: {user}
  stop_port:
    argv: [/bin/sh, -c, 'echo "stopping port $0"', "{{port}}"]
    params:
      port: {{ type: integer, regex: '8080|8081' }}
    user: {user}
"#,
        marker = marker.display(),
        user = me(),
    );
    std::fs::write(dir.join("actions.yml"), config).unwrap();
    let proc = if up {
        let mut cmd = std::process::Command::new(exporter_bin());
        cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(["--collector.disable-defaults", "--collector.loadavg"])
            .arg(format!(
                "--actions.config={}",
                dir.join("actions.yml").display()
            ))
            .arg(format!(
                "--actions.key-file={}",
                dir.join("action.key").display()
            ))
            .arg(format!(
                "--actions.audit-log={}",
                dir.join("audit.log").display()
            ));
        let mut p = Proc::spawn(name, cmd, &dir.join("exporter.log")).unwrap();
        wait_http_ok(&mut p, &format!("http://127.0.0.1:{port}/ping"), WAIT)
            .await
            .unwrap();
        Some(p)
    } else {
        None
    };
    let agent = Agent {
        name: name.to_owned(),
        dir,
        _proc: proc,
    };
    (agent, port)
}

/// Agents `web1`, `web2` (label env=prod) and, when `with_down`, `web3` which is down.
async fn setup(with_down: bool) -> Setup {
    let root = tempfile::tempdir().unwrap();
    let mut names = vec![("web1", true), ("web2", true)];
    if with_down {
        names.push(("web3", false));
    }
    let mut agents = Vec::new();
    let mut file = String::from("agents:\n");
    for (name, up) in names {
        let (a, port) = agent(root.path(), name, up).await;
        file.push_str(&format!(
            "  - name: {name}\n    url: http://127.0.0.1:{port}\n    key_file: {name}/action.key\n"
        ));
        if name == "web2" {
            file.push_str("    labels: { env: prod }\n");
        }
        agents.push(a);
    }
    let actions_file = root.path().join("action-agents.yml");
    std::fs::write(&actions_file, file).unwrap();
    let tg = FakeTelegram::start().await;
    let env = [
        ("BOT_TOKEN", tg.token().to_string()),
        ("TELEGRAM_API_URL", tg.url()),
        ("PROMETHEUS_URL", "http://127.0.0.1:1".to_string()),
        ("ALERTMANAGER_URL", "http://127.0.0.1:1".to_string()),
        ("ALLOWED_USERS", format!("{ADMIN},{VIEWER}")),
        ("ACTION_USERS", ADMIN.to_string()),
        ("RECEIVER_ACTIONS_FILE", actions_file.display().to_string()),
        ("RECEIVER_LISTEN", format!("127.0.0.1:{}", free_port())),
        ("RECEIVER_TIMEZONE", "UTC".to_string()),
        ("RECEIVER_WEBHOOK_NO_AUTH", "1".to_string()),
    ];
    let config = support::load_config(None, "", &env);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = vpsmon_receiver::serve(config, async {
            let _ = stopped.await;
        })
        .await;
    });
    Setup {
        tg,
        agents,
        stop: Some(stop),
        task,
        _dir: root,
    }
}

impl Setup {
    /// Sends `text` as `user` in their private chat; the bot's reply.
    async fn ask(&self, user: i64, text: &str) -> SentMessage {
        let before = self.tg.messages().len();
        self.tg.user_message(user, user, text);
        let msgs = self.tg.wait_for_messages(before + 1, WAIT).await;
        msgs[before].clone()
    }

    /// Presses button `i` of message `m` as `user`; the pop-up answer.
    async fn press(&self, user: i64, m: &SentMessage, i: usize) -> String {
        let data = m.reply_markup.as_ref().unwrap()["inline_keyboard"][0][i]["callback_data"]
            .as_str()
            .unwrap()
            .to_owned();
        let before = self.tg.callback_answers().len();
        self.tg.press_button(user, m.chat_id, m.message_id, &data);
        let answers = self.tg.wait_for_callback_answers(before + 1, WAIT).await;
        answers[before].text.clone().unwrap_or_default()
    }

    /// The first edit of message `m` whose visible text satisfies `done`.
    async fn edit_where(&self, m: &SentMessage, done: impl Fn(&str) -> bool) -> Edit {
        testkit::procs::eventually(Duration::from_secs(90), "the edit", || {
            let found = self.tg.edits().into_iter().find(|e| {
                e.message_id == m.message_id
                    && e.chat_id == m.chat_id
                    && e.visible_text.as_deref().is_some_and(&done)
            });
            async move { found }
        })
        .await
        .unwrap()
    }
}

fn preview(action: &str, rest: &str, agents: &str, n: usize, timeout: u64) -> String {
    format!(
        "▶️ Run {action}{rest} on {n} agent{}: {agents}\nTimeout {timeout} s each.",
        if n == 1 { "" } else { "s" }
    )
}

const ASKED: &str = "Asked by @user4242 (4242). Only they can confirm, within 60 s.";

#[tokio::test]
async fn the_preview_runs_only_when_its_asker_confirms() {
    let s = setup(false).await;
    let m = s.ask(ADMIN, "/run web1 mark").await;
    assert_eq!(m.parse_mode.as_deref(), Some("HTML"));
    assert_eq!(
        m.visible_text,
        format!("{}\n{ASKED}", preview("mark", "", "web1", 1, 30))
    );
    let buttons = &m.reply_markup.as_ref().unwrap()["inline_keyboard"][0];
    assert_eq!(buttons[0]["text"], "✅ Confirm");
    assert_eq!(buttons[1]["text"], "✖️ Cancel");
    assert!(!s.agents[0].marker().exists(), "a preview runs nothing");

    // Another allowed user's press is refused and changes nothing.
    assert_eq!(
        s.press(VIEWER, &m, 0).await,
        "Only @user4242 (4242) who asked can confirm this."
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!s.agents[0].marker().exists());
    assert!(s.tg.edits().is_empty(), "{:?}", s.tg.edits());

    // The asker's press runs it, once.
    assert_eq!(s.press(ADMIN, &m, 0).await, "Running…");
    let done = s
        .edit_where(&m, |t| t.contains("✅ web1: exit 0 in "))
        .await;
    let text = done.visible_text.unwrap();
    assert!(
        text.starts_with(&format!(
            "{}\n{ASKED}\n\nConfirmed by @user4242 (4242).\n\n✅ web1: exit 0 in ",
            preview("mark", "", "web1", 1, 30)
        )),
        "{text}"
    );
    assert_eq!(done.reply_markup, None, "the buttons are gone");
    assert!(s.agents[0].marker().exists());
    assert!(!s.agents[1].marker().exists(), "only web1");
    let audit = s.agents[0].audit();
    assert!(
        audit.contains(r#""requested_by":"telegram:4242 @user4242 (4242)","action":"mark""#),
        "{audit}"
    );
    // Pressed again: the plan is gone.
    std::fs::remove_file(s.agents[0].marker()).unwrap();
    assert_eq!(s.press(ADMIN, &m, 0).await, EXPIRED);
    assert!(!s.agents[0].marker().exists());
}

#[tokio::test]
async fn users_outside_action_users_cannot_list_run_or_confirm() {
    let s = setup(false).await;
    for cmd in [
        "/run web1 mark",
        "/actions",
        "/op_exec web1 mark",
        "/broadcast mark",
    ] {
        let m = s.ask(VIEWER, cmd).await;
        assert_eq!(m.visible_text, NOT_ACTION_USER, "{cmd}");
        assert_eq!(m.reply_markup, None);
    }
    // A stranger gets the bot's usual refusal.
    assert_eq!(
        s.ask(777, "/run web1 mark").await.visible_text,
        "Not authorized."
    );
    for a in &s.agents {
        assert_eq!(a.audit(), "", "no request reached {}", a.name);
    }
}

#[tokio::test]
async fn an_expired_confirmation_runs_nothing() {
    let s = setup(false).await;
    let m = s.ask(ADMIN, "/run web1 mark").await;
    let expired = s
        .edit_where(&m, |t| t.ends_with("⌛ Expired: nothing ran."))
        .await;
    assert_eq!(
        expired.visible_text.unwrap(),
        format!(
            "{}\n{ASKED}\n\n⌛ Expired: nothing ran.",
            preview("mark", "", "web1", 1, 30)
        )
    );
    assert_eq!(expired.reply_markup, None);
    assert_eq!(s.press(ADMIN, &m, 0).await, EXPIRED);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!s.agents[0].marker().exists());
    assert!(
        !s.agents[0].audit().contains("\"request\":\"run\""),
        "{}",
        s.agents[0].audit()
    );
}

#[tokio::test]
async fn run_all_with_one_agent_down_completes_the_others_and_says_which_is_down() {
    let s = setup(true).await;
    let m = s.ask(ADMIN, "/run all mark").await;
    let down = "⚠️ web3: not reachable: Connection refused (os error 111)";
    assert_eq!(
        m.visible_text,
        format!(
            "{}\n{down}\n{ASKED}",
            preview("mark", "", "web1, web2, web3", 3, 30)
        )
    );
    assert_eq!(s.press(ADMIN, &m, 0).await, "Running…");
    let done = s
        .edit_where(&m, |t| !t.contains("running…") && t.contains("web3: not"))
        .await;
    let text = done.visible_text.unwrap();
    let rows: Vec<&str> = text.split("\n\n").skip(2).collect();
    assert_eq!(rows.len(), 3, "{text}");
    assert!(rows[0].starts_with("✅ web1: exit 0 in "), "{text}");
    assert!(rows[1].starts_with("✅ web2: exit 0 in "), "{text}");
    assert_eq!(
        rows[2],
        "🔌 web3: not reachable: Connection refused (os error 111)"
    );
    assert!(s.agents[0].marker().exists() && s.agents[1].marker().exists());

    // A label picks agents too; an action without all_agents is refused on several.
    let m = s.ask(ADMIN, "/run env=prod html").await;
    assert_eq!(
        m.visible_text,
        format!("{}\n{ASKED}", preview("html", "", "web2", 1, 30))
    );
    let m = s.ask(ADMIN, "/broadcast html").await;
    assert_eq!(
        m.visible_text,
        "html may not run on several agents at once (all_agents is off on web1). Name one agent."
    );
    assert_eq!(m.reply_markup, None);
}

#[tokio::test]
async fn html_and_invalid_utf8_output_reach_telegram_escaped() {
    let s = setup(false).await;
    let m = s.ask(ADMIN, "/op_exec web1 html").await;
    assert_eq!(s.press(ADMIN, &m, 0).await, "Running…");
    let done = s.edit_where(&m, |t| t.contains("web1: exit 0")).await;
    // As sent: escaped inside <pre>; as seen: the process's characters, literally.
    let sent = done.text.unwrap();
    assert!(
        sent.contains(
            "<pre>&lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;x&lt;/script&gt; a\u{FFFD}b\nlast line</pre>"
        ),
        "{sent}"
    );
    assert!(
        done.visible_text
            .unwrap()
            .ends_with("\n<b>bold</b> & <script>x</script> a\u{FFFD}b\nlast line"),
    );
}

#[tokio::test]
async fn op_stop_maps_to_stop_port_and_actions_lists_what_may_run() {
    let s = setup(false).await;
    let m = s.ask(ADMIN, "/op_stop web2 8080").await;
    assert_eq!(
        m.visible_text,
        format!(
            "{}\n{ASKED}",
            preview("stop_port", " port=8080", "web2", 1, 30)
        )
    );
    assert_eq!(s.press(ADMIN, &m, 1).await, "Cancelled: nothing ran.");
    let cancelled = s.edit_where(&m, |t| t.contains("Cancelled")).await;
    assert!(
        cancelled
            .visible_text
            .unwrap()
            .ends_with(&format!("{ASKED}\n\n✖️ Cancelled by @user4242 (4242).")),
    );
    assert!(!s.agents[1].audit().contains("\"request\":\"run\""));

    // The agent refuses a port outside the allowlist: its row says why.
    let m = s.ask(ADMIN, "/op_stop web2 22").await;
    assert_eq!(s.press(ADMIN, &m, 0).await, "Running…");
    let done = s.edit_where(&m, |t| t.contains("web2: refused")).await;
    assert!(done.visible_text.unwrap().ends_with(
        "⛔ web2: refused by the agent (400): parameter \"port\" does not match ^(?:8080|8081)$"
    ));

    // /help shows the action commands when actions are configured.
    let help = s.ask(ADMIN, "/help").await.visible_text;
    assert!(
        help.contains(
            "\n/run <agent|all|label=value> <action> [param=value…]\n  run an allowlisted action \
             after a confirmation (aliases /op_exec <agent> <action>, /broadcast <action>, \
             /op_stop <agent> <port>)\n  e.g. /run web1 restart-unit unit=nginx.service\n"
        ),
        "{help}"
    );

    let list = s.ask(ADMIN, "/actions").await;
    assert_eq!(
        list.visible_text,
        "Actions you may run (/run <agent|all|label=value> <action> [param=value…]):\n\n\
         web1, web2\n\
         • html\n\
         • mark: touch the marker file (may run on all)\n\
         • stop_port port=8080|8081"
    );
    let m = s.ask(ADMIN, "/run web1 nope").await;
    assert_eq!(
        m.visible_text,
        "web1 has no action nope. /actions web1 lists them."
    );
    let m = s.ask(ADMIN, "/run web9 mark").await;
    assert_eq!(
        m.visible_text,
        "No agent matches web9. Agents with actions: web1, web2."
    );
}

#[tokio::test]
async fn a_deleted_key_file_stops_the_bot_signing_for_that_agent() {
    let s = setup(false).await;
    // The test's agents share the key file with the bot: deleting it revokes it on both sides.
    let key = s.agents[0].dir.join("action.key");
    std::fs::remove_file(&key).unwrap();
    let m = s.ask(ADMIN, "/run web1 mark").await;
    assert_eq!(
        m.visible_text,
        format!(
            "No agent answered, nothing to run:\n⚠️ web1: no usable action key (its file {} is \
             missing, empty or unreadable)",
            key.display()
        )
    );
    assert_eq!(m.reply_markup, None);
    assert_eq!(s.agents[0].audit(), "", "nothing was sent to web1");
    // Back in place: usable again, without a restart.
    write_secret(&key, &"web1-key-".repeat(8));
    let m = s.ask(ADMIN, "/run web1 mark").await;
    assert!(m.reply_markup.is_some(), "{}", m.visible_text);
}
