//! 5-hour blocks of local-log calls (the window Claude's plans reset on),
//! with the rule ccusage documents, the gaps between them, and the active
//! block's burn rate and projection. Pure: calls in, blocks out.
//!
//! The rule, as ccusage's `identifySessionBlocks` applies it: calls are
//! taken oldest first; a block starts at the floor of the UTC hour of its
//! first call and ends 5 hours later; a call joins the current block unless
//! it comes *more than* 5 hours after the block's start or after the block's
//! last call, and then it starts a new block. A call exactly at the block's
//! end still joins it. When more than 5 hours passed since the last call, a
//! gap is listed from that call plus 5 hours to the next call. A block is
//! active when its last call is less than 5 hours ago and its end is still
//! ahead.

use chrono::{DateTime, Duration, DurationRound, SecondsFormat, Utc};
use serde::Serialize;

use super::money::Money;

/// A block's length, and the silence after which a new one starts.
pub const BLOCK_HOURS: i64 = 5;

/// One call, timed and priced.
#[derive(Debug, Clone)]
pub struct TimedCall {
    /// When it was logged.
    pub at: DateTime<Utc>,
    /// Model.
    pub model: String,
    /// The token counts.
    pub counts: billing_records::Priced,
    /// Its estimated cost, or `None` when no price covers it.
    pub cost: Option<Money>,
}

/// Token counts of a block (ccusage's `tokenCounts`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BlockTokens {
    /// Uncached input.
    pub input: u64,
    /// Output.
    pub output: u64,
    /// Cache writes (5-minute and 1-hour).
    pub cache_write: u64,
    /// Cache reads.
    pub cache_read: u64,
    /// All of them.
    pub total: u64,
}

/// How fast the active block spends, from its first call to its last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BurnRate {
    /// Every token per minute (ccusage's `tokensPerMinute`), two decimals.
    pub tokens_per_minute: String,
    /// Input and output tokens per minute, cache left out (ccusage's
    /// `tokensPerMinuteForIndicator`), two decimals.
    pub tokens_per_minute_indicator: String,
    /// Every token per hour, two decimals.
    pub tokens_per_hour: String,
    /// Estimated USD per hour, six decimals (a rate, not an amount).
    pub cost_per_hour: String,
}

/// Where the active block ends if it keeps its burn rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Projection {
    /// Whole minutes until the block's end.
    pub remaining_minutes: i64,
    /// Tokens at the block's end, rounded to a whole token.
    pub tokens: u64,
    /// Estimated cost at the block's end, six decimals.
    pub cost: String,
}

/// One block, or a gap between two.
#[derive(Debug, Clone, Serialize)]
pub struct Block {
    /// Which log's calls (`claude_code`, `codex`): each agent's plan has its
    /// own windows, so blocks never mix them.
    pub source: String,
    /// The start in RFC 3339 (`gap-` and the start for a gap), as ccusage's ids.
    pub id: String,
    /// Start (a whole UTC hour for a block).
    pub start: String,
    /// End: start plus 5 hours (for a gap: the next call).
    pub end: String,
    /// The last call's instant (none for a gap).
    pub actual_end: Option<String>,
    /// Whether it is a gap: no calls.
    pub is_gap: bool,
    /// Whether it is under way.
    pub is_active: bool,
    /// Calls.
    pub calls: usize,
    /// Tokens.
    pub tokens: BlockTokens,
    /// Estimated cost of the priced calls, exact.
    pub cost: String,
    /// Tokens of calls no price covers (left out of `cost`).
    pub unpriced_tokens: u64,
    /// Models, in order of first use.
    pub models: Vec<String>,
    /// The active block's burn rate (none when its calls span no time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burn_rate: Option<BurnRate>,
    /// The active block's projection to its end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projection: Option<Projection>,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The blocks and gaps of one source's `calls` (any order), oldest first,
/// seen at `now`.
pub fn identify(source: &str, mut calls: Vec<TimedCall>, now: DateTime<Utc>) -> Vec<Block> {
    calls.sort_by_key(|c| c.at);
    let span = Duration::hours(BLOCK_HOURS);
    let mut out = Vec::new();
    let mut current: Vec<TimedCall> = Vec::new();
    let mut start = DateTime::<Utc>::MIN_UTC;
    for call in calls {
        if let Some(last) = current.last() {
            let since_last = call.at - last.at;
            if call.at - start > span || since_last > span {
                let last_at = last.at;
                out.push(block(source, start, std::mem::take(&mut current), now));
                if since_last > span {
                    out.push(gap(source, last_at + span, call.at));
                }
            }
        }
        if current.is_empty() {
            start = floor_hour(call.at);
        }
        current.push(call);
    }
    if !current.is_empty() {
        out.push(block(source, start, current, now));
    }
    out
}

fn floor_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::hours(1)).unwrap_or(t)
}

fn gap(source: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> Block {
    Block {
        source: source.to_string(),
        id: format!("gap-{}", rfc3339(start)),
        start: rfc3339(start),
        end: rfc3339(end),
        actual_end: None,
        is_gap: true,
        is_active: false,
        calls: 0,
        tokens: BlockTokens::default(),
        cost: Money::zero().to_stored(),
        unpriced_tokens: 0,
        models: Vec::new(),
        burn_rate: None,
        projection: None,
    }
}

fn block(source: &str, start: DateTime<Utc>, calls: Vec<TimedCall>, now: DateTime<Utc>) -> Block {
    let end = start + Duration::hours(BLOCK_HOURS);
    let (first, last) = (calls[0].at, calls[calls.len() - 1].at);
    let is_active = now - last < Duration::hours(BLOCK_HOURS) && now < end;
    let mut tokens = BlockTokens::default();
    let mut cost = Money::zero();
    let mut unpriced_tokens = 0u64;
    let mut models: Vec<String> = Vec::new();
    for c in &calls {
        let p = &c.counts;
        tokens.input += p.input;
        tokens.output += p.output;
        tokens.cache_write += p.cache_write_5m + p.cache_write_1h;
        tokens.cache_read += p.cache_read;
        tokens.total += p.tokens();
        match &c.cost {
            Some(m) => cost += m,
            None => unpriced_tokens += p.tokens(),
        }
        if !models.contains(&c.model) {
            models.push(c.model.clone());
        }
    }
    let rate = if is_active { burn_rate(&tokens, &cost, last - first) } else { None };
    let projection = rate.as_ref().map(|r| project(&tokens, &cost, r, end - now));
    Block {
        source: source.to_string(),
        id: rfc3339(start),
        start: rfc3339(start),
        end: rfc3339(end),
        actual_end: Some(rfc3339(last)),
        is_gap: false,
        is_active,
        calls: calls.len(),
        tokens,
        cost: cost.to_stored(),
        unpriced_tokens,
        models,
        burn_rate: rate.map(|r| r.shown),
        projection,
    }
}

/// A burn rate as shown, and the exact per-millisecond rates behind it.
struct Rate {
    shown: BurnRate,
    tokens_per_ms: bigdecimal::BigDecimal,
    cost_per_ms: bigdecimal::BigDecimal,
}

fn burn_rate(tokens: &BlockTokens, cost: &Money, spent: Duration) -> Option<Rate> {
    use bigdecimal::BigDecimal;
    let ms = spent.num_milliseconds();
    if ms <= 0 {
        return None;
    }
    let ms = BigDecimal::from(ms);
    let io = BigDecimal::from(tokens.input + tokens.output);
    let tokens_per_ms = BigDecimal::from(tokens.total) / &ms;
    let cost_per_ms = cost.decimal() / &ms;
    let minute = BigDecimal::from(60_000);
    let hour = BigDecimal::from(3_600_000);
    Some(Rate {
        shown: BurnRate {
            tokens_per_minute: (&tokens_per_ms * &minute).round(2).to_string(),
            tokens_per_minute_indicator: (io * &minute / &ms).round(2).to_string(),
            tokens_per_hour: (&tokens_per_ms * &hour).round(2).to_string(),
            cost_per_hour: (&cost_per_ms * &hour).round(6).to_string(),
        },
        tokens_per_ms,
        cost_per_ms,
    })
}

fn project(tokens: &BlockTokens, cost: &Money, rate: &Rate, left: Duration) -> Projection {
    use bigdecimal::{BigDecimal, ToPrimitive};
    let ms = BigDecimal::from(left.num_milliseconds().max(0));
    let more_tokens = (&rate.tokens_per_ms * &ms).round(0).to_u64().unwrap_or(0);
    Projection {
        remaining_minutes: left.num_minutes().max(0),
        tokens: tokens.total.saturating_add(more_tokens),
        cost: (cost.decimal() + &rate.cost_per_ms * &ms).round(6).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn call(t: &str, input: u64, output: u64, cost: &str) -> TimedCall {
        TimedCall {
            at: at(t),
            model: "claude-sonnet-4-5".into(),
            counts: billing_records::Priced { input, output, ..Default::default() },
            cost: Some(Money::parse_major(cost).unwrap()),
        }
    }

    // The rule and the arithmetic, by hand:
    //   08:20 → block A starts at floor(08:20) = 08:00, ends 13:00.
    //   10:00 → 1h40 after 08:20, 2h after 08:00: joins A.
    //   13:00 → exactly A's end (5h after its start, not more): joins A.
    //   13:30 → 5h30 after A's start: a new block B at 13:00, ends 18:00.
    //           Since A's last call (13:00) only 30 min passed: no gap.
    //   19:10 → 6h10 after B's start: a new block. 5h40 since B's last call
    //           (13:30), more than 5h: a gap from 13:30 + 5h = 18:30 to 19:10.
    //           Block C starts at 19:00, ends 00:00.
    //   A: 3 calls, input 100+200+300 = 600, output 10+20+30 = 60, cost
    //      0.01 + 0.02 + 0.03 = 0.06. B: 1 call. C: 1 call.
    #[test]
    fn blocks_gaps_and_a_call_exactly_at_the_end() {
        let calls = vec![
            call("2026-11-01T10:00:00Z", 200, 20, "0.02"),
            call("2026-11-01T08:20:00Z", 100, 10, "0.01"),
            call("2026-11-01T13:00:00Z", 300, 30, "0.03"),
            call("2026-11-01T13:30:00Z", 50, 5, "0.005"),
            call("2026-11-01T19:10:00Z", 70, 7, "0.007"),
        ];
        let blocks = identify("claude_code", calls, at("2026-11-03T00:00:00Z"));
        let ids: Vec<(&str, &str, bool)> =
            blocks.iter().map(|b| (b.start.as_str(), b.end.as_str(), b.is_gap)).collect();
        assert_eq!(
            ids,
            [
                ("2026-11-01T08:00:00.000Z", "2026-11-01T13:00:00.000Z", false),
                ("2026-11-01T13:00:00.000Z", "2026-11-01T18:00:00.000Z", false),
                ("2026-11-01T18:30:00.000Z", "2026-11-01T19:10:00.000Z", true),
                ("2026-11-01T19:00:00.000Z", "2026-11-02T00:00:00.000Z", false),
            ]
        );
        let a = &blocks[0];
        assert_eq!((a.calls, a.tokens.input, a.tokens.output, a.tokens.total), (3, 600, 60, 660));
        assert_eq!(a.cost, "0.06");
        assert_eq!(a.actual_end.as_deref(), Some("2026-11-01T13:00:00.000Z"));
        assert!(blocks.iter().all(|b| !b.is_active && b.burn_rate.is_none()));
        assert_eq!(blocks[2].id, "gap-2026-11-01T18:30:00.000Z");
    }

    // Active block: calls at 08:10 and 09:10 (1h apart), now 10:10.
    //   Block 08:00–13:00, last call 1h ago (< 5h), end ahead: active.
    //   Tokens 1000+100 + 2000+200 = 3300 input and output, plus 600
    //   cache reads = 3900, over 60 min: tokens_per_minute = 3900 / 60 =
    //   65.00, the indicator 3300 / 60 = 55.00, per hour 3900.00.
    //   Cost 0.10 + 0.20 = 0.30 over 1h: cost_per_hour = 0.300000.
    //   Left: 13:00 − 10:10 = 170 min: tokens 3900 + 65 × 170 = 14950,
    //   cost 0.30 + 0.30 × 170/60 = 0.30 + 0.85 = 1.150000.
    #[test]
    fn the_active_block_burns_and_projects() {
        let calls = vec![
            call("2026-11-01T08:10:00Z", 1000, 100, "0.10"),
            TimedCall {
                counts: billing_records::Priced {
                    input: 2000,
                    output: 200,
                    cache_read: 600,
                    ..Default::default()
                },
                ..call("2026-11-01T09:10:00Z", 0, 0, "0.20")
            },
        ];
        let blocks = identify("claude_code", calls, at("2026-11-01T10:10:00Z"));
        assert_eq!(blocks.len(), 1);
        let b = &blocks[0];
        assert!(b.is_active);
        let r = b.burn_rate.as_ref().unwrap();
        assert_eq!(r.tokens_per_minute, "65.00");
        assert_eq!(r.tokens_per_minute_indicator, "55.00");
        assert_eq!(r.tokens_per_hour, "3900.00");
        assert_eq!(r.cost_per_hour, "0.300000");
        let p = b.projection.as_ref().unwrap();
        assert_eq!((p.remaining_minutes, p.tokens, p.cost.as_str()), (170, 14950, "1.150000"));
        // Five hours after the last call the block is over, even before its end.
        let later = identify(
            "claude_code",
            vec![call("2026-11-01T08:00:00Z", 1, 1, "0")],
            at("2026-11-01T13:00:00Z"),
        );
        assert!(!later[0].is_active);
    }
}
