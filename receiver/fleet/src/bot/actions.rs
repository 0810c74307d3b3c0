//! Actions from the chat (issue 19): `/actions [agent]` and `/run <agent|all|label=value>
//! <action> [params]`, with the seed's names as aliases (`/op_exec <agent> <action>`,
//! `/broadcast <action>` = `/run all`, `/op_stop <agent> <port>` = the `stop_port` action).
//!
//! Only `ACTION_USERS` may use them. `/run` answers with a preview (what will run, where) and
//! Confirm/Cancel buttons that only the requesting user can press and that expire after
//! [`CONFIRM_TTL`]; the plan waits in memory under a random id, so a button names nothing an
//! attacker could alter. On Confirm the action runs on the agents in parallel (bounded by the
//! client) and the message is edited as results arrive: per agent the exit code, the duration
//! and the last lines of output. These messages are HTML: everything that came from an agent or
//! a user is escaped (the agent already made the output valid UTF-8).
//!
//! What runs is decided by the agents: each checks the signature, the action and its
//! parameters again. The bot's checks are for a clear answer before anything is asked.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use teloxide::prelude::*;
use teloxide::types::{CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, ParseMode, User};
use tokio::task::JoinSet;
use vpsmon_receiver_delivery::config::actions::{ActionAgent, ActionsConfig};

use super::{Context, auth};
use crate::action_client::{ActionClient, ActionError, ActionInfo, MAX_ACTION_TIMEOUT, RunResult};

/// How long a preview's buttons work.
pub const CONFIRM_TTL: Duration = Duration::from_secs(60);
/// Previews waiting at once; past it the oldest goes.
const MAX_PENDING: usize = 1000;
/// The last lines of each agent's output that the result shows.
const TAIL_LINES: usize = 10;
/// The result message's visible characters at most (Telegram's limit is 4096).
const MESSAGE_BUDGET: usize = 3800;
/// The action `/op_stop <agent> <port>` runs.
pub const STOP_PORT: &str = "stop_port";
const DATA_PREFIX: &str = "a:";

pub const NOT_ACTION_USER: &str = "Not authorized to run actions (ask an admin to add your \
                                   id to ACTION_USERS).";
pub const EXPIRED: &str = "This confirmation has expired or was used already: nothing ran.";

/// The commands, for `/help`: usage, what, example.
pub const HELP: &[(&str, &str, &str)] = &[
    (
        "/actions [agent]",
        "the actions you may run (ACTION_USERS only)",
        "/actions web1",
    ),
    (
        "/run <agent|all|label=value> <action> [param=value…]",
        "run an allowlisted action after a confirmation (aliases /op_exec <agent> <action>, \
         /broadcast <action>, /op_stop <agent> <port>)",
        "/run web1 restart-unit unit=nginx.service",
    ),
];

/// A parsed action command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionCommand {
    List {
        agent: Option<String>,
    },
    Run {
        target: String,
        action: String,
        args: Vec<String>,
    },
}

/// `None`: not an action command. `Err`: one used wrongly (the reply).
pub fn parse(text: &str) -> Option<Result<ActionCommand, String>> {
    let rest = text.trim().strip_prefix('/')?;
    let mut words = rest.split_whitespace();
    let name = words.next()?.split('@').next()?.to_ascii_lowercase();
    let args: Vec<String> = words.map(str::to_owned).collect();
    let usage = |u: &str| Err(format!("Usage: {u}"));
    let run = |target: &str, action: &str, args: &[String]| {
        Ok(ActionCommand::Run {
            target: target.to_owned(),
            action: action.to_owned(),
            args: args.to_vec(),
        })
    };
    Some(match (name.as_str(), &args[..]) {
        ("actions", []) => Ok(ActionCommand::List { agent: None }),
        ("actions", [agent]) => Ok(ActionCommand::List {
            agent: Some(agent.clone()),
        }),
        ("actions", _) => usage("/actions [agent]"),
        ("run", [target, action, rest @ ..]) => run(target, action, rest),
        ("run", _) => usage("/run <agent|all|label=value> <action> [param=value…]"),
        ("op_exec", [agent, action, rest @ ..]) => run(agent, action, rest),
        ("op_exec", _) => usage("/op_exec <agent> <action> [param=value…]"),
        ("broadcast", [action, rest @ ..]) => run("all", action, rest),
        ("broadcast", _) => usage("/broadcast <action> [param=value…]"),
        ("op_stop", [agent, port]) => run(agent, STOP_PORT, std::slice::from_ref(port)),
        ("op_stop", _) => usage("/op_stop <agent> <port>"),
        _ => return None,
    })
}

/// What a confirmed preview runs.
#[derive(Debug, Clone)]
struct Plan {
    action: String,
    params: BTreeMap<String, String>,
    agents: Vec<ActionAgent>,
    timeout: Duration,
}

/// A preview waiting for its button.
#[derive(Debug)]
struct Pending {
    user: i64,
    who: String,
    created: Instant,
    chat: ChatId,
    /// Set once the preview is sent; a press can come before that (it names the message).
    message: Option<teloxide::types::MessageId>,
    /// The preview's HTML, which the result and the expiry extend.
    text: String,
    plan: Plan,
}

/// The bot's action state: the client, who may run, and the previews waiting.
#[derive(Debug)]
pub struct Actions {
    pub client: ActionClient,
    users: Vec<i64>,
    pending: Mutex<HashMap<String, Pending>>,
}

impl Actions {
    /// `None` when the actions file names no agent.
    pub fn from_config(config: &ActionsConfig) -> Option<Arc<Actions>> {
        (!config.agents.is_empty()).then(|| {
            Arc::new(Actions {
                client: ActionClient::new(config),
                users: config.users.clone(),
                pending: Mutex::default(),
            })
        })
    }

    fn may_run(&self, user: &User) -> bool {
        self.users.contains(&(user.id.0 as i64))
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// HTML-escapes text for Telegram's HTML parse mode.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

async fn send_html(
    bot: &Bot,
    chat: ChatId,
    text: String,
    keyboard: Option<InlineKeyboardMarkup>,
) -> Option<Message> {
    let mut req = bot.send_message(chat, text).parse_mode(ParseMode::Html);
    if let Some(k) = keyboard {
        req = req.reply_markup(k);
    }
    match req.await {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!(chat = chat.0, error = %e, "Telegram bot: cannot send an action reply");
            None
        }
    }
}

/// Replaces the message's text (and so removes its buttons).
async fn edit_html(bot: &Bot, chat: ChatId, message: teloxide::types::MessageId, text: String) {
    if let Err(e) = bot
        .edit_message_text(chat, message, text)
        .parse_mode(ParseMode::Html)
        .await
    {
        tracing::warn!(chat = chat.0, error = %e, "Telegram bot: cannot edit an action message");
    }
}

/// Handles an action command from an allowed `user` in `chat`.
pub async fn command(bot: &Bot, ctx: &Context, user: &User, chat: ChatId, cmd: ActionCommand) {
    let Some(actions) = ctx.actions.as_ref() else {
        let text = "Actions are not configured on this receiver (see --actions-file).";
        let _ = bot.send_message(chat, text).await;
        return;
    };
    if !actions.may_run(user) {
        tracing::warn!(user = %auth::who(user), "Telegram bot: an action command from a user not in ACTION_USERS");
        let _ = bot.send_message(chat, NOT_ACTION_USER).await;
        return;
    }
    let reply = match cmd {
        ActionCommand::List { agent } => list(actions, agent.as_deref()).await,
        ActionCommand::Run {
            target,
            action,
            args,
        } => match prepare(actions, &target, &action, &args).await {
            Ok((text, plan)) => return preview(bot, actions, user, chat, text, plan).await,
            Err(e) => e,
        },
    };
    send_html(bot, chat, reply, None).await;
}

/// The agents `target` names: one by name, `all`, or those with a label `key=value`.
fn targets(client: &ActionClient, target: &str) -> Result<Vec<ActionAgent>, String> {
    let agents = client.agents();
    let picked: Vec<ActionAgent> = if target.eq_ignore_ascii_case("all") {
        agents.to_vec()
    } else if let Some((k, v)) = target.split_once('=') {
        agents
            .iter()
            .filter(|a| a.labels.get(k).map(String::as_str) == Some(v))
            .cloned()
            .collect()
    } else {
        agents
            .iter()
            .filter(|a| a.name == target)
            .cloned()
            .collect()
    };
    if picked.is_empty() {
        let names: Vec<&str> = agents.iter().map(|a| a.name.as_str()).collect();
        return Err(format!(
            "No agent matches {}. Agents with actions: {}.",
            escape(target),
            escape(&names.join(", "))
        ));
    }
    Ok(picked)
}

/// Each agent's list, in the agents' order.
async fn lists(
    client: &ActionClient,
    agents: &[ActionAgent],
) -> Vec<Result<Vec<ActionInfo>, ActionError>> {
    let mut set = JoinSet::new();
    for (i, a) in agents.iter().enumerate() {
        let (client, a) = (client.clone(), a.clone());
        set.spawn(async move { (i, client.list(&a).await) });
    }
    let mut out: Vec<_> = (0..agents.len())
        .map(|_| Err(ActionError::Unreachable("no answer".into())))
        .collect();
    while let Some(Ok((i, r))) = set.join_next().await {
        out[i] = r;
    }
    out
}

fn describe(a: &ActionInfo) -> String {
    let mut s = format!("• <b>{}</b>", escape(&a.name));
    for p in &a.params {
        s.push_str(&format!(
            " <code>{}=</code><i>{}</i>",
            escape(&p.name),
            escape(p.pattern())
        ));
    }
    if !a.description.is_empty() {
        s.push_str(&format!(": {}", escape(&a.description)));
    }
    if a.all_agents {
        s.push_str(" (may run on all)");
    }
    s
}

/// `/actions [agent]`: what each agent allows; agents with the same list are shown once.
async fn list(actions: &Actions, agent: Option<&str>) -> String {
    let agents = match targets(&actions.client, agent.unwrap_or("all")) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for (a, r) in agents.iter().zip(lists(&actions.client, &agents).await) {
        let body = match r {
            Ok(list) if list.is_empty() => "no actions".to_owned(),
            Ok(list) => list.iter().map(describe).collect::<Vec<_>>().join("\n"),
            Err(e) => format!("⚠️ {}", escape(&e.to_string())),
        };
        match groups.iter_mut().find(|(b, _)| *b == body) {
            Some((_, names)) => names.push(a.name.clone()),
            None => groups.push((body, vec![a.name.clone()])),
        }
    }
    let mut s = String::from(
        "Actions you may run (/run &lt;agent|all|label=value&gt; &lt;action&gt; [param=value…]):",
    );
    for (body, names) in groups {
        s.push_str(&format!("\n\n<b>{}</b>\n{body}", escape(&names.join(", "))));
    }
    s
}

/// Checks the command against the agents' lists; the preview's HTML and the plan, or the
/// reply saying what is wrong.
async fn prepare(
    actions: &Actions,
    target: &str,
    action: &str,
    args: &[String],
) -> Result<(String, Plan), String> {
    let agents = targets(&actions.client, target)?;
    let answers = lists(&actions.client, &agents).await;
    let mut info: Option<ActionInfo> = None;
    let mut down = Vec::new();
    for (a, r) in agents.iter().zip(&answers) {
        match r {
            Err(e) => down.push(format!(
                "⚠️ {}: {}",
                escape(&a.name),
                escape(&e.to_string())
            )),
            Ok(list) => {
                let Some(found) = list.iter().find(|x| x.name == action) else {
                    let hint = match action {
                        STOP_PORT => " (/op_stop runs the action named stop_port)",
                        _ => "",
                    };
                    return Err(format!(
                        "{} has no action {}{hint}. /actions {} lists them.",
                        escape(&a.name),
                        escape(action),
                        escape(&a.name)
                    ));
                };
                if agents.len() > 1 && !found.all_agents {
                    return Err(format!(
                        "{} may not run on several agents at once (all_agents is off on {}). \
                         Name one agent.",
                        escape(action),
                        escape(&a.name)
                    ));
                }
                info.get_or_insert_with(|| found.clone());
            }
        }
    }
    let Some(info) = info else {
        return Err(format!(
            "No agent answered, nothing to run:\n{}",
            down.join("\n")
        ));
    };
    let params = bind(&info, args)?;
    let timeout = Duration::try_from_secs_f64(info.timeout_seconds).unwrap_or(MAX_ACTION_TIMEOUT);
    let shown: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
        .collect();
    let names: Vec<&str> = agents.iter().map(|a| a.name.as_str()).collect();
    let mut text = format!(
        "▶️ Run <b>{}</b>{} on {} agent{}: {}\nTimeout {} s each.",
        escape(action),
        match shown.is_empty() {
            true => String::new(),
            false => format!(" <code>{}</code>", shown.join(" ")),
        },
        agents.len(),
        if agents.len() == 1 { "" } else { "s" },
        escape(&names.join(", ")),
        timeout.as_secs()
    );
    if !down.is_empty() {
        text.push('\n');
        text.push_str(&down.join("\n"));
    }
    Ok((
        text,
        Plan {
            action: action.to_owned(),
            params,
            agents,
            timeout,
        },
    ))
}

/// `param=value` words, or bare values for the parameters in order.
fn bind(info: &ActionInfo, args: &[String]) -> Result<BTreeMap<String, String>, String> {
    let usage = || {
        let ps: Vec<String> = info
            .params
            .iter()
            .map(|p| format!("{}=&lt;{}&gt;", escape(&p.name), escape(p.pattern())))
            .collect();
        format!(
            "Usage: /run &lt;agent&gt; {} {}",
            escape(&info.name),
            ps.join(" ")
        )
    };
    let mut params = BTreeMap::new();
    for (i, arg) in args.iter().enumerate() {
        let (name, value) = match arg.split_once('=') {
            Some((k, v)) if info.params.iter().any(|p| p.name == k) => (k.to_owned(), v),
            _ => match info.params.get(i) {
                Some(p) => (p.name.clone(), arg.as_str()),
                None => {
                    return Err(format!(
                        "{} takes no parameter {}. {}",
                        escape(&info.name),
                        escape(arg),
                        usage()
                    ));
                }
            },
        };
        if params.insert(name.clone(), value.to_owned()).is_some() {
            return Err(format!("{} is given twice. {}", escape(&name), usage()));
        }
    }
    if let Some(p) = info.params.iter().find(|p| !params.contains_key(&p.name)) {
        return Err(format!("Missing {}. {}", escape(&p.name), usage()));
    }
    Ok(params)
}

fn data(verb: char, id: &str) -> String {
    format!("{DATA_PREFIX}{verb}:{id}")
}

/// Sends the preview with its buttons and keeps the plan until a press or the expiry.
async fn preview(
    bot: &Bot,
    actions: &Arc<Actions>,
    user: &User,
    chat: ChatId,
    text: String,
    plan: Plan,
) {
    let Ok(id) = vpsmon_common::action_sig::nonce() else {
        let _ = bot
            .send_message(chat, "Cannot make a confirmation id.")
            .await;
        return;
    };
    let who = auth::who(user);
    let text = format!(
        "{text}\nAsked by {}. Only they can confirm, within {} s.",
        escape(&who),
        CONFIRM_TTL.as_secs()
    );
    let keyboard = InlineKeyboardMarkup::new([[
        InlineKeyboardButton::callback("✅ Confirm", data('y', &id)),
        InlineKeyboardButton::callback("✖️ Cancel", data('n', &id)),
    ]]);
    tracing::info!(by = %who, action = %plan.action, agents = plan.agents.len(), "Telegram bot: action preview");
    // Kept before the preview is sent: its buttons work the moment it shows.
    {
        let mut pending = actions.pending();
        if pending.len() >= MAX_PENDING {
            let now = Instant::now();
            pending.retain(|_, p| now.duration_since(p.created) < CONFIRM_TTL);
            if pending.len() >= MAX_PENDING
                && let Some(oldest) = pending
                    .iter()
                    .min_by_key(|(_, p)| p.created)
                    .map(|(k, _)| k.clone())
            {
                pending.remove(&oldest);
            }
        }
        pending.insert(
            id.clone(),
            Pending {
                user: user.id.0 as i64,
                who,
                created: Instant::now(),
                chat,
                message: None,
                text: text.clone(),
                plan,
            },
        );
    }
    let Some(sent) = send_html(bot, chat, text, Some(keyboard)).await else {
        actions.pending().remove(&id);
        return;
    };
    if let Some(p) = actions.pending().get_mut(&id) {
        p.message = Some(sent.id);
    }
    // At the expiry the buttons go, so nobody presses one that can no longer work.
    let (bot, actions) = (bot.clone(), Arc::clone(actions));
    tokio::spawn(async move {
        tokio::time::sleep(CONFIRM_TTL).await;
        let expired = actions.pending().remove(&id);
        if let Some(Pending {
            chat,
            message: Some(message),
            text,
            ..
        }) = expired
        {
            let text = format!("{text}\n\n⌛ Expired: nothing ran.");
            edit_html(&bot, chat, message, text).await;
        }
    });
}

/// Whether a button's data is one of these previews' buttons.
pub fn is_action_button(data: &str) -> bool {
    data.starts_with(DATA_PREFIX)
}

/// A press on Confirm or Cancel.
pub async fn press(bot: &Bot, ctx: &Context, q: CallbackQuery) {
    let answer = press_answer(bot, ctx, &q).await;
    if let Err(e) = bot.answer_callback_query(q.id).text(answer).await {
        tracing::warn!(error = %e, "Telegram bot: answerCallbackQuery failed");
    }
}

async fn press_answer(bot: &Bot, ctx: &Context, q: &CallbackQuery) -> String {
    if !auth::allowed(ctx, &q.from) {
        auth::refuse(ctx, &q.from);
        return auth::NOT_AUTHORIZED.into();
    }
    let Some(actions) = ctx.actions.as_ref() else {
        return EXPIRED.into();
    };
    let rest = q
        .data
        .as_deref()
        .and_then(|d| d.strip_prefix(DATA_PREFIX))
        .unwrap_or("");
    let Some((verb, id)) = rest.split_once(':') else {
        return EXPIRED.into();
    };
    let presser = q.from.id.0 as i64;
    let mut pending = {
        let mut pending = actions.pending();
        match pending.get(id) {
            None => return EXPIRED.into(),
            Some(p) if p.created.elapsed() >= CONFIRM_TTL => {
                pending.remove(id);
                return EXPIRED.into();
            }
            Some(p) if p.user != presser || !actions.may_run(&q.from) => {
                tracing::warn!(
                    by = %auth::who(&q.from),
                    asked_by = %p.who,
                    "Telegram bot: an action confirmation pressed by another user; refused"
                );
                return format!("Only {} who asked can confirm this.", p.who);
            }
            Some(_) => match pending.remove(id) {
                Some(p) => p,
                None => return EXPIRED.into(),
            },
        }
    };
    // The pressed message is the preview, also when the press beat the sending task to it.
    if let Some(m) = q.message.as_ref().and_then(|m| m.regular_message()) {
        pending.chat = m.chat.id;
        pending.message = Some(m.id);
    }
    let Some(message) = pending.message else {
        return EXPIRED.into();
    };
    let who = auth::who(&q.from);
    if verb != "y" {
        tracing::info!(by = %who, action = %pending.plan.action, "Telegram bot: action cancelled");
        let text = format!("{}\n\n✖️ Cancelled by {}.", pending.text, escape(&who));
        edit_html(bot, pending.chat, message, text).await;
        return "Cancelled: nothing ran.".into();
    }
    tracing::info!(by = %who, action = %pending.plan.action, agents = pending.plan.agents.len(), "Telegram bot: action confirmed");
    let bot = bot.clone();
    let client = actions.client.clone();
    tokio::spawn(async move { execute(&bot, &client, pending, message, &who).await });
    "Running…".into()
}

/// One agent's row in the result.
#[derive(Debug, Clone)]
enum Row {
    Running,
    Done(Result<RunResult, ActionError>),
}

/// Runs the plan on every agent at once (the client bounds how many are in flight) and edits
/// the message as results arrive.
async fn execute(
    bot: &Bot,
    client: &ActionClient,
    p: Pending,
    message: teloxide::types::MessageId,
    who: &str,
) {
    let requested_by = format!("telegram:{} {who}", p.user);
    let plan = p.plan;
    let mut rows: Vec<Row> = vec![Row::Running; plan.agents.len()];
    let render = |rows: &[Row]| {
        let mut text = format!("{}\n\nConfirmed by {}.", p.text, escape(who));
        text.push_str(&result_rows(&plan.agents, rows));
        text
    };
    edit_html(bot, p.chat, message, render(&rows)).await;
    let mut set = JoinSet::new();
    for (i, agent) in plan.agents.iter().enumerate() {
        let (client, agent, plan, by) = (
            client.clone(),
            agent.clone(),
            plan.clone(),
            requested_by.clone(),
        );
        set.spawn(async move {
            let r = client
                .run(&agent, &plan.action, &plan.params, &by, plan.timeout)
                .await;
            (i, r)
        });
    }
    // At most about one edit a second (Telegram's pace for a chat), and always the last.
    let mut last_edit = Instant::now();
    let mut left = plan.agents.len();
    while let Some(joined) = set.join_next().await {
        left -= 1;
        if let Ok((i, r)) = joined {
            tracing::info!(
                agent = %plan.agents[i].name,
                action = %plan.action,
                result = %match &r {
                    Ok(r) => format!("exit {:?}", r.exit_code),
                    Err(e) => e.to_string(),
                },
                "Telegram bot: action result"
            );
            rows[i] = Row::Done(r);
        }
        if left == 0 || last_edit.elapsed() >= Duration::from_secs(1) {
            edit_html(bot, p.chat, message, render(&rows)).await;
            last_edit = Instant::now();
        }
    }
}

/// The rows, each agent's output cut to its share of the message.
fn result_rows(agents: &[ActionAgent], rows: &[Row]) -> String {
    let outputs = rows
        .iter()
        .filter(|r| matches!(r, Row::Done(Ok(r)) if !r.output.trim().is_empty()))
        .count()
        .max(1);
    let share = (MESSAGE_BUDGET.saturating_sub(200 + 80 * rows.len())) / outputs;
    let mut s = String::new();
    for (a, row) in agents.iter().zip(rows) {
        let name = escape(&a.name);
        s.push_str("\n\n");
        match row {
            Row::Running => s.push_str(&format!("⏳ <b>{name}</b>: running…")),
            Row::Done(Err(e)) => {
                let icon = match e {
                    ActionError::Unreachable(_) | ActionError::Timeout(_) => "🔌",
                    _ => "⛔",
                };
                s.push_str(&format!("{icon} <b>{name}</b>: {}", escape(&e.to_string())));
            }
            Row::Done(Ok(r)) => {
                let (icon, how) = match (r.killed, r.exit_code, r.signal) {
                    (true, _, _) => ("⏱", "killed at its timeout".to_owned()),
                    (false, Some(0), _) => ("✅", "exit 0".to_owned()),
                    (false, Some(c), _) => ("❌", format!("exit {c}")),
                    (false, None, Some(sig)) => ("❌", format!("signal {sig}")),
                    (false, None, None) => ("❌", "no exit code".to_owned()),
                };
                s.push_str(&format!(
                    "{icon} <b>{name}</b>: {how} in {:.1} s",
                    r.duration_seconds
                ));
                let tail = tail(&r.output, share);
                if !tail.is_empty() {
                    s.push_str(&format!("\n<pre>{}</pre>", escape(&tail)));
                }
            }
        }
    }
    s
}

/// The last [`TAIL_LINES`] lines of `output`, at most `limit` characters (cut at the front).
fn tail(output: &str, limit: usize) -> String {
    let lines: Vec<&str> = output.trim_end().lines().collect();
    let mut t = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
    let n = t.chars().count();
    if n > limit {
        t = format!("…{}", t.chars().skip(n - limit + 1).collect::<String>());
    }
    if lines.len() > TAIL_LINES && !t.starts_with('…') {
        t = format!("…\n{t}");
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_the_seeds_aliases() {
        let run = |t: &str, a: &str, args: &[&str]| {
            Some(Ok(ActionCommand::Run {
                target: t.into(),
                action: a.into(),
                args: args.iter().map(|s| s.to_string()).collect(),
            }))
        };
        assert_eq!(parse("/cpu"), None);
        assert_eq!(
            parse("/actions@vpsmon_bot web1"),
            Some(Ok(ActionCommand::List {
                agent: Some("web1".into())
            }))
        );
        assert_eq!(
            parse("/run env=prod restart unit=nginx.service"),
            run("env=prod", "restart", &["unit=nginx.service"])
        );
        assert_eq!(parse("/op_exec web1 disk"), run("web1", "disk", &[]));
        assert_eq!(parse("/broadcast disk"), run("all", "disk", &[]));
        assert_eq!(
            parse("/op_stop web1 8080"),
            run("web1", STOP_PORT, &["8080"])
        );
        assert_eq!(
            parse("/run web1"),
            Some(Err(
                "Usage: /run <agent|all|label=value> <action> [param=value…]".into()
            ))
        );
    }

    #[test]
    fn parameters_by_name_or_in_order() {
        let info = ActionInfo {
            name: "logs".into(),
            description: String::new(),
            params: vec![crate::action_client::ParamInfo {
                name: "unit".into(),
                kind: "string".into(),
                regex: "^(?:[a-z]+\\.service)$".into(),
            }],
            timeout_seconds: 30.0,
            all_agents: false,
        };
        let one = |v: &str| BTreeMap::from([("unit".to_string(), v.to_string())]);
        assert_eq!(
            bind(&info, &["unit=a.service".into()]),
            Ok(one("a.service"))
        );
        assert_eq!(bind(&info, &["a.service".into()]), Ok(one("a.service")));
        // A value with `=` in it, given bare, is still the value.
        assert_eq!(bind(&info, &["x=y".into()]), Ok(one("x=y")));
        assert_eq!(
            bind(&info, &[]),
            Err(
                "Missing unit. Usage: /run &lt;agent&gt; logs unit=&lt;[a-z]+\\.service&gt;".into()
            )
        );
        assert!(bind(&info, &["a".into(), "b".into()]).is_err());
    }

    #[test]
    fn the_tail_keeps_the_last_lines_within_the_limit() {
        let out: String = (1..=20).map(|i| format!("line {i}\n")).collect();
        assert_eq!(
            tail(&out, 1000),
            format!(
                "…\n{}",
                (11..=20)
                    .map(|i| format!("line {i}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        );
        assert_eq!(tail("abcdef", 4), "…def");
        assert_eq!(escape("<b>&</b>"), "&lt;b&gt;&amp;&lt;/b&gt;");
    }
}
