//! One OpenCode message (the `data` of a `message` row, or a legacy
//! `storage/message/<session>/<message>.json` file) → the call it records.
//! Shapes from OpenCode's `MessageV2.Assistant` (`packages/opencode/src/
//! session/message-v2.ts`) and `Session.getUsage` (`session/index.ts`), which
//! fills `tokens` once the model's usage arrives; see
//! `tests/fixtures/logs/README.md` ("OpenCode") for the versions read.

use billing_records::{CallPayload, Priced};
use chrono::{DateTime, SecondsFormat};
use log_kit::Text;
use serde::{Deserialize, Deserializer};

use crate::providers::{self, Provider};

/// The `source` of every call payload.
pub const SOURCE: &str = "opencode";
/// The model of a reply that names none: not in the price table, so its
/// calls show as unpriced.
pub const UNKNOWN_MODEL: &str = "unknown";

/// A token count as OpenCode writes it: a JSON number that is normally a
/// whole count, but is computed by subtraction (`output - reasoning`) and
/// guarded only against infinities, so a negative or fractional value is
/// read as its whole part, never below zero, rather than losing the call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count(pub u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Count, D::Error> {
        let n = serde_json::Number::deserialize(d)?;
        let whole = n.as_u64().unwrap_or_else(|| match n.as_f64() {
            Some(f) if f.is_finite() && f > 0.0 => f.trunc() as u64,
            _ => 0,
        });
        Ok(Count(whole))
    }
}

/// `tokens.cache`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Cache {
    /// Prompt tokens read from the provider's cache.
    #[serde(default)]
    pub read: Count,
    /// Prompt tokens written to it (lifetime not recorded).
    #[serde(default)]
    pub write: Count,
}

/// `tokens` of an assistant message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Tokens {
    /// Prompt tokens neither read from nor written to the cache.
    #[serde(default)]
    pub input: Count,
    /// The reply; without reasoning where `total` is recorded (see
    /// [`Tokens::priced`]).
    #[serde(default)]
    pub output: Count,
    /// Reasoning (thinking) tokens.
    #[serde(default)]
    pub reasoning: Count,
    /// Cache reads and writes.
    #[serde(default)]
    pub cache: Cache,
    /// The provider's own total, recorded since OpenCode moved to AI SDK 6.
    #[serde(default)]
    pub total: Option<Count>,
}

impl Tokens {
    /// As priced buckets. OpenCode's `input` already leaves out cache reads
    /// and writes. Its `output` leaves out reasoning (OpenCode charges
    /// reasoning at the output rate on top) whenever `total` is recorded;
    /// before that, OpenAI's SDK counted reasoning inside the output
    /// already, so `reasoning_in_output` says not to add it twice.
    pub fn priced(&self, reasoning_in_output: bool) -> Priced {
        let reasoning = self.reasoning.0;
        let output = if reasoning_in_output {
            self.output.0.max(reasoning)
        } else {
            self.output.0.saturating_add(reasoning)
        };
        Priced {
            input: self.input.0,
            output,
            cache_read: self.cache.read.0,
            cache_write_5m: self.cache.write.0,
            reasoning,
            ..Priced::default()
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct Time {
    #[serde(default)]
    created: Option<Count>,
}

#[derive(Debug, Deserialize)]
struct Path<'a> {
    #[serde(borrow, default)]
    cwd: Option<Text<'a>>,
}

/// The fields a call needs, as a message holds them.
#[derive(Debug, Deserialize)]
struct Raw<'a> {
    /// Legacy files only: a row's id is its own column.
    #[serde(borrow, default)]
    id: Option<Text<'a>>,
    #[serde(borrow, default, rename = "sessionID")]
    session: Option<Text<'a>>,
    #[serde(borrow, default)]
    role: Option<Text<'a>>,
    #[serde(borrow, default, rename = "providerID")]
    provider: Option<Text<'a>>,
    #[serde(borrow, default, rename = "modelID")]
    model: Option<Text<'a>>,
    #[serde(default)]
    time: Time,
    #[serde(default)]
    tokens: Option<Tokens>,
    #[serde(borrow, default)]
    path: Option<Path<'a>>,
}

/// Where a message was found: a database row names its id and session in
/// columns of their own; a legacy file only inside its JSON.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin<'a> {
    /// The row's `id`.
    pub id: Option<&'a str>,
    /// The row's `session_id`.
    pub session: Option<&'a str>,
    /// The row's `time_created` (ms), for a message without `time.created`.
    pub created: Option<i64>,
}

/// What a message is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(clippy::large_enum_variant, reason = "returned once per message and consumed at once")]
pub enum Read {
    /// An assistant message with tokens: one call, keyed by the message id.
    Call {
        /// The call.
        call: CallPayload,
        /// The provider OpenCode named is not one whose prices we know: the
        /// call is kept under [`providers::OTHER`], unpriced.
        other_provider: bool,
        /// It named no model.
        unknown_model: bool,
    },
    /// A user message, or an assistant message without tokens yet (still
    /// streaming, aborted, failed): nothing to count now. A later update
    /// that adds tokens is read again.
    Noted,
    /// Not JSON, or an assistant message with tokens but no id or time.
    Skipped,
}

/// Reads one message.
pub fn read(data: &[u8], origin: Origin<'_>) -> Read {
    let Ok(m) = serde_json::from_slice::<Raw<'_>>(data) else { return Read::Skipped };
    if m.role.as_ref().map(Text::as_str) != Some("assistant") {
        return Read::Noted;
    }
    let Some(tokens) = m.tokens else { return Read::Noted };
    if tokens.priced(false).tokens() == 0 {
        return Read::Noted;
    }
    let id = origin.id.map(str::to_string).or_else(|| m.id.map(Text::into_owned));
    let Some(id) = id.filter(|i| !i.is_empty()) else { return Read::Skipped };
    let created =
        m.time.created.map(|c| c.0).or(origin.created.and_then(|c| u64::try_from(c).ok()));
    let Some((day, at)) = created.and_then(utc_millis) else {
        return Read::Skipped;
    };
    let named = m.provider.as_ref().map(Text::as_str).unwrap_or_default();
    let model = m.model.as_ref().map(Text::as_str).filter(|s| !s.trim().is_empty());
    let provider = providers::of(named);
    let model_name = match (&provider, model) {
        (Provider::Known { .. }, Some(model)) => model.to_string(),
        (Provider::Other, Some(model)) => format!("{named}/{model}"),
        (_, None) => UNKNOWN_MODEL.to_string(),
    };
    let reasoning_in_output = tokens.total.is_none() && provider.counts_reasoning_in_output();
    let mut call = CallPayload::new(provider.id(), SOURCE, id, day, model_name);
    call.at = Some(at);
    call.session = origin.session.map(str::to_string).or_else(|| m.session.map(Text::into_owned));
    call.project = m.path.and_then(|p| p.cwd).map(Text::into_owned).filter(|p| !p.is_empty());
    call.priced = tokens.priced(reasoning_in_output);
    Read::Call { call, other_provider: provider == Provider::Other, unknown_model: model.is_none() }
}

/// The UTC day and RFC 3339 instant of a time in milliseconds since the
/// epoch (OpenCode's `Date.now()`).
fn utc_millis(ms: u64) -> Option<(String, String)> {
    let t = DateTime::from_timestamp_millis(i64::try_from(ms).ok()?)?;
    Some((t.date_naive().to_string(), t.to_rfc3339_opts(SecondsFormat::Millis, true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROW: Origin<'static> =
        Origin { id: Some("msg_a1"), session: Some("ses_1"), created: None };

    fn call(read: Read) -> CallPayload {
        match read {
            Read::Call { call, .. } => call,
            other => panic!("not a call: {other:?}"),
        }
    }

    #[test]
    fn an_assistant_row_is_a_call_with_reasoning_added_to_output() {
        // The shape OpenCode writes since AI SDK 6: `total` recorded, output
        // without reasoning.
        let data = br#"{"parentID":"msg_u1","role":"assistant","mode":"build","agent":"build","path":{"cwd":"/home/me/app","root":"/home/me/app"},"cost":0.0123,"tokens":{"total":6260,"input":120,"output":300,"reasoning":40,"cache":{"read":5000,"write":800}},"modelID":"claude-sonnet-4-5","providerID":"anthropic","time":{"created":1793577600123,"completed":1793577605000},"finish":"stop"}"#;
        let c = call(read(data, ROW));
        assert_eq!((c.provider.as_str(), c.source.as_str()), ("anthropic", "opencode"));
        assert_eq!((c.key.as_str(), c.model.as_str()), ("msg_a1", "claude-sonnet-4-5"));
        assert_eq!(
            (c.day.as_str(), c.at.as_deref()),
            ("2026-11-02", Some("2026-11-02T00:00:00.123Z"))
        );
        assert_eq!(
            (c.session.as_deref(), c.project.as_deref()),
            (Some("ses_1"), Some("/home/me/app"))
        );
        let want = Priced {
            input: 120,
            output: 340,
            cache_read: 5000,
            cache_write_5m: 800,
            reasoning: 40,
            ..Priced::default()
        };
        assert_eq!(c.priced, want);
    }

    #[test]
    fn before_total_was_recorded_openai_output_already_held_reasoning() {
        let data = br#"{"id":"msg_x","sessionID":"ses_9","role":"assistant","providerID":"openai","modelID":"gpt-5","time":{"created":1760000000000},"tokens":{"input":10,"output":500,"reasoning":448,"cache":{"read":0,"write":0}}}"#;
        let c = call(read(data, Origin::default()));
        assert_eq!((c.key.as_str(), c.session.as_deref()), ("msg_x", Some("ses_9")));
        assert_eq!((c.priced.output, c.priced.reasoning), (500, 448));
        // Other providers' SDKs kept reasoning apart (Google's thoughts).
        let data = String::from_utf8_lossy(data)
            .replace("openai", "google")
            .replace("gpt-5", "gemini-2.5-pro");
        assert_eq!(call(read(data.as_bytes(), Origin::default())).priced.output, 948);
    }

    #[test]
    fn unknown_providers_are_kept_unpriced_under_opencode_with_their_name() {
        let data = br#"{"role":"assistant","providerID":"github-copilot","modelID":"claude-sonnet-4.5","time":{"created":1793577600000},"tokens":{"input":1,"output":2,"reasoning":0,"cache":{"read":0,"write":0}}}"#;
        let Read::Call { call, other_provider, unknown_model } = read(data, ROW) else { panic!() };
        assert!(other_provider && !unknown_model);
        assert_eq!(
            (call.provider.as_str(), call.model.as_str()),
            ("opencode", "github-copilot/claude-sonnet-4.5")
        );
        let data = br#"{"role":"assistant","providerID":"anthropic","modelID":" ","time":{"created":1793577600000},"tokens":{"input":1,"output":2}}"#;
        let Read::Call { call, unknown_model, .. } = read(data, ROW) else { panic!() };
        assert!(unknown_model);
        assert_eq!((call.provider.as_str(), call.model.as_str()), ("anthropic", "unknown"));
    }

    #[test]
    fn messages_without_tokens_are_noted_and_broken_ones_skipped() {
        for noted in [
            &br#"{"role":"user","time":{"created":1793577600000},"agent":"build","model":{"providerID":"anthropic","modelID":"claude-sonnet-4-5"}}"#[..],
            // Still streaming: created with zero tokens, updated when usage arrives.
            br#"{"role":"assistant","providerID":"anthropic","modelID":"claude-sonnet-4-5","time":{"created":1793577600000},"cost":0,"tokens":{"input":0,"output":0,"reasoning":0,"cache":{"read":0,"write":0}}}"#,
            // A real failed reply (OpenCode 1.15, trimmed): no tokens at all.
            br#"{"role":"assistant","mode":"build","path":{"cwd":"/private/tmp/oc-demo"},"time":{"created":1780332620711,"completed":1780332622092},"error":{"name":"APIError","data":{"message":"Not Found","statusCode":404}}}"#,
        ] {
            assert_eq!(read(noted, ROW), Read::Noted, "{}", String::from_utf8_lossy(noted));
        }
        for skipped in [
            &b"{\"role\":\"assist"[..],
            b"[1]",
            br#"{"role":"assistant","tokens":{"input":5,"output":1}}"#,
            br#"{"role":"assistant","time":{"created":"soon"},"tokens":{"input":5,"output":1}}"#,
        ] {
            assert_eq!(read(skipped, ROW), Read::Skipped, "{}", String::from_utf8_lossy(skipped));
        }
        // A row's own time stands in for a message without one.
        let row = Origin { created: Some(1793577600000), ..ROW };
        assert_eq!(call(read(skipped_no_time(), row)).day, "2026-11-02");
        // A legacy file without an id cannot be deduplicated.
        let no_id = br#"{"role":"assistant","time":{"created":1793577600000},"tokens":{"input":5,"output":1}}"#;
        assert_eq!(read(no_id, Origin::default()), Read::Skipped);
    }

    fn skipped_no_time() -> &'static [u8] {
        br#"{"role":"assistant","tokens":{"input":5,"output":1}}"#
    }

    #[test]
    fn odd_counts_never_lose_the_call() {
        let data = br#"{"role":"assistant","providerID":"openai","modelID":"gpt-5","time":{"created":1793577600000},"tokens":{"total":12,"input":10.0,"output":-3,"reasoning":5,"cache":{"read":1e2}}}"#;
        let c = call(read(data, ROW));
        assert_eq!((c.priced.input, c.priced.output, c.priced.cache_read), (10, 5, 100));
    }
}
