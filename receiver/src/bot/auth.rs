//! The allowlist: only Telegram user ids in `ALLOWED_USERS` get answers. Anyone else gets
//! [`NOT_AUTHORIZED`] and a log line with their id (so an admin can add them), nothing else.

use teloxide::types::User;

use super::Context;

pub const NOT_AUTHORIZED: &str = "Not authorized.";

/// Whether `user` may use the bot; a refusal is logged.
pub fn allowed(ctx: &Context, user: &User) -> bool {
    let id = user.id.0 as i64;
    let ok = ctx.allowed.contains(&id);
    if !ok {
        tracing::warn!(
            user_id = id,
            username = user.username.as_deref().unwrap_or(""),
            "Telegram bot: not authorized (add the id to ALLOWED_USERS to allow)"
        );
    }
    ok
}

/// How a user is named in silences and messages: `@username (id)`, else `First (id)`.
pub fn who(user: &User) -> String {
    match &user.username {
        Some(u) => format!("@{u} ({})", user.id.0),
        None => format!("{} ({})", user.first_name, user.id.0),
    }
}
