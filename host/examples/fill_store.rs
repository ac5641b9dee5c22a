//! Fills a store with a year of billed rows through the billing
//! application's own write path (what a collector run stores: rows replaced
//! by natural key, revisions, per-day results and daily totals), for the
//! summary benchmarks. Prints one JSON line.
//!
//!     cargo run --release -p agent-host --example fill_store -- ROWS
//!
//! The store is `AGENT_STORE_URL` when set, else `$AGENT_HOME/agent_os.db`.
//! The shapes follow the simulator's: two providers, 20 models, 11
//! projects (one of them empty), 7 keys, three token kinds, amounts to five
//! places, and a token counter per provider, day, model and project. One
//! transaction per month, as a backfill commits its windows.

use std::collections::BTreeSet;
use std::time::Instant;

use agent_host::billing::money::Money;
use agent_host::billing::records::{CostKey, CostRow, Rows, UsageKey, UsageRow};
use agent_host::kernel::sink::SinkInput;
use agent_host::store::{Location, Store};
use chrono::{Datelike, Days, NaiveDate};

const MODELS: usize = 20;
const PROJECTS: usize = 11;
const KINDS: [&str; 3] = ["input", "output", "cached input"];

fn project(i: usize) -> String {
    if i % PROJECTS == PROJECTS - 1 {
        String::new()
    } else {
        format!("proj_{}", i % PROJECTS)
    }
}

/// The cost rows of `day` (its index `d` in the year), `per_day` of them,
/// and the day's token counters.
fn day_rows(rows: &mut Rows, day: NaiveDate, d: usize, per_day: usize, left: &mut usize) {
    for i in 0..per_day.min(*left) {
        *left -= 1;
        let provider = if i % 2 == 1 { "openai" } else { "anthropic" };
        let model = format!("model-{}", i % MODELS);
        let cents = (i * 7919 + d * 104_729) % 1_000_000;
        let key = CostKey {
            provider: provider.into(),
            account: "default".into(),
            day,
            project: project(i / 3),
            api_key: format!("key_{}", i % 7),
            line_item: format!("{model}, {} #{}", KINDS[i % 3], i / 660),
            model,
            token_type: String::new(),
            cost_type: "tokens".into(),
            service_tier: "standard".into(),
            context_window: String::new(),
        };
        let amount = Money::parse_major(&format!("{}.{:05}", cents / 100_000, cents % 100_000))
            .expect("an amount");
        let row = CostRow {
            key: key.clone(),
            amount,
            currency: "USD".into(),
            quantity: Some((cents * 13).to_string()),
            quantity_unit: Some("tokens".into()),
        };
        rows.costs.insert(key, row);
    }
    for provider in ["openai", "anthropic"] {
        for m in 0..MODELS {
            for p in 0..PROJECTS {
                let key = UsageKey {
                    provider: provider.into(),
                    account: "default".into(),
                    day,
                    source: if provider == "openai" { "completions" } else { "messages" }.into(),
                    model: format!("model-{m}"),
                    project: project(p),
                    api_key: String::new(),
                    user_id: String::new(),
                    service_tier: "standard".into(),
                    dims: String::new(),
                    metric: "output_tokens".into(),
                };
                let quantity = ((m * 7919 + p * 104_729 + d * 31) % 100_000) as i64;
                let row = UsageRow {
                    key: key.clone(),
                    quantity,
                    counts_as_tokens: true,
                    not_in_cost: false,
                };
                rows.usage.insert(key, row);
            }
        }
    }
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let at = match std::env::var("AGENT_STORE_URL") {
        Ok(url) => Location::parse(&url).expect("a store URL"),
        Err(_) => {
            let home = std::env::var("AGENT_HOME").expect("AGENT_HOME or AGENT_STORE_URL");
            Location::Sqlite(std::path::Path::new(&home).join("agent_os.db"))
        }
    };
    let mut store = Store::open_at(&at).expect("the store");
    let start: NaiveDate = "2025-01-01".parse().expect("a date");
    let per_day = n / 365 + 1;
    let claims = ["openai".to_string(), "anthropic".to_string()];
    let providers: BTreeSet<String> = claims.iter().cloned().collect();
    let mut left = n;
    let t0 = Instant::now();
    let mut d = 0;
    while d < 365 {
        let month = (start + Days::new(d as u64)).month();
        let mut rows = Rows::default();
        let mut days = Vec::new();
        while d < 365 && (start + Days::new(d as u64)).month() == month {
            let day = start + Days::new(d as u64);
            day_rows(&mut rows, day, d, per_day, &mut left);
            days.push(day);
            d += 1;
        }
        let input = SinkInput {
            plugin: "bench",
            run_id: "bench-run",
            window: days.first().zip(days.last()).map(|(a, b)| (*a, *b)),
            complete_days: &days,
            metadata: "{}",
            collected_at: "2026-01-01T00:00:00Z",
            claims: &claims,
            observes: &[],
            account: None,
        };
        let tx = store.transaction().expect("a transaction");
        tx.replace_billing_days(&input, &rows).expect("the rows");
        tx.refresh_results(&providers, &days, "2026-01-01T00:00:00Z").expect("the totals");
        tx.commit().expect("the commit");
    }
    println!("{{\"rows\": {}, \"seconds\": {:.3}}}", n - left, t0.elapsed().as_secs_f64());
}
