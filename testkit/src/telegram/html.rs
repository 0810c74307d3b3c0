//! Telegram's HTML `parse_mode`, as the Bot API server parses it.
//!
//! This follows tdlib's `parse_html` (td/telegram/MessageEntity.cpp), which is what the Bot API
//! server runs: the same tag list, the same attribute rules, the same entity decoding and, above
//! all, the same error texts and byte offsets. The Bot API prefixes them with
//! `Bad Request: can't parse entities: `. A receiver whose HTML passes here passes Telegram; one
//! that cuts a tag in half or forgets to escape `<` fails here with the error it would get there.

/// The text a user sees, and the formatting entities, after parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub text: String,
    pub entities: Vec<Entity>,
}

/// One formatting entity; `offset` and `length` are in UTF-16 code units, as in the Bot API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    pub kind: EntityKind,
    pub offset: usize,
    pub length: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntityKind {
    Bold,
    Italic,
    Underline,
    Strikethrough,
    Spoiler,
    Code,
    Pre { language: Option<String> },
    TextLink { url: String },
    CustomEmoji { id: String },
    Blockquote,
    ExpandableBlockquote,
}

impl Entity {
    /// The entity as the Bot API returns it inside a Message.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let mut v = json!({ "offset": self.offset, "length": self.length });
        let extra = match &self.kind {
            EntityKind::Bold => json!({"type": "bold"}),
            EntityKind::Italic => json!({"type": "italic"}),
            EntityKind::Underline => json!({"type": "underline"}),
            EntityKind::Strikethrough => json!({"type": "strikethrough"}),
            EntityKind::Spoiler => json!({"type": "spoiler"}),
            EntityKind::Code => json!({"type": "code"}),
            EntityKind::Pre { language: None } => json!({"type": "pre"}),
            EntityKind::Pre { language: Some(l) } => json!({"type": "pre", "language": l}),
            EntityKind::TextLink { url } => json!({"type": "text_link", "url": url}),
            EntityKind::CustomEmoji { id } => {
                json!({"type": "custom_emoji", "custom_emoji_id": id})
            }
            EntityKind::Blockquote => json!({"type": "blockquote"}),
            EntityKind::ExpandableBlockquote => json!({"type": "expandable_blockquote"}),
        };
        if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            v.extend(extra.clone());
        }
        v
    }
}

/// Number of UTF-16 code units: the unit Telegram measures text and entity offsets in.
pub fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

const TAGS: &[&str] = &[
    "a",
    "b",
    "strong",
    "i",
    "em",
    "s",
    "strike",
    "del",
    "u",
    "ins",
    "tg-spoiler",
    "tg-emoji",
    "span",
    "pre",
    "code",
    "blockquote",
];

// tdlib reads a NUL-terminated C string; `at` returns 0 past the end so the loops below stop
// exactly where tdlib's do.
fn at(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

// td::is_space counts NUL as space, which is what ends the name loops at the end of the text.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n' | 0 | 0x0b | 0x0c)
}

/// Decodes `&lt;`, `&gt;`, `&amp;`, `&quot;` and numeric references at `pos` (which holds `&`).
/// Returns the code point and moves `pos` past the reference (and its optional `;`); any other
/// `&...` is not a reference and stays literal text, exactly as in tdlib.
fn decode_entity(b: &[u8], pos: &mut usize) -> Option<u32> {
    let mut end = *pos + 1;
    let mut res: u32 = 0;
    if at(b, *pos + 1) == b'#' {
        end += 1;
        if at(b, *pos + 2) == b'x' {
            end += 1;
            while at(b, end).is_ascii_hexdigit() {
                res = res
                    .wrapping_mul(16)
                    .wrapping_add((at(b, end) as char).to_digit(16).unwrap_or(0));
                end += 1;
            }
        } else {
            while at(b, end).is_ascii_digit() {
                res = res
                    .wrapping_mul(10)
                    .wrapping_add(u32::from(at(b, end) - b'0'));
                end += 1;
            }
        }
        if res == 0 || res >= 0x10ffff || end - *pos >= 10 {
            return None;
        }
    } else {
        while at(b, end).is_ascii_alphabetic() {
            end += 1;
        }
        res = match &b[*pos + 1..end] {
            b"lt" => u32::from(b'<'),
            b"gt" => u32::from(b'>'),
            b"amp" => u32::from(b'&'),
            b"quot" => u32::from(b'"'),
            _ => return None,
        };
    }
    *pos = if at(b, end) == b';' { end + 1 } else { end };
    Some(res)
}

// Output buffer that, like tdlib, may briefly hold a lone surrogate from `&#xD800;`; such text
// is rejected at the end.
#[derive(Default)]
struct Out {
    units: Vec<u16>,
    bad_surrogate: bool,
}

impl Out {
    fn push_code(&mut self, code: u32) {
        if (0xd800..=0xdfff).contains(&code) {
            self.bad_surrogate = true;
            self.units.push(code as u16);
        } else if let Some(ch) = char::from_u32(code) {
            let mut buf = [0u16; 2];
            self.units.extend_from_slice(ch.encode_utf16(&mut buf));
        }
    }
    fn len(&self) -> usize {
        self.units.len()
    }
}

struct Open {
    tag: String,
    argument: String,
    offset: usize,
}

/// Parses `html` the way Telegram does. `Err` carries tdlib's message, without the Bot API's
/// `Bad Request: can't parse entities: ` prefix.
pub fn parse_html(html: &str) -> Result<Parsed, String> {
    let b = html.as_bytes();
    let mut out = Out::default();
    // Each entity with the language a <code class="language-x"> carried, until <pre> claims it.
    let mut entities: Vec<(Entity, String)> = Vec::new();
    let mut open: Vec<Open> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'&' {
            let mut p = i;
            if let Some(code) = decode_entity(b, &mut p) {
                out.push_code(code);
                i = p;
                continue;
            }
        }
        if c != b'<' {
            // Copy one whole UTF-8 character (the input is a Rust str, so it is valid).
            let ch_len = html[i..].chars().next().map_or(1, char::len_utf8);
            out.push_code(html[i..].chars().next().map_or(0, u32::from));
            i += ch_len;
            continue;
        }

        let begin = i;
        i += 1;
        if at(b, i) != b'/' {
            while !is_space(at(b, i)) && at(b, i) != b'>' {
                i += 1;
            }
            if at(b, i) == 0 {
                return Err(format!("Unclosed start tag at byte offset {begin}"));
            }
            let tag = String::from_utf8_lossy(&b[begin + 1..i]).to_lowercase();
            if !TAGS.contains(&tag.as_str()) {
                return Err(format!(
                    "Unsupported start tag \"{tag}\" at byte offset {begin}"
                ));
            }
            let mut argument = String::new();
            while at(b, i) != b'>' {
                while at(b, i) != 0 && is_space(at(b, i)) {
                    i += 1;
                }
                if at(b, i) == b'>' {
                    break;
                }
                let name_begin = i;
                while !is_space(at(b, i)) && !matches!(at(b, i), b'=' | b'>' | b'/' | b'"' | b'\'')
                {
                    i += 1;
                }
                let name = &b[name_begin..i];
                if name.is_empty() {
                    return Err(format!(
                        "Empty attribute name in the tag \"{tag}\" at byte offset {begin}"
                    ));
                }
                while at(b, i) != 0 && is_space(at(b, i)) {
                    i += 1;
                }
                if at(b, i) != b'=' {
                    if at(b, i) == 0 {
                        return Err(format!(
                            "Unclosed start tag \"{tag}\" at byte offset {begin}"
                        ));
                    }
                    if tag == "blockquote" && name == b"expandable" {
                        argument = "1".into();
                    }
                    continue;
                }
                i += 1;
                while at(b, i) != 0 && is_space(at(b, i)) {
                    i += 1;
                }
                if at(b, i) == 0 {
                    return Err(format!(
                        "Unclosed start tag \"{tag}\" at byte offset {begin}"
                    ));
                }
                let value: String;
                if at(b, i) != b'\'' && at(b, i) != b'"' {
                    // A name token: letters, digits, periods, hyphens; not case sensitive.
                    let token_begin = i;
                    while at(b, i).is_ascii_alphanumeric() || matches!(at(b, i), b'.' | b'-') {
                        i += 1;
                    }
                    value = String::from_utf8_lossy(&b[token_begin..i]).to_lowercase();
                    if !is_space(at(b, i)) && at(b, i) != b'>' {
                        return Err(format!(
                            "Unexpected end of name token at byte offset {token_begin}"
                        ));
                    }
                } else {
                    let quote = at(b, i);
                    i += 1;
                    let mut v: Vec<u8> = Vec::new();
                    while at(b, i) != quote && at(b, i) != 0 {
                        if at(b, i) == b'&' {
                            let mut p = i;
                            if let Some(code) = decode_entity(b, &mut p) {
                                let ch = char::from_u32(code).unwrap_or('\u{fffd}');
                                v.extend_from_slice(ch.encode_utf8(&mut [0u8; 4]).as_bytes());
                                i = p;
                                continue;
                            }
                        }
                        v.push(b[i]);
                        i += 1;
                    }
                    if at(b, i) == quote {
                        i += 1;
                    }
                    value = String::from_utf8_lossy(&v).into_owned();
                }
                if at(b, i) == 0 {
                    return Err(format!("Unclosed start tag at byte offset {begin}"));
                }
                match (tag.as_str(), name) {
                    ("a", b"href") => argument = value,
                    ("code", b"class") if value.starts_with("language-") => {
                        argument = value["language-".len()..].to_owned()
                    }
                    ("span", b"class") if value.starts_with("tg-") => {
                        argument = value["tg-".len()..].to_owned()
                    }
                    ("tg-emoji", b"emoji-id") => argument = value,
                    ("blockquote", b"expandable") => argument = "1".into(),
                    _ => {}
                }
            }
            if tag == "span" && argument != "spoiler" {
                return Err(format!(
                    "Tag \"span\" must have class \"tg-spoiler\" at byte offset {begin}"
                ));
            }
            // Skip the closing '>'.
            i += 1;
            open.push(Open {
                tag,
                argument,
                offset: out.len(),
            });
        } else {
            if open.is_empty() {
                return Err(format!("Unexpected end tag at byte offset {begin}"));
            }
            while !is_space(at(b, i)) && at(b, i) != b'>' {
                i += 1;
            }
            let end_tag = String::from_utf8_lossy(&b[begin + 2..i]).to_lowercase();
            while is_space(at(b, i)) && at(b, i) != 0 {
                i += 1;
            }
            if at(b, i) != b'>' {
                return Err(format!("Unclosed end tag at byte offset {begin}"));
            }
            i += 1;
            let top = open.pop().expect("checked non-empty");
            if !end_tag.is_empty() && end_tag != top.tag {
                return Err(format!(
                    "Unmatched end tag at byte offset {begin}, expected \"</{}>\", found \"</{end_tag}>\"",
                    top.tag
                ));
            }
            close_entity(&top, &out, &mut entities)?;
        }
    }
    if let Some(top) = open.last() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{}\"",
            top.tag
        ));
    }
    if out.bad_surrogate && String::from_utf16(&out.units).is_err() {
        return Err(
            "Text contains invalid Unicode characters after decoding HTML entities, \
                    check for unmatched surrogate code units"
                .into(),
        );
    }
    // A language on a lone <code> is meaningless; tdlib drops it the same way.
    let mut entities: Vec<Entity> = entities.into_iter().map(|(e, _)| e).collect();
    // tdlib's order: by offset, longer first, then by its type priority.
    entities.sort_by_key(|e| (e.offset, std::cmp::Reverse(e.length), priority(&e.kind)));
    Ok(Parsed {
        text: String::from_utf16_lossy(&out.units),
        entities,
    })
}

/// tdlib's `MessageEntity::get_type_priority`.
fn priority(kind: &EntityKind) -> u8 {
    match kind {
        EntityKind::Blockquote | EntityKind::ExpandableBlockquote => 0,
        EntityKind::Pre { language: Some(_) } => 10,
        EntityKind::Pre { language: None } => 11,
        EntityKind::Code => 20,
        EntityKind::TextLink { .. } => 49,
        EntityKind::Bold => 90,
        EntityKind::Italic => 91,
        EntityKind::Underline => 92,
        EntityKind::Strikethrough => 93,
        EntityKind::Spoiler => 94,
        EntityKind::CustomEmoji { .. } => 99,
    }
}

fn close_entity(top: &Open, out: &Out, entities: &mut Vec<(Entity, String)>) -> Result<(), String> {
    let offset = top.offset;
    let end = out.len();
    if end <= offset {
        // An empty entity is dropped, not an error.
        return Ok(());
    }
    let length = end - offset;
    let push = |entities: &mut Vec<(Entity, String)>, kind| {
        entities.push((
            Entity {
                kind,
                offset,
                length,
            },
            String::new(),
        ))
    };
    // <pre><code class="language-x">…</code></pre> (either nesting order) is one pre entity with
    // a language: whichever of the two closes second looks at the entity the first one made.
    let same_range = |entities: &Vec<(Entity, String)>| {
        entities
            .last()
            .is_some_and(|(e, _)| e.offset == offset && e.length == length)
    };
    match top.tag.as_str() {
        "i" | "em" => push(entities, EntityKind::Italic),
        "b" | "strong" => push(entities, EntityKind::Bold),
        "s" | "strike" | "del" => push(entities, EntityKind::Strikethrough),
        "u" | "ins" => push(entities, EntityKind::Underline),
        "tg-spoiler" | "span" => push(entities, EntityKind::Spoiler),
        "tg-emoji" => match top.argument.parse::<i64>() {
            Ok(id) if id != 0 => push(entities, EntityKind::CustomEmoji { id: id.to_string() }),
            _ => return Err("Invalid custom emoji identifier specified".into()),
        },
        "a" => {
            let url = if top.argument.is_empty() {
                String::from_utf16_lossy(&out.units[offset..end])
            } else {
                top.argument.clone()
            };
            // tdlib drops links it cannot check instead of failing; we keep only absolute URLs
            // with a scheme Telegram accepts, so the Message we return always deserializes.
            if let Some(url) = checked_link(&url) {
                push(entities, EntityKind::TextLink { url });
            }
        }
        "pre" => {
            if same_range(entities)
                && let Some((last, language)) = entities.last_mut()
                && last.kind == EntityKind::Code
                && !language.is_empty()
            {
                last.kind = EntityKind::Pre {
                    language: Some(std::mem::take(language)),
                };
            } else {
                push(entities, EntityKind::Pre { language: None })
            }
        }
        "code" => {
            if same_range(entities)
                && !top.argument.is_empty()
                && let Some((last, _)) = entities.last_mut()
                && last.kind == (EntityKind::Pre { language: None })
            {
                last.kind = EntityKind::Pre {
                    language: Some(top.argument.clone()),
                };
            } else {
                push(entities, EntityKind::Code);
                if let Some((_, language)) = entities.last_mut() {
                    language.clone_from(&top.argument);
                }
            }
        }
        "blockquote" if top.argument.is_empty() => push(entities, EntityKind::Blockquote),
        "blockquote" => push(entities, EntityKind::ExpandableBlockquote),
        other => unreachable!("tag {other} passed the tag check"),
    }
    Ok(())
}

fn checked_link(url: &str) -> Option<String> {
    let lower = url.to_ascii_lowercase();
    let with_scheme = if ["http://", "https://", "tg://", "ton://"]
        .iter()
        .any(|s| lower.starts_with(s))
    {
        url.to_owned()
    } else if !url.contains("://") && url.contains('.') && !url.contains(' ') && !url.is_empty() {
        // Telegram turns a bare host like telegram.org into http://telegram.org/.
        format!("http://{url}")
    } else {
        return None;
    };
    reqwest::Url::parse(&with_scheme)
        .ok()
        .map(|u| u.to_string())
}

/// Removes leading and trailing whitespace the way Telegram does before measuring and storing a
/// text, shifting entities so they still cover the same characters.
pub fn trim(parsed: Parsed) -> Parsed {
    let lead: usize = utf16_len(&parsed.text) - utf16_len(parsed.text.trim_start());
    let text = parsed.text.trim().to_owned();
    let total = utf16_len(&text);
    let entities = parsed
        .entities
        .into_iter()
        .filter_map(|mut e| {
            let start = e.offset.saturating_sub(lead);
            let end = (e.offset + e.length).saturating_sub(lead).min(total);
            if end <= start {
                return None;
            }
            e.offset = start;
            e.length = end - start;
            Some(e)
        })
        .collect();
    Parsed { text, entities }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> String {
        parse_html(s).expect_err(s)
    }

    // The error cases of tdlib's own test suite (test/message_entities.cpp, TEST parse_html),
    // with tdlib's exact messages and byte offsets.
    #[test]
    fn errors_match_tdlib_wording_and_offsets() {
        assert_eq!(
            err("🏟 🏟&lt;<abacaba"),
            "Unclosed start tag at byte offset 13"
        );
        assert_eq!(
            err("🏟 🏟&lt;<abac aba>"),
            "Unsupported start tag \"abac\" at byte offset 13"
        );
        assert_eq!(
            err("🏟 🏟&lt;<abac>"),
            "Unsupported start tag \"abac\" at byte offset 13"
        );
        assert_eq!(
            err("🏟 🏟&lt;<i   =aba>"),
            "Empty attribute name in the tag \"i\" at byte offset 13"
        );
        assert_eq!(
            err("🏟 🏟&lt;<i    aba>"),
            "Can't find end tag corresponding to start tag \"i\""
        );
        assert_eq!(
            err("🏟 🏟&lt;<i    aba  =  "),
            "Unclosed start tag \"i\" at byte offset 13"
        );
        assert_eq!(
            err("🏟 🏟&lt;<i    aba  =  190azAz-.,"),
            "Unexpected end of name token at byte offset 27"
        );
        assert_eq!(
            err("🏟 🏟&lt;<i    aba  =  \"&lt;&gt;&quot;>"),
            "Unclosed start tag at byte offset 13"
        );
        assert_eq!(
            err("🏟 🏟&lt;<i    aba  =  '&lt;&gt;&quot;>"),
            "Unclosed start tag at byte offset 13"
        );
        assert_eq!(err("🏟 🏟&lt;</"), "Unexpected end tag at byte offset 13");
        assert_eq!(
            err("🏟 🏟&lt;<b></b></"),
            "Unexpected end tag at byte offset 20"
        );
        assert_eq!(
            err("🏟 🏟&lt;<i>a</i   "),
            "Unclosed end tag at byte offset 17"
        );
        assert_eq!(
            err("🏟 🏟&lt;<i>a</em   >"),
            "Unmatched end tag at byte offset 17, expected \"</i>\", found \"</em>\""
        );
        assert_eq!(
            err("&#57311;"),
            "Text contains invalid Unicode characters after decoding HTML entities, check for unmatched surrogate code units"
        );
        assert_eq!(
            err("<span>x</span>"),
            "Tag \"span\" must have class \"tg-spoiler\" at byte offset 0"
        );
    }

    // The mistakes an alert renderer makes.
    #[test]
    fn typical_renderer_mistakes_are_rejected() {
        assert_eq!(
            err("<b>CPU high</b> <script>alert(1)</script>"),
            "Unsupported start tag \"script\" at byte offset 16"
        );
        assert_eq!(
            err("<b>cut in half"),
            "Can't find end tag corresponding to start tag \"b\""
        );
        assert_eq!(
            err("load < 5 and x"),
            "Unsupported start tag \"\" at byte offset 5"
        );
        assert_eq!(err("load <5"), "Unclosed start tag at byte offset 5");
        assert_eq!(
            err("<b>x</i>"),
            "Unmatched end tag at byte offset 4, expected \"</b>\", found \"</i>\""
        );
        assert_eq!(err("x</b>"), "Unexpected end tag at byte offset 1");
        assert_eq!(
            err("<code>a<b>b</code></b>"),
            "Unmatched end tag at byte offset 11, expected \"</b>\", found \"</code>\""
        );
        assert_eq!(err("<br>"), "Unsupported start tag \"br\" at byte offset 0");
    }

    #[test]
    fn valid_html_gives_the_visible_text_and_entities() {
        let p = parse_html(
            "🔥 <b>FIRING</b> &lt;web-1&gt; &amp; <i>db</i> &quot;x&quot; &#65;&#x42; a & b &copy;",
        )
        .unwrap();
        assert_eq!(p.text, "🔥 FIRING <web-1> & db \"x\" AB a & b &copy;");
        assert_eq!(
            p.entities,
            vec![
                Entity {
                    kind: EntityKind::Bold,
                    offset: 3,
                    length: 6
                },
                Entity {
                    kind: EntityKind::Italic,
                    offset: 20,
                    length: 2
                },
            ]
        );
        let p = parse_html(
            "<pre><code class=\"language-rust\">fn x() {}</code></pre><a href=\"https://example.com/?a=1&amp;b=2\">link</a>\
             <tg-spoiler>s</tg-spoiler><span class=\"tg-spoiler\">t</span><blockquote expandable>q</blockquote>\
             <u>u</u><ins>i</ins><s>s</s><strike>k</strike><del>d</del><strong>b</strong><em>e</em><tg-emoji emoji-id=\"5368324170671202286\">👍</tg-emoji>",
        )
        .unwrap();
        assert!(p.entities.contains(&Entity {
            kind: EntityKind::Pre {
                language: Some("rust".into())
            },
            offset: 0,
            length: 9
        }));
        assert!(p.entities.contains(&Entity {
            kind: EntityKind::TextLink {
                url: "https://example.com/?a=1&b=2".into()
            },
            offset: 9,
            length: 4
        }));
        assert!(
            p.entities
                .iter()
                .any(|e| e.kind == EntityKind::ExpandableBlockquote)
        );
        // Case-insensitive tags, the anonymous end tag, and an empty element are all fine.
        assert_eq!(parse_html("<B>x</>").unwrap().text, "x");
        assert_eq!(parse_html("<b></b>y").unwrap().entities, vec![]);
    }

    fn e(kind: EntityKind, offset: usize, length: usize) -> Entity {
        Entity {
            kind,
            offset,
            length,
        }
    }

    fn ok(html: &str, text: &str, entities: Vec<Entity>) {
        let p = parse_html(html).unwrap_or_else(|err| panic!("{html}: {err}"));
        assert_eq!(p.text, text, "text of {html}");
        assert_eq!(p.entities, entities, "entities of {html}");
    }

    // The success cases of tdlib's test suite (test/message_entities.cpp, TEST parse_html).
    #[test]
    fn results_match_tdlib() {
        use EntityKind::*;
        let pre = |l: &str| Pre {
            language: (!l.is_empty()).then(|| l.to_owned()),
        };
        let link = |u: &str| TextLink { url: u.to_owned() };
        ok("", "", vec![]);
        ok(
            "&ge;&lt;&gt;&amp;&quot;&laquo;&raquo;&#12345678;",
            "&ge;<>&\"&laquo;&raquo;&#12345678;",
            vec![],
        );
        ok("&Or;", "&Or;", vec![]);
        ok("➡️ ➡️<i>➡️ ➡️</i>", "➡️ ➡️➡️ ➡️", vec![e(Italic, 5, 5)]);
        ok(
            "➡️ ➡️<strong>➡️ ➡️</strong>",
            "➡️ ➡️➡️ ➡️",
            vec![e(Bold, 5, 5)],
        );
        ok(
            "➡️ ➡️<ins>➡️ ➡️</ins>",
            "➡️ ➡️➡️ ➡️",
            vec![e(Underline, 5, 5)],
        );
        ok(
            "➡️ ➡️<strike>➡️ ➡️</strike>",
            "➡️ ➡️➡️ ➡️",
            vec![e(Strikethrough, 5, 5)],
        );
        ok(
            "➡️ ➡️<blockquote>➡️ ➡️</blockquote>",
            "➡️ ➡️➡️ ➡️",
            vec![e(Blockquote, 5, 5)],
        );
        ok(
            "➡️ ➡️<i>➡️ ➡️</i><b>➡️ ➡️</b>",
            "➡️ ➡️➡️ ➡️➡️ ➡️",
            vec![e(Italic, 5, 5), e(Bold, 10, 5)],
        );
        ok("🏟 🏟<i>🏟 &lt🏟</i>", "🏟 🏟🏟 <🏟", vec![e(Italic, 5, 6)]);
        ok(
            "🏟 🏟<i>🏟 &gt;<b aba   =   caba>&lt🏟</b></i>",
            "🏟 🏟🏟 ><🏟",
            vec![e(Italic, 5, 7), e(Bold, 9, 3)],
        );
        ok(
            "🏟 🏟&lt;<i    aba  =  190azAz-.   >a</i>",
            "🏟 🏟<a",
            vec![e(Italic, 6, 1)],
        );
        ok(
            "🏟 🏟&lt;<i    aba  =  '&lt;&gt;&quot;'>a</>",
            "🏟 🏟<a",
            vec![e(Italic, 6, 1)],
        );
        ok("🏟 🏟&lt;<i>a</    >", "🏟 🏟<a", vec![e(Italic, 6, 1)]);
        ok("🏟 🏟&lt;<b></b>", "🏟 🏟<", vec![]);
        ok("<i>\t</i>", "\t", vec![e(Italic, 0, 1)]);
        ok(
            "🏟 🏟<span class=\"tg-spoiler\">🏟 &gt;<b aba   =   caba>&lt🏟</b></span>",
            "🏟 🏟🏟 ><🏟",
            vec![e(Spoiler, 5, 7), e(Bold, 9, 3)],
        );
        ok(
            "<a href=telegram.org>\n</a>",
            "\n",
            vec![e(link("http://telegram.org/"), 0, 1)],
        );
        // tdlib keeps the `<` raw; the fake returns the URL as reqwest normalises it (as teloxide would).
        ok(
            "<a   href=  'telegram.org?&lt;'   > </a>",
            " ",
            vec![e(link("http://telegram.org/?%3C"), 0, 1)],
        );
        ok("<a> </a>", " ", vec![]);
        ok("<a>telegram.org </a>", "telegram.org ", vec![]);
        ok(
            "<a>telegram.org</a>",
            "telegram.org",
            vec![e(link("http://telegram.org/"), 0, 12)],
        );
        ok(
            "🏟 🏟&lt;<pre><code>🏟 🏟&lt;</code></>",
            "🏟 🏟<🏟 🏟<",
            vec![e(pre(""), 6, 6), e(Code, 6, 6)],
        );
        ok(
            "🏟 🏟&lt;<pre><code class=\"language-\">🏟 🏟&lt;</code></>",
            "🏟 🏟<🏟 🏟<",
            vec![e(pre(""), 6, 6), e(Code, 6, 6)],
        );
        ok(
            "🏟 🏟&lt;<pre><code class=\"language-fift\">🏟 🏟&lt;</></>",
            "🏟 🏟<🏟 🏟<",
            vec![e(pre("fift"), 6, 6)],
        );
        ok(
            "🏟 🏟&lt;<code class=\"language-fift\"><pre>🏟 🏟&lt;</></>",
            "🏟 🏟<🏟 🏟<",
            vec![e(pre("fift"), 6, 6)],
        );
        ok(
            "🏟 🏟&lt;<pre><code class=\"language-fift\">🏟 🏟&lt;</> </>",
            "🏟 🏟<🏟 🏟< ",
            vec![e(pre(""), 6, 7), e(Code, 6, 6)],
        );
        ok(
            "🏟 🏟&lt;<pre> <code class=\"language-fift\">🏟 🏟&lt;</></>",
            "🏟 🏟< 🏟 🏟<",
            vec![e(pre(""), 6, 7), e(Code, 7, 6)],
        );
        ok(
            "<blockquote   cite=\"\" askdlbas nasjdbaj nj12b3>a&lt;<pre  >b;</></>",
            "a<b;",
            vec![e(Blockquote, 0, 4), e(pre(""), 2, 2)],
        );
        ok(
            "<blockquote   expandable=false>a&lt;<pre  >b;</></>",
            "a<b;",
            vec![e(ExpandableBlockquote, 0, 4), e(pre(""), 2, 2)],
        );
        ok(
            "🏟 🏟<b aba   =   caba><tg-emoji emoji-id=\"1\">🏟</tg-emoji>1</b>",
            "🏟 🏟🏟1",
            vec![e(Bold, 5, 3), e(CustomEmoji { id: "1".into() }, 5, 2)],
        );
    }

    #[test]
    fn offsets_and_lengths_count_utf16_units() {
        let p = parse_html("😀<b>😀x</b>").unwrap();
        assert_eq!(
            p.entities,
            vec![Entity {
                kind: EntityKind::Bold,
                offset: 2,
                length: 3
            }]
        );
        assert_eq!(utf16_len("😀x"), 3);
    }

    #[test]
    fn trim_moves_entities_with_the_text() {
        let p = trim(parse_html("  \n<b>x</b> ").unwrap());
        assert_eq!(p.text, "x");
        assert_eq!(p.entities[0].offset, 0);
        assert_eq!(p.entities[0].length, 1);
    }
}
