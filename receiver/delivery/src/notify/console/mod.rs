//! The console: one line per alert on stdout, and appended to a file when one is configured.
//! It needs no credentials, so a fresh machine runs the whole stack with it. It fails only when
//! a write fails (a full disk, a closed pipe), and that is worth retrying.
//!
//! This folder owns the console integration whole: its rendering (`render.rs`: one line per
//! alert, or a storm digest), its template (`template.rs`, `console.txt`) and the writer; its one setting,
//! `console_file`, is top-level. It may import the delivery core (`crate::notify`'s interface,
//! `crate::render`, `crate::payload`), nothing of the other integrations.

pub mod render;
pub mod template;

use super::registry::{self, NotifyContext};
use crate::config::{ConfigError, Destination, RouteContext};
use crate::render::Template;
use std::io::Write;
use std::path::PathBuf;

use super::retry::Pacing;
use super::{BoxFuture, Message, Notify, NotifyError};
use crate::payload::Notification;
use crate::render::{RenderContext, RenderError};

/// Where the lines go besides the file: stdout normally, a buffer in tests.
pub enum Sink {
    Stdout,
    Memory(std::sync::Mutex<Vec<u8>>),
}

pub struct Console {
    sink: Sink,
    /// Opened for each message in append mode, so log rotation (a rename) needs no restart.
    file: Option<PathBuf>,
    /// More alerts than this in one notification: a digest ([`render::digest`]).
    digest_threshold: usize,
}

impl Console {
    pub fn new(file: Option<PathBuf>) -> Console {
        Console::with_sink(Sink::Stdout, file)
    }

    pub fn with_sink(sink: Sink, file: Option<PathBuf>) -> Console {
        Console {
            sink,
            file,
            digest_threshold: crate::render::digest::DEFAULT_THRESHOLD,
        }
    }

    /// Prints notifications of more than `threshold` alerts as a digest.
    pub fn with_digest(mut self, threshold: usize) -> Console {
        self.digest_threshold = threshold;
        self
    }

    /// What a [`Sink::Memory`] holds.
    pub fn captured(&self) -> String {
        match &self.sink {
            Sink::Memory(buf) => {
                String::from_utf8_lossy(&buf.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
            }
            Sink::Stdout => String::new(),
        }
    }

    fn write(&self, text: &str) -> Result<(), NotifyError> {
        match &self.sink {
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes())
                    .and_then(|()| out.flush())
                    .map_err(|e| NotifyError::Transient(format!("cannot write to stdout: {e}")))?;
            }
            Sink::Memory(buf) => buf
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(text.as_bytes()),
        }
        if let Some(path) = &self.file {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(text.as_bytes()))
                .map_err(|e| {
                    NotifyError::Transient(format!(
                        "cannot append to console file {}: {e}",
                        path.display()
                    ))
                })?;
        }
        Ok(())
    }
}

impl Notify for Console {
    fn integration(&self) -> &'static str {
        "console"
    }

    fn pacing(&self) -> Option<&Pacing> {
        None
    }

    /// All lines in one message: one write, so lines of concurrent notifications never mix.
    fn render(&self, n: &Notification, ctx: &RenderContext) -> Result<Vec<Message>, RenderError> {
        let lines = if n.alerts.len() > self.digest_threshold {
            render::digest(n, ctx)
        } else {
            render::console(n, ctx)?
        };
        let mut text = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for line in &lines {
            text.push_str(line);
            text.push('\n');
        }
        Ok(vec![Message {
            text,
            alert_indices: (0..n.alerts.len()).collect(),
            extra: None,
        }])
    }

    fn notify<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move { self.write(&message.text) })
    }
}

/// The console, as the list of integrations (`notify/mod.rs`) knows it. Its settings
/// (`console_file`, `console_digest_threshold`) are top-level.
pub struct Integration;

impl registry::Integration for Integration {
    const NAME: &'static str = "console";
    const TEMPLATE: Template = Template {
        name: template::TEMPLATE,
        default: template::DEFAULT,
        escape: template::escape,
    };
    /// One line per alert: never split.
    const SPLITS: bool = false;
    type Route = ();

    fn route((): (), _: &RouteContext) -> Result<Destination, ConfigError> {
        Ok(Destination::Console)
    }

    fn notify(d: &Destination, cx: &NotifyContext) -> Option<Result<Box<dyn Notify>, String>> {
        let Destination::Console = d else {
            return None;
        };
        Some(Ok(Box::new(
            Console::new(cx.config.console_file.clone())
                .with_digest(cx.config.console_digest_threshold),
        )))
    }
}
