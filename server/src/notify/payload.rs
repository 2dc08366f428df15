//! A notice as the bytes a webhook receives (the generic JSON payload or
//! Slack's message), and the signature over them. Pure: no IO, no clock.

use app::wire::notify::{
    Details, GenericPayload, PAYLOAD_VERSION, SlackBlock, SlackMessage, SlackText,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{Format, Notice, NoticeStatus, Secret};

/// Slack refuses a section's text over 3000 characters and a field over
/// 2000; longer task data is cut (with an ellipsis) rather than the whole
/// message refused.
const SLACK_TEXT_MAX: usize = 3000;
const SLACK_FIELD_MAX: usize = 2000;
/// Slack takes at most 10 fields in a section; more details are left out.
const SLACK_FIELDS_MAX: usize = 10;

/// The request body for `notice` in `format`.
pub fn body(format: Format, notice: &Notice) -> Vec<u8> {
    // Serialising these plain structs cannot fail (string keys, no
    // non-finite floats: those become null).
    match format {
        Format::Generic => serde_json::to_vec(&generic(notice)).unwrap_or_default(),
        Format::Slack => serde_json::to_vec(&slack(notice)).unwrap_or_default(),
    }
}

/// The generic payload of `notice`.
pub fn generic(notice: &Notice) -> GenericPayload {
    GenericPayload {
        version: PAYLOAD_VERSION,
        key: notice.key.clone(),
        status: notice.status,
        rule: notice.rule.clone(),
        summary: notice.summary.clone(),
        details: Details(notice.details.clone()),
        link: notice.link.clone(),
        started_at: notice.started_at,
        ended_at: notice.ended_at,
    }
}

/// Slack's message for `notice`. Every piece of task or rule text is
/// escaped, so a task name like `<!channel>` or `<https://x|click>` shows
/// as typed and pings or links nothing.
pub fn slack(notice: &Notice) -> SlackMessage {
    let word = match notice.status {
        NoticeStatus::Firing => "FIRING",
        NoticeStatus::Resolved => "RESOLVED",
        NoticeStatus::Test => "TEST",
    };
    let headline = format!(
        "[{word}] {}: {}",
        slack_escape(&notice.rule),
        slack_escape(&notice.summary)
    );
    let mut blocks = vec![SlackBlock::Section {
        text: mrkdwn(format!(
            "*{word}* {}\n{}",
            slack_escape(&notice.rule),
            slack_escape(&notice.summary)
        )),
        fields: notice
            .details
            .iter()
            .take(SLACK_FIELDS_MAX)
            .map(|(k, v)| {
                let text = format!("*{}*\n{}", slack_escape(k), slack_escape(v));
                mrkdwn_cut(text, SLACK_FIELD_MAX)
            })
            .collect(),
    }];
    if !notice.link.is_empty() {
        blocks.push(SlackBlock::Context {
            elements: vec![mrkdwn(format!(
                "<{}|Open in celadon>",
                slack_url(&notice.link)
            ))],
        });
    }
    SlackMessage {
        text: cut(headline, SLACK_TEXT_MAX),
        blocks,
    }
}

fn mrkdwn(text: String) -> SlackText {
    mrkdwn_cut(text, SLACK_TEXT_MAX)
}

fn mrkdwn_cut(text: String, max: usize) -> SlackText {
    SlackText::Mrkdwn {
        text: cut(text, max),
    }
}

/// `text` cut to `max` characters, the last one an ellipsis. (A cut may
/// split an escape like `&amp;`: Slack shows the remains as text, which
/// is harmless.)
fn cut(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Slack's escaping for text in mrkdwn: its control characters `&`, `<`
/// and `>`, which open links, mentions (`<@U…>`, `<!here>`) and dates.
pub fn slack_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// A URL inside `<url|text>`: escaped as text, and a `|` (which would end
/// the URL there) percent-encoded.
fn slack_url(url: &str) -> String {
    slack_escape(url).replace('|', "%7C")
}

/// `X-Celadon-Signature`'s value: `sha256=` and the hex HMAC-SHA256, keyed
/// with the secret, of the timestamp header's value, a dot and the body.
/// The timestamp is signed so a captured request cannot be replayed later
/// by a receiver that checks its age.
pub fn signature(secret: &Secret, timestamp: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length: `new_from_slice` fails for none.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for byte in digest {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> Notice {
        Notice {
            key: "worker offline#17".into(),
            status: NoticeStatus::Firing,
            rule: "worker offline".into(),
            summary: "worker celery@a offline for 62 s".into(),
            details: vec![
                ("worker".into(), "celery@a".into()),
                ("offline_for".into(), "62".into()),
            ],
            link: "https://celadon.example/worker/celery@a".into(),
            started_at: 1_700_000_000.5,
            ended_at: None,
        }
    }

    #[test]
    fn the_generic_payload_is_these_bytes() {
        let body = body(Format::Generic, &notice());
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"version":1,"key":"worker offline#17","status":"firing","rule":"worker offline","summary":"worker celery@a offline for 62 s","details":{"worker":"celery@a","offline_for":"62"},"link":"https://celadon.example/worker/celery@a","started_at":1700000000.5,"ended_at":null}"#
        );
    }

    #[test]
    fn the_generic_payload_reads_back_as_the_wire_type() {
        let mut n = notice();
        n.status = NoticeStatus::Resolved;
        n.ended_at = Some(1_700_000_100.25);
        let back: GenericPayload = serde_json::from_slice(&body(Format::Generic, &n)).unwrap();
        assert_eq!(back, generic(&n));
        assert_eq!(back.details.0[1], ("offline_for".into(), "62".into()));
    }

    #[test]
    fn the_slack_message_is_these_bytes() {
        let body = body(Format::Slack, &notice());
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"text":"[FIRING] worker offline: worker celery@a offline for 62 s","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"*FIRING* worker offline\nworker celery@a offline for 62 s"},"fields":[{"type":"mrkdwn","text":"*worker*\ncelery@a"},{"type":"mrkdwn","text":"*offline_for*\n62"}]},{"type":"context","elements":[{"type":"mrkdwn","text":"<https://celadon.example/worker/celery@a|Open in celadon>"}]}]}"#
        );
    }

    #[test]
    fn task_data_cannot_mention_or_link_in_slack() {
        let mut n = notice();
        n.summary = "task <!channel> failed: <https://evil.example|click> & <@U123>".into();
        n.details = vec![("<b>".into(), "a>b".into())];
        n.link = "https://celadon.example/tasks?q=a|b&c=<d>".into();
        let message = slack(&n);
        let json = serde_json::to_string(&message).unwrap();
        assert!(!json.contains("<!channel>"), "{json}");
        assert!(!json.contains("<@U123>"), "{json}");
        assert!(!json.contains("<https://evil"), "{json}");
        assert_eq!(
            message.text,
            "[FIRING] worker offline: task &lt;!channel&gt; failed: &lt;https://evil.example|click&gt; &amp; &lt;@U123&gt;"
        );
        let SlackBlock::Section { fields, .. } = &message.blocks[0] else {
            panic!("{message:?}");
        };
        assert_eq!(
            fields[0],
            SlackText::Mrkdwn {
                text: "*&lt;b&gt;*\na&gt;b".into()
            }
        );
        assert_eq!(
            message.blocks[1],
            SlackBlock::Context {
                elements: vec![SlackText::Mrkdwn {
                    text: "<https://celadon.example/tasks?q=a%7Cb&amp;c=&lt;d&gt;|Open in celadon>"
                        .into()
                }]
            }
        );
    }

    #[test]
    fn long_task_data_is_cut_to_slacks_limits() {
        let mut n = notice();
        n.summary = "x".repeat(5000);
        n.details = (0..12)
            .map(|i| (format!("k{i}"), "é".repeat(3000)))
            .collect();
        n.link = String::new();
        let message = slack(&n);
        assert_eq!(message.text.chars().count(), SLACK_TEXT_MAX);
        assert!(message.text.ends_with('…'));
        assert_eq!(message.blocks.len(), 1, "no link, no context block");
        let SlackBlock::Section { text, fields } = &message.blocks[0] else {
            panic!("{message:?}");
        };
        let SlackText::Mrkdwn { text } = text;
        assert_eq!(text.chars().count(), SLACK_TEXT_MAX);
        assert_eq!(fields.len(), SLACK_FIELDS_MAX);
        for SlackText::Mrkdwn { text } in fields {
            assert_eq!(text.chars().count(), SLACK_FIELD_MAX);
        }
    }

    /// HMAC-SHA256 as RFC 2104 defines it, from SHA-256 alone, to check the
    /// signature against something other than the code that made it.
    fn rfc2104(key: &[u8], message: &[u8]) -> String {
        use sha2::Digest;
        let mut block = [0u8; 64];
        if key.len() > 64 {
            block[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let pad = |byte: u8| block.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
        let inner = Sha256::new()
            .chain_update(pad(0x36))
            .chain_update(message)
            .finalize();
        let outer = Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize();
        outer.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        let secret = Secret::new("s3cret");
        let body = body(Format::Generic, &notice());
        let got = signature(&secret, "1700000001", &body);
        let mut message = b"1700000001.".to_vec();
        message.extend_from_slice(&body);
        assert_eq!(got, format!("sha256={}", rfc2104(b"s3cret", &message)));
        // And a known answer: RFC 4231's test case 2.
        assert_eq!(
            rfc2104(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let long = Secret::new(&"k".repeat(100));
        assert_eq!(
            signature(&long, "1", b"x"),
            format!("sha256={}", rfc2104("k".repeat(100).as_bytes(), b"1.x"))
        );
    }
}
