//! One rollout file's running context (its thread, its current model, the
//! last totals counted) and how each `token_count` event becomes a call.
//! This is the state kept per file between runs.

use billing_records::{CallPayload, Priced};
use serde::{Deserialize, Serialize};

use crate::parse::{parse_line, Event};

/// Whose prices apply.
pub const PROVIDER: &str = "openai";
/// The `source` of every call payload.
pub const SOURCE: &str = "codex";
/// The model of events no `turn_context` named (early Codex versions wrote
/// none); ccusage assumes the same and flags it.
pub const FALLBACK_MODEL: &str = "gpt-5";

/// A thread's cumulative token usage (`total_token_usage`), in OpenAI's
/// meaning: `input` includes `cached`, `output` includes `reasoning`.
/// Kept in the state as a five-number array, in this order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "[u64; 5]", into = "[u64; 5]")]
pub struct Totals {
    /// Input tokens, cached included.
    pub input: u64,
    /// Cached input tokens.
    pub cached: u64,
    /// Output tokens, reasoning included.
    pub output: u64,
    /// Reasoning tokens.
    pub reasoning: u64,
    /// Everything.
    pub total: u64,
}

impl From<[u64; 5]> for Totals {
    fn from([input, cached, output, reasoning, total]: [u64; 5]) -> Self {
        Totals { input, cached, output, reasoning, total }
    }
}

impl From<Totals> for [u64; 5] {
    fn from(t: Totals) -> Self {
        [t.input, t.cached, t.output, t.reasoning, t.total]
    }
}

impl Totals {
    /// Whether these totals are new usage after `base`: a larger total and
    /// no count below it. Anything else is a re-emitted event (the UI and
    /// rate-limit refreshes repeat the last totals) or a stale snapshot.
    pub fn advances(&self, base: &Totals) -> bool {
        let (now, then): ([u64; 5], [u64; 5]) = ((*self).into(), (*base).into());
        self.total > base.total && now.iter().zip(then).all(|(n, t)| *n >= t)
    }

    /// The usage between `base` and these totals.
    pub fn since(&self, base: &Totals) -> Totals {
        Totals {
            input: self.input.saturating_sub(base.input),
            cached: self.cached.saturating_sub(base.cached),
            output: self.output.saturating_sub(base.output),
            reasoning: self.reasoning.saturating_sub(base.reasoning),
            total: self.total.saturating_sub(base.total),
        }
    }

    /// `in/cached/out/reasoning/total`.
    pub fn signature(&self) -> String {
        format!("{}/{}/{}/{}/{}", self.input, self.cached, self.output, self.reasoning, self.total)
    }

    /// As priced buckets: uncached input, cache reads, output (reasoning
    /// included) and reasoning.
    pub fn priced(&self) -> Priced {
        Priced {
            input: self.input.saturating_sub(self.cached),
            cache_read: self.cached,
            output: self.output,
            reasoning: self.reasoning,
            ..Priced::default()
        }
    }
}

/// What one rollout file has said so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The last totals counted (zero before the first).
    #[serde(default)]
    pub base: Totals,
    /// The model of the latest `turn_context`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The thread's folder (`session_meta.cwd`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// The thread's id (`session_meta.id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// What a line did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(clippy::large_enum_variant, reason = "returned once per line and consumed at once")]
pub enum Fed {
    /// A `token_count` whose totals advanced: one call.
    Call {
        /// The call.
        call: CallPayload,
        /// Its model is [`FALLBACK_MODEL`], not one the file named.
        guessed: bool,
    },
    /// A `token_count` whose totals did not advance.
    Stale,
    /// Context, or nothing of interest.
    Noted,
    /// A line that does not read, or a new `token_count` without a time.
    Skipped,
}

impl Session {
    /// Takes the file's next line.
    pub fn feed(&mut self, line: &[u8]) -> Fed {
        match parse_line(line) {
            None => Fed::Skipped,
            Some(Event::Meta { id, cwd }) => {
                // The first session_meta is the file's own: a fork replays its
                // parent's after it.
                self.id = self.id.take().or(id);
                self.cwd = self.cwd.take().or(cwd);
                Fed::Noted
            }
            Some(Event::TurnContext { model }) => {
                self.model = model.or(self.model.take());
                Fed::Noted
            }
            Some(Event::TokenCount { totals: None, .. }) | Some(Event::Other) => Fed::Noted,
            Some(Event::TokenCount { timestamp, totals: Some(totals) }) => {
                self.count(timestamp.as_deref(), totals)
            }
        }
    }

    /// A call's key is `<model>:<base signature>><totals signature>`: the
    /// usage between two points of a thread's running totals, so the key
    /// alone determines the call's counts. A forked or subagent rollout
    /// replays its parent's history (turn contexts and token counts, often
    /// re-stamped with the fork's time) and so produces the parent's keys
    /// again, which the host merges into one call per key, whichever file is
    /// read first and wherever it lies. Two unrelated threads would collide
    /// only with the same model and identical totals before and after.
    fn count(&mut self, timestamp: Option<&str>, totals: Totals) -> Fed {
        if !totals.advances(&self.base) {
            return Fed::Stale;
        }
        let Some((day, at)) = timestamp.and_then(log_kit::utc_time) else { return Fed::Skipped };
        let (model, guessed) = match &self.model {
            Some(m) => (m.as_str(), false),
            None => (FALLBACK_MODEL, true),
        };
        let key = format!("{model}:{}>{}", self.base.signature(), totals.signature());
        let mut call = CallPayload::new(PROVIDER, SOURCE, key, day, model);
        call.at = Some(at);
        call.project = self.cwd.clone();
        call.session = self.id.clone();
        call.priced = totals.since(&self.base).priced();
        self.base = totals;
        Fed::Call { call, guessed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_count(ts: &str, t: [u64; 5]) -> String {
        let [i, c, o, r, total] = t;
        format!(
            r#"{{"timestamp":"{ts}","type":"event_msg","payload":{{"type":"token_count","info":{{"total_token_usage":{{"input_tokens":{i},"cached_input_tokens":{c},"output_tokens":{o},"reasoning_output_tokens":{r},"total_tokens":{total}}}}}}}}}"#
        )
    }

    fn call(fed: Fed) -> (CallPayload, bool) {
        match fed {
            Fed::Call { call, guessed } => (call, guessed),
            other => panic!("not a call: {other:?}"),
        }
    }

    #[test]
    fn deltas_of_running_totals_are_keyed_by_their_ends() {
        let mut s = Session::default();
        let ts = "2026-11-01T10:00:00Z";
        let (first, guessed) = call(s.feed(token_count(ts, [100, 0, 20, 5, 120]).as_bytes()));
        assert!(guessed);
        assert_eq!(first.key, "gpt-5:0/0/0/0/0>100/0/20/5/120");
        s.feed(br#"{"type":"turn_context","payload":{"model":"gpt-5.1-codex"}}"#);
        assert_eq!(s.feed(token_count(ts, [100, 0, 20, 5, 120]).as_bytes()), Fed::Stale);
        assert_eq!(s.feed(token_count(ts, [90, 0, 40, 5, 130]).as_bytes()), Fed::Stale);
        let (second, guessed) = call(s.feed(token_count(ts, [300, 150, 50, 9, 350]).as_bytes()));
        assert!(!guessed);
        assert_eq!(second.key, "gpt-5.1-codex:100/0/20/5/120>300/150/50/9/350");
        let want =
            Priced { input: 50, cache_read: 150, output: 30, reasoning: 4, ..Priced::default() };
        assert_eq!(second.priced, want);
        assert_eq!(s.base, Totals::from([300, 150, 50, 9, 350]));
    }

    #[test]
    fn the_first_session_meta_is_the_files_own() {
        let mut s = Session::default();
        s.feed(br#"{"type":"session_meta","payload":{"id":"fork","cwd":"/a","forked_from_id":"parent"}}"#);
        s.feed(br#"{"type":"session_meta","payload":{"id":"parent","cwd":"/b"}}"#);
        assert_eq!((s.id.as_deref(), s.cwd.as_deref()), (Some("fork"), Some("/a")));
    }

    #[test]
    fn state_is_compact() {
        let s = Session {
            base: Totals::from([1, 2, 3, 4, 5]),
            model: Some("m".into()),
            ..Session::default()
        };
        assert_eq!(serde_json::to_string(&s).unwrap(), r#"{"base":[1,2,3,4,5],"model":"m"}"#);
    }

    #[test]
    fn a_new_count_without_a_time_is_skipped_and_not_taken_as_the_base() {
        let mut s = Session::default();
        let line = token_count("never", [10, 0, 1, 0, 11]);
        assert_eq!(s.feed(line.as_bytes()), Fed::Skipped);
        assert_eq!(s.base, Totals::default());
    }
}
