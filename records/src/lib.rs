//! The billing record contract: the JSON payloads a collector sends as
//! records of kind [`COST`], [`USAGE`], [`PROVIDER`] and [`CALL`], defined once for the
//! collectors (which write them) and the host's billing application (which
//! reads them).
//!
//! # Evolution rules
//!
//! The contract is versioned by [`SCHEMA_VERSION`], which every payload
//! carries in `schema` (a payload without it is version 1):
//!
//! - **Readers ignore unknown fields.** A newer collector may send fields an
//!   older host does not know; the host stores what it knows and drops the
//!   rest. Nothing here uses `deny_unknown_fields`.
//! - **New fields are optional** and have a default that means what older
//!   writers meant when they did not send it (`false`, empty, absent).
//! - **A field is never removed, renamed or given a new meaning.** A change
//!   that needs one is a new record kind (`cost2`), which an older host keeps
//!   as a generic record instead of misreading it; [`SCHEMA_VERSION`] counts
//!   the compatible additions.
//! - **Amounts are decimal text**, exactly as the provider wrote them (JSON
//!   number or string), never a float: the host sums them exactly.
//!
//! # The kinds
//!
//! [`CostPayload`] is one billed amount of one UTC day; [`UsagePayload`] the
//! counters of one UTC day and one combination of dimensions;
//! [`ProviderPayload`] how a provider is named and exported; [`CallPayload`]
//! one API call seen in a local log (the source of estimates, never billed).
//! [`Priced`] names the token counts prices apply to, in both usage and call
//! payloads, so the host can estimate a cost without knowing a provider's
//! counters. A null
//! dimension is stored as empty text, so it takes part in the natural key
//! like any value.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The contract version this crate writes.
pub const SCHEMA_VERSION: u32 = 3;

/// Record kind of a [`CostPayload`].
pub const COST: &str = "cost";
/// Record kind of a [`UsagePayload`].
pub const USAGE: &str = "usage";
/// Record kind of a [`ProviderPayload`].
pub const PROVIDER: &str = "provider";
/// Record kind of a [`CallPayload`].
pub const CALL: &str = "call";

fn old_schema() -> u32 {
    1
}

fn default_account() -> String {
    "default".into()
}

/// Whether a field holds its default (`false`, 0): left out when written.
fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// One billed amount of one UTC day (kind [`COST`]).
///
/// ```json
/// {"schema":2,"provider":"openai","account":"default","day":"2025-08-01",
///  "project":"proj_1","line_item":"gpt-4o, input","model":"gpt-4o","token_type":"input",
///  "amount":"0.0123","unit":"major","currency":"usd","quantity":"1234","quantity_unit":"tokens"}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostPayload {
    /// The contract version the writer used.
    #[serde(default = "old_schema")]
    pub schema: u32,
    /// Lowercase provider name (`openai`, `anthropic`, `openrouter`, ...):
    /// one the plugin's manifest claims.
    pub provider: String,
    /// The account label (one organization or key of the provider).
    #[serde(default = "default_account")]
    pub account: String,
    /// UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// Project or workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// API key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// The provider's line item or description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_item: Option<String>,
    /// Model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Token type (`input`, `output_tokens`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Cost type (`tokens`, `web_search`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_type: Option<String>,
    /// Service tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
    /// Context window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<String>,
    /// The amount exactly as the provider wrote it: decimal text, an
    /// exponent allowed (`12.50`, `1.5e-05`).
    pub amount: String,
    /// `major` (dollars) or `cents` (hundredths, divided exactly).
    pub unit: String,
    /// ISO 4217 code, any case. The host stores USD only; another currency
    /// costs its day.
    pub currency: String,
    /// What was billed, exact decimal text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<String>,
    /// Its unit (`tokens`, `images`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity_unit: Option<String>,
}

/// The counters of one UTC day and one combination of dimensions (kind
/// [`USAGE`]).
///
/// ```json
/// {"schema":2,"provider":"anthropic","account":"default","day":"2025-08-01","source":"messages",
///  "model":"claude-sonnet-4","service_tier":"priority","dims":{"context_window":"0-200k"},
///  "metrics":{"output_tokens":120,"uncached_input_tokens":900},
///  "token_metrics":["output_tokens","uncached_input_tokens"],"not_in_cost":true}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsagePayload {
    /// The contract version the writer used.
    #[serde(default = "old_schema")]
    pub schema: u32,
    /// Lowercase provider name.
    pub provider: String,
    /// The account label.
    #[serde(default = "default_account")]
    pub account: String,
    /// UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// The endpoint or report the counters come from (`completions`, ...).
    pub source: String,
    /// Model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Project or workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// API key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// User id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Service tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
    /// Other dimensions.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dims: BTreeMap<String, String>,
    /// Counters: whole numbers.
    #[serde(default)]
    pub metrics: BTreeMap<String, u64>,
    /// Which of `metrics` make up the day's "tokens" total (the collector
    /// knows its provider's counters; the host does not). Since schema 2.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_metrics: Vec<String>,
    /// Usage the provider's cost report does not include (Anthropic's
    /// Priority Tier): its tokens are flagged as not covered by billed cost.
    /// Since schema 2.
    #[serde(default, skip_serializing_if = "is_default")]
    pub not_in_cost: bool,
    /// The counters again, as the buckets prices apply to, so the host can
    /// estimate what this usage should cost. Since schema 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priced: Option<Priced>,
    /// Every request counted here had more input than the model's first
    /// long-context threshold (Anthropic's `context_window` `200k-1M`), so
    /// long-context rates apply. Since schema 3.
    #[serde(default, skip_serializing_if = "is_default")]
    pub long_context: bool,
}

/// Token counts as prices see them. Every field is a whole count; `input`
/// excludes cached input (Anthropic's meaning: a collector for a provider
/// whose input includes cache reads subtracts them), and `output` includes
/// reasoning.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Priced {
    /// Input not read from or written to a cache.
    #[serde(default, skip_serializing_if = "is_default")]
    pub input: u64,
    /// Output, reasoning included.
    #[serde(default, skip_serializing_if = "is_default")]
    pub output: u64,
    /// Input read from the prompt cache.
    #[serde(default, skip_serializing_if = "is_default")]
    pub cache_read: u64,
    /// Input written to the cache with a 5-minute lifetime (and writes whose
    /// lifetime is not known).
    #[serde(default, skip_serializing_if = "is_default")]
    pub cache_write_5m: u64,
    /// Input written to the cache with a 1-hour lifetime.
    #[serde(default, skip_serializing_if = "is_default")]
    pub cache_write_1h: u64,
    /// Reasoning tokens, already inside `output` (shown, not priced again).
    #[serde(default, skip_serializing_if = "is_default")]
    pub reasoning: u64,
    /// Web searches (priced per search where the table has a rate).
    #[serde(default, skip_serializing_if = "is_default")]
    pub web_searches: u64,
}

impl Priced {
    /// All input of the request(s): what long-context thresholds compare.
    pub fn all_input(&self) -> u64 {
        self.input
            .saturating_add(self.cache_read)
            .saturating_add(self.cache_write_5m)
            .saturating_add(self.cache_write_1h)
    }

    /// Every token counted (input of all kinds and output).
    pub fn tokens(&self) -> u64 {
        self.all_input().saturating_add(self.output)
    }

    /// Each count added (saturating): the counts of two calls together.
    pub fn plus(self, o: Priced) -> Priced {
        self.zip(o, u64::saturating_add)
    }

    /// The larger of each count: the most complete copy of a call written
    /// more than once (a streamed response is logged as it grows).
    pub fn max(self, o: Priced) -> Priced {
        self.zip(o, u64::max)
    }

    /// The counts by bucket name, in column order: the one list of them
    /// that writers, the store and the estimator share.
    pub fn buckets(&self) -> [(&'static str, u64); 7] {
        [
            ("input", self.input),
            ("output", self.output),
            ("cache_read", self.cache_read),
            ("cache_write_5m", self.cache_write_5m),
            ("cache_write_1h", self.cache_write_1h),
            ("reasoning", self.reasoning),
            ("web_searches", self.web_searches),
        ]
    }

    /// Each count of `self` and `o` combined by `f`.
    fn zip(self, o: Priced, f: impl Fn(u64, u64) -> u64) -> Priced {
        Priced {
            input: f(self.input, o.input),
            output: f(self.output, o.output),
            cache_read: f(self.cache_read, o.cache_read),
            cache_write_5m: f(self.cache_write_5m, o.cache_write_5m),
            cache_write_1h: f(self.cache_write_1h, o.cache_write_1h),
            reasoning: f(self.reasoning, o.reasoning),
            web_searches: f(self.web_searches, o.web_searches),
        }
    }
}

/// One API call seen in a local log (kind [`CALL`]): what the host
/// estimates from, and never adds to billed amounts.
///
/// The host keeps one row per `(source, key)`: a call sent again (a streamed
/// copy, a resumed session's copy, another run over the same file) keeps
/// the larger of each count and the first copy's other fields, and a row is
/// never removed when its log is, so history outlives the logs.
///
/// ```json
/// {"schema":3,"provider":"anthropic","source":"claude_code","key":"msg_01","day":"2026-11-01",
///  "at":"2026-11-01T08:52:10.933Z","model":"claude-sonnet-4-5","project":"/home/me/app",
///  "session":"4f1c…","priced":{"input":4,"output":8,"cache_read":147449,"cache_write_5m":306}}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallPayload {
    /// The contract version the writer used.
    #[serde(default = "old_schema")]
    pub schema: u32,
    /// Lowercase provider name (whose prices apply).
    pub provider: String,
    /// The account label.
    #[serde(default = "default_account")]
    pub account: String,
    /// Which log this comes from (`claude_code`, `codex`): keys are unique
    /// within a source.
    pub source: String,
    /// The call's identity within its source, the same in every copy.
    pub key: String,
    /// UTC day of the call, `YYYY-MM-DD`.
    pub day: String,
    /// When the call was logged (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// Model.
    pub model: String,
    /// Project: the folder the agent ran in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The agent's session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Service tier (`standard`, `priority`, `flex`, ...) when logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
    /// Speed mode (`fast`) when logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<String>,
    /// The token counts.
    pub priced: Priced,
}

/// How a provider is named and exported (kind [`PROVIDER`]); a collector
/// sends one per provider it claims, on every run.
///
/// ```json
/// {"schema":2,"provider":"anthropic","display_name":"Anthropic","service_name":"Claude API",
///  "sub_account_type":"Workspace","not_in_cost_note":"Priority Tier costs are not in the cost report"}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderPayload {
    /// The contract version the writer used.
    #[serde(default = "old_schema")]
    pub schema: u32,
    /// Lowercase provider name, as in cost and usage payloads.
    pub provider: String,
    /// The name people know it by: the id written for people, where only
    /// case, spaces and punctuation may differ (`OpenAI` for `openai`,
    /// `Mistral AI` for `mistral_ai`); the host refuses anything else.
    pub display_name: String,
    /// FOCUS `ServiceName` (`OpenAI API`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// FOCUS `ServiceCategory`; the host's default is `AI and Machine Learning`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_category: Option<String>,
    /// FOCUS `ServiceSubcategory`; the host's default is `Generative AI`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_subcategory: Option<String>,
    /// What a project is called there (FOCUS `SubAccountType`: `Project`,
    /// `Workspace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_account_type: Option<String>,
    /// Why usage flagged `not_in_cost` has no billed cost, for the notes of
    /// summaries and exports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_in_cost_note: Option<String>,
}

impl CostPayload {
    /// An empty payload of the current schema for `provider` and `day`: fill
    /// in the rest.
    pub fn new(provider: &str, account: &str, day: &str) -> CostPayload {
        CostPayload {
            schema: SCHEMA_VERSION,
            provider: provider.into(),
            account: account.into(),
            day: day.into(),
            unit: "major".into(),
            currency: "usd".into(),
            ..CostPayload::default()
        }
    }
}

impl UsagePayload {
    /// An empty payload of the current schema: fill in the rest.
    pub fn new(provider: &str, account: &str, day: &str, source: &str) -> UsagePayload {
        UsagePayload {
            schema: SCHEMA_VERSION,
            provider: provider.into(),
            account: account.into(),
            day: day.into(),
            source: source.into(),
            ..UsagePayload::default()
        }
    }

    /// The day's token count of this payload: the sum of its `token_metrics`.
    pub fn tokens(&self) -> u64 {
        self.token_metrics.iter().filter_map(|m| self.metrics.get(m)).sum()
    }
}

impl CallPayload {
    /// A call of the current schema: fill in the rest.
    pub fn new(
        provider: &str,
        source: &str,
        key: impl Into<String>,
        day: impl Into<String>,
        model: impl Into<String>,
    ) -> CallPayload {
        CallPayload {
            schema: SCHEMA_VERSION,
            provider: provider.into(),
            account: default_account(),
            source: source.into(),
            key: key.into(),
            day: day.into(),
            model: model.into(),
            ..CallPayload::default()
        }
    }
}

impl ProviderPayload {
    /// A provider with a display name; the FOCUS fields left to the host's
    /// defaults.
    pub fn new(provider: &str, display_name: &str) -> ProviderPayload {
        ProviderPayload {
            schema: SCHEMA_VERSION,
            provider: provider.into(),
            display_name: display_name.into(),
            ..ProviderPayload::default()
        }
    }
}

/// Just the day of a payload of any kind, for attributing a payload that
/// does not otherwise read to its day.
#[derive(Debug, Deserialize)]
pub struct DayOf {
    /// UTC day, `YYYY-MM-DD`.
    pub day: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_writer_s_fields_are_ignored() {
        let json = r#"{"schema":3,"provider":"openai","day":"2025-08-01","amount":"1",
            "unit":"major","currency":"usd","carbon_grams":"12.5","region":{"geo":"us"}}"#;
        let p: CostPayload = serde_json::from_str(json).unwrap();
        assert_eq!(p.schema, 3);
        assert_eq!(p.account, "default");
        assert_eq!(p.amount, "1");
    }

    #[test]
    fn a_version_1_payload_still_reads() {
        let json = r#"{"provider":"anthropic","account":"a","day":"2025-08-01","source":"messages",
            "model":null,"project":null,"api_key":null,"user":null,"service_tier":"standard",
            "dims":{},"metrics":{"output_tokens":3}}"#;
        let p: UsagePayload = serde_json::from_str(json).unwrap();
        assert_eq!(p.schema, 1);
        assert!(p.token_metrics.is_empty());
        assert!(!p.not_in_cost);
    }

    #[test]
    fn payloads_round_trip() {
        let mut u = UsagePayload::new("x", "default", "2025-08-01", "s");
        u.metrics.insert("a".into(), 2);
        u.metrics.insert("b".into(), 3);
        u.token_metrics = vec!["a".into(), "b".into(), "c".into()];
        u.not_in_cost = true;
        let back: UsagePayload = serde_json::from_str(&serde_json::to_string(&u).unwrap()).unwrap();
        assert_eq!(back, u);
        assert_eq!(u.tokens(), 5);
        let c = CostPayload::new("x", "default", "2025-08-01");
        let back: CostPayload = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }
}
