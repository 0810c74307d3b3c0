//! Telegram's HTML subset: escaping, checking, and splitting a long text at a safe point.
//!
//! Telegram (Bot API, "HTML style") accepts only the tags b/strong, i/em, u/ins, s/strike/del,
//! span class="tg-spoiler", tg-spoiler, a href, code, pre, blockquote, tg-emoji, and only the
//! entities `&lt; &gt; &amp; &quot;` plus numeric ones; every other `<`, `>` and `&` must be
//! escaped. tera's own HTML escape also writes `&#x2F;` and `&#x27;`, which Telegram does
//! accept as numeric entities, but they count and read badly; [`escape`] writes only the four.

use crate::render::utf16_len;

pub use super::template::escape;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    /// `<b>`, `<a href="...">`: the raw text and the tag name.
    Open(&'a str, &'a str),
    /// `</b>`: the raw text and the tag name.
    Close(&'a str, &'a str),
    /// One character or one entity, as written.
    Text(&'a str),
}

impl<'a> Tok<'a> {
    fn raw(&self) -> &'a str {
        match *self {
            Tok::Open(r, _) | Tok::Close(r, _) | Tok::Text(r) => r,
        }
    }
}

/// Why a text is not valid Telegram HTML, with the byte offset where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Telegram HTML at byte {offset}: {message}")]
pub struct HtmlError {
    pub offset: usize,
    pub message: String,
}

fn err(offset: usize, message: impl Into<String>) -> HtmlError {
    HtmlError {
        offset,
        message: message.into(),
    }
}

const TAGS: &[&str] = &[
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-emoji",
];

fn allowed_attribute(tag: &str, attr: &str) -> bool {
    matches!(
        (tag, attr),
        ("a", "href")
            | ("span", "class")
            | ("code", "class")
            | ("tg-emoji", "emoji-id")
            | ("blockquote", "expandable")
    )
}

fn tokenize(s: &str) -> Result<Vec<Tok<'_>>, HtmlError> {
    let mut toks = Vec::with_capacity(s.len());
    let mut i = 0;
    let b = s.as_bytes();
    while i < s.len() {
        match b[i] {
            b'<' => {
                let end = s[i..]
                    .find('>')
                    .map(|e| i + e)
                    .ok_or_else(|| err(i, "unclosed tag: '<' without '>'"))?;
                let raw = &s[i..=end];
                let inner = &s[i + 1..end];
                if let Some(name) = inner.strip_prefix('/') {
                    let name = name.trim();
                    check_name(name, i)?;
                    toks.push(Tok::Close(raw, name));
                } else {
                    let name_end = inner
                        .find(|c: char| c.is_ascii_whitespace())
                        .unwrap_or(inner.len());
                    let name = &inner[..name_end];
                    check_name(name, i)?;
                    check_attributes(name, &inner[name_end..], i)?;
                    toks.push(Tok::Open(raw, name));
                }
                i = end + 1;
            }
            b'&' => {
                let end = s[i..]
                    .find(';')
                    .map(|e| i + e)
                    .filter(|&e| e - i <= 10)
                    .ok_or_else(|| err(i, "bare '&' (write &amp;)"))?;
                check_entity(&s[i + 1..end], i)?;
                toks.push(Tok::Text(&s[i..=end]));
                i = end + 1;
            }
            b'>' => return Err(err(i, "bare '>' (write &gt;)")),
            _ => {
                let len = s[i..].chars().next().map_or(1, char::len_utf8);
                toks.push(Tok::Text(&s[i..i + len]));
                i += len;
            }
        }
    }
    Ok(toks)
}

fn check_name(name: &str, at: usize) -> Result<(), HtmlError> {
    if TAGS.contains(&name) {
        Ok(())
    } else {
        Err(err(
            at,
            format!("tag <{name}> is not supported by Telegram"),
        ))
    }
}

fn check_entity(body: &str, at: usize) -> Result<(), HtmlError> {
    let ok = match body {
        "lt" | "gt" | "amp" | "quot" => true,
        _ => match body.strip_prefix('#') {
            Some(hex) if hex.starts_with(['x', 'X']) => {
                !hex[1..].is_empty() && hex[1..].chars().all(|c| c.is_ascii_hexdigit())
            }
            Some(dec) => !dec.is_empty() && dec.chars().all(|c| c.is_ascii_digit()),
            None => false,
        },
    };
    if ok {
        Ok(())
    } else {
        Err(err(
            at,
            format!("entity &{body}; is not supported by Telegram"),
        ))
    }
}

/// Attributes: `name="value"` pairs (or a bare `expandable`), values free of raw `<`, `"`.
fn check_attributes(tag: &str, mut rest: &str, at: usize) -> Result<(), HtmlError> {
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Ok(());
        }
        let name_end = rest
            .find(|c: char| c == '=' || c.is_ascii_whitespace())
            .unwrap_or(rest.len());
        let name = &rest[..name_end];
        if !allowed_attribute(tag, name) {
            return Err(err(
                at,
                format!("attribute {name:?} is not allowed on <{tag}>"),
            ));
        }
        rest = &rest[name_end..];
        if let Some(after) = rest.trim_start().strip_prefix('=') {
            let after = after.trim_start();
            let value = after
                .strip_prefix('"')
                .ok_or_else(|| err(at, format!("attribute {name} value must be in \"quotes\"")))?;
            let close = value
                .find('"')
                .ok_or_else(|| err(at, format!("attribute {name}: unterminated value")))?;
            let v = &value[..close];
            if v.contains('<') {
                return Err(err(at, format!("attribute {name}: raw '<' in value")));
            }
            // Entities in values follow the same rules as in text.
            let mut j = 0;
            while let Some(p) = v[j..].find('&') {
                let start = j + p;
                let semi = v[start..]
                    .find(';')
                    .ok_or_else(|| err(at, format!("attribute {name}: bare '&'")))?;
                check_entity(&v[start + 1..start + semi], at)?;
                j = start + semi + 1;
            }
            rest = &value[close + 1..];
        } else if name != "expandable" {
            return Err(err(at, format!("attribute {name} needs a value")));
        }
    }
}

/// Checks that `s` is HTML Telegram accepts: supported tags and attributes, properly nested and
/// closed, and no bare `<`, `>` or `&`.
pub fn validate(s: &str) -> Result<(), HtmlError> {
    let mut stack: Vec<&str> = Vec::new();
    let mut offset = 0;
    for tok in tokenize(s)? {
        match tok {
            Tok::Open(_, name) => stack.push(name),
            Tok::Close(_, name) => match stack.pop() {
                Some(open) if open == name => {}
                Some(open) => {
                    return Err(err(offset, format!("</{name}> closes <{open}>")));
                }
                None => return Err(err(offset, format!("</{name}> without <{name}>"))),
            },
            Tok::Text(_) => {}
        }
        offset += tok.raw().len();
    }
    match stack.last() {
        Some(open) => Err(err(s.len(), format!("<{open}> is never closed"))),
        None => Ok(()),
    }
}

/// Splits valid Telegram HTML into pieces of at most `limit` UTF-16 units each, never inside a
/// tag or an entity. Tags open at a cut are closed at the end of one piece and reopened at the
/// start of the next, so each piece is valid on its own. It prefers to cut after a newline, else
/// after a space, as long as that keeps the piece at least half full. Nothing is dropped.
pub fn split(s: &str, limit: usize) -> Result<Vec<String>, HtmlError> {
    validate(s)?;
    let toks = tokenize(s)?;
    let closing = |stack: &[Tok<'_>]| -> String {
        stack
            .iter()
            .rev()
            .map(|t| match t {
                Tok::Open(_, name) => format!("</{name}>"),
                _ => String::new(),
            })
            .collect()
    };
    let opening = |stack: &[Tok<'_>]| -> String { stack.iter().map(Tok::raw).collect() };

    let mut out = Vec::new();
    let mut cur = String::new();
    let mut cur_len = 0usize;
    // Units that belong to tags reopened at the start of `cur`: a piece of only those is empty.
    let mut prefix_len = 0usize;
    let mut stack: Vec<Tok<'_>> = Vec::new();
    // Latest places to cut after a newline / a space: (byte length of cur, stack, next token).
    type Cut<'t> = Option<(usize, Vec<Tok<'t>>, usize)>;
    let mut newline: Cut<'_> = None;
    let mut space: Cut<'_> = None;
    let mut i = 0;
    while i < toks.len() {
        let tok = toks[i];
        let mut after = stack.clone();
        match tok {
            Tok::Open(..) => after.push(tok),
            Tok::Close(..) => {
                after.pop();
            }
            Tok::Text(_) => {}
        }
        let tok_len = utf16_len(tok.raw());
        let fits = cur_len + tok_len + utf16_len(&closing(&after)) <= limit;
        if !fits && cur_len > prefix_len {
            let half_full = |c: &Cut<'_>| {
                c.as_ref()
                    .is_some_and(|c| utf16_len(&cur[..c.0]) >= limit / 2)
            };
            let (cut, cut_stack, resume) = if half_full(&newline) {
                newline.take().expect("checked")
            } else if half_full(&space) {
                space.take().expect("checked")
            } else {
                (cur.len(), stack.clone(), i)
            };
            newline = None;
            space = None;
            let mut piece = cur[..cut].to_string();
            piece.push_str(&closing(&cut_stack));
            out.push(piece);
            cur = opening(&cut_stack);
            cur_len = utf16_len(&cur);
            prefix_len = cur_len;
            stack = cut_stack;
            i = resume;
            continue;
        }
        if !fits {
            // Even an empty piece cannot hold this token with its tags; only a pathological
            // input (a tag longer than a message) gets here.
            return Err(err(
                0,
                format!("a single tag or entity is longer than {limit}"),
            ));
        }
        cur.push_str(tok.raw());
        cur_len += tok_len;
        stack = after;
        i += 1;
        match tok {
            Tok::Text("\n") => newline = Some((cur.len(), stack.clone(), i)),
            Tok::Text(" ") => space = Some((cur.len(), stack.clone(), i)),
            _ => {}
        }
    }
    if cur_len > prefix_len || out.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_writes_only_what_telegram_knows() {
        assert_eq!(
            escape(r#"<script>&amp;"x"/'y'"#),
            "&lt;script&gt;&amp;amp;&quot;x&quot;/'y'"
        );
    }

    #[test]
    fn validate_catches_what_telegram_refuses() {
        assert!(validate("<b>ok</b> &lt; &#128293; &#x1F525;").is_ok());
        assert!(validate(r#"<a href="http://x?a=1&amp;b=2">l</a>"#).is_ok());
        assert_eq!(validate("<b>x").unwrap_err().message, "<b> is never closed");
        assert_eq!(
            validate("<b><i>x</b></i>").unwrap_err().message,
            "</b> closes <i>"
        );
        assert!(validate("a & b").is_err());
        assert!(validate("a > b").is_err());
        assert!(validate("<br>").is_err());
        assert!(validate("&nbsp;").is_err());
        assert!(validate(r#"<b class="x">y</b>"#).is_err());
    }

    #[test]
    fn split_closes_and_reopens_tags() {
        let s = format!("<b>{}</b>", "word ".repeat(30));
        let parts = split(&s, 40).unwrap();
        assert!(parts.len() > 1);
        for p in &parts {
            assert!(utf16_len(p) <= 40, "{p}");
            validate(p).unwrap();
            assert!(p.starts_with("<b>") && p.ends_with("</b>"), "{p}");
        }
        let text: String = parts
            .iter()
            .map(|p| p.trim_start_matches("<b>").trim_end_matches("</b>"))
            .collect();
        assert_eq!(text, "word ".repeat(30));
    }

    #[test]
    fn split_never_cuts_an_entity() {
        let s = "&amp;".repeat(50);
        for p in split(&s, 23).unwrap() {
            validate(&p).unwrap();
            assert_eq!(p.len() % 5, 0);
        }
    }
}
