//! What the host makes of a plugin's calls: one call per key (the first
//! copy's fields, the largest of each count), which a run applies to its
//! own copies and the plugins' tests to several runs; and totals per day
//! and model, for the tests.

use std::collections::BTreeMap;

use billing_records::{CallPayload, Priced};

use crate::Outcome;

/// Per (day, model): the number of calls and the sum of their counts.
pub type Totals = BTreeMap<(String, String), (u64, Priced)>;

/// Merges one call into `into` as the host's store does; `true` when its
/// key is new.
pub fn merge_call(into: &mut BTreeMap<String, CallPayload>, call: CallPayload) -> bool {
    match into.get_mut(&call.key) {
        Some(kept) => {
            kept.priced = kept.priced.max(call.priced);
            false
        }
        None => {
            into.insert(call.key.clone(), call);
            true
        }
    }
}

/// Merges `calls` into `into` as the host's store does.
pub fn merge(into: &mut BTreeMap<String, CallPayload>, calls: Vec<CallPayload>) {
    for call in calls {
        merge_call(into, call);
    }
}

/// The totals of merged calls.
pub fn totals(calls: &BTreeMap<String, CallPayload>) -> Totals {
    let mut out = Totals::new();
    for c in calls.values() {
        let (n, sum) = out.entry((c.day.clone(), c.model.clone())).or_default();
        *n += 1;
        *sum = sum.plus(c.priced);
    }
    out
}

/// The totals of one run's calls.
pub fn run_totals(out: &Outcome) -> Totals {
    let mut merged = BTreeMap::new();
    merge(&mut merged, out.calls.clone());
    totals(&merged)
}
