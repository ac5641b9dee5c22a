//! Store upsert throughput against plain batched rusqlite inserts of the
//! same rows, measured side by side. Prints one JSON line.
//!
//!     cargo run --release -p agent-host --example bench_store -- [ROWS]
//!
//! The store's path is the one a collector run takes: read the stored rows
//! of the run's days, insert or update by natural key, record revisions, in
//! one transaction on a WAL database with `synchronous=FULL`. The plain path
//! is one prepared `INSERT` per row in one transaction into the same table
//! (created by the store's migrations), with the same pragmas.

use std::time::Instant;

use agent_host::billing::money::Money;
use agent_host::billing::records::{CostKey, CostRow, Rows};
use agent_host::kernel::sink::SinkInput;
use agent_host::store::Store;
use chrono::{Days, NaiveDate};

fn rows(n: usize, bump: bool) -> Rows {
    let start: NaiveDate = "2025-01-01".parse().expect("a date");
    let per_day = n / 365 + 1;
    let mut rows = Rows::default();
    for i in 0..n {
        let day = start + Days::new((i / per_day) as u64);
        let cents = (i * 7919) % 1_000_000 + usize::from(bump && i % 100 == 0);
        let key = CostKey {
            provider: if i % 2 == 0 { "openai" } else { "anthropic" }.into(),
            account: "default".into(),
            day,
            project: format!("proj_{}", i % 11),
            api_key: format!("key_{}", i % 7),
            line_item: format!("model-{}, input #{i}", i % 20),
            model: format!("model-{}", i % 20),
            token_type: String::new(),
            cost_type: "tokens".into(),
            service_tier: "standard".into(),
            context_window: String::new(),
        };
        let amount = Money::parse_major(&format!("{}.{:05}", cents / 100_000, cents % 100_000))
            .expect("an amount");
        rows.costs.insert(
            key.clone(),
            CostRow {
                key,
                amount,
                currency: "USD".into(),
                quantity: Some(cents.to_string()),
                quantity_unit: Some("tokens".into()),
            },
        );
    }
    rows
}

fn store_pass(store: &mut Store, rows: &Rows, days: &[NaiveDate]) -> (f64, usize, usize) {
    let claims = ["openai".to_string(), "anthropic".to_string()];
    let input = SinkInput {
        plugin: "bench",
        run_id: "bench-run",
        window: days.first().zip(days.last()).map(|(a, b)| (*a, *b)),
        complete_days: days,
        metadata: "{}",
        collected_at: "2026-01-01T00:00:00Z",
        claims: &claims,
        observes: &[],
        account: None,
    };
    let t0 = Instant::now();
    let tx = store.transaction().expect("a transaction");
    let done = tx.replace_billing_days(&input, rows).expect("the upsert");
    tx.commit().expect("the commit");
    (t0.elapsed().as_secs_f64(), done.written, done.revisions.len())
}

fn plain_pass(path: &std::path::Path, rows: &Rows) -> f64 {
    // The same schema, made by the store's own migrations; then bare inserts.
    drop(Store::open(path).expect("the schema"));
    let mut conn = rusqlite::Connection::open(path).expect("a database");
    conn.execute_batch("PRAGMA synchronous=FULL;").expect("the pragmas");
    let t0 = Instant::now();
    let tx = conn.transaction().expect("a transaction");
    {
        let mut stmt = tx
            .prepare("INSERT INTO cost_rows VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18)")
            .expect("a statement");
        for r in rows.costs.values() {
            let k = &r.key;
            stmt.execute(rusqlite::params![
                k.provider,
                k.account,
                k.day.to_string(),
                k.project,
                k.api_key,
                k.line_item,
                k.model,
                k.token_type,
                k.cost_type,
                k.service_tier,
                k.context_window,
                r.amount.to_stored(),
                r.currency,
                r.quantity,
                r.quantity_unit,
                "bench",
                "bench-run",
                "2026-01-01T00:00:00Z"
            ])
            .expect("an insert");
        }
    }
    tx.commit().expect("the commit");
    t0.elapsed().as_secs_f64()
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let dir = tempfile_dir();
    let first = rows(n, false);
    let days: Vec<NaiveDate> = {
        let mut d: Vec<NaiveDate> = first.costs.keys().map(|k| k.day).collect();
        d.dedup();
        d
    };
    // `store-first` swaps the order of the two timed inserts, so repeated
    // samples can alternate which one runs on a warmer machine.
    let store_first = std::env::args().nth(2).as_deref() == Some("store-first");
    let mut store = Store::open(&dir.join("agent_os.db")).expect("the store");
    let (plain, (insert, written, _)) = if store_first {
        let s = store_pass(&mut store, &first, &days);
        (plain_pass(&dir.join("plain.db"), &first), s)
    } else {
        let p = plain_pass(&dir.join("plain.db"), &first);
        (p, store_pass(&mut store, &first, &days))
    };
    assert_eq!(written, n);
    let (same, unchanged_writes, _) = store_pass(&mut store, &first, &days);
    let (revised, revised_writes, revisions) = store_pass(&mut store, &rows(n, true), &days);
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{{\"rows\":{n},\"plain_insert_s\":{plain:.3},\"store_insert_s\":{insert:.3},\
         \"store_rerun_unchanged_s\":{same:.3},\"unchanged_writes\":{unchanged_writes},\
         \"store_rerun_revised_s\":{revised:.3},\"revised_writes\":{revised_writes},\"revisions\":{revisions},\
         \"sqlite\":\"{}\"}}",
        rusqlite::version()
    );
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("agent-host-bench-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp folder");
    dir
}
