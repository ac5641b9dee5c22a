//! Paging and grouping shared by the OpenAI and Anthropic emulations:
//! opaque cursors (which need percent-encoding), `limit` bounds, and rows
//! grouped by the requested dimensions with their values summed.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::data::Revision;
use crate::wire::{bad, param, Fail};

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An opaque cursor (with `+`, `/` and `=` in it, so clients must encode it).
pub(crate) fn cursor(offset: usize) -> String {
    format!("page_{}", b64(format!("offset>{offset}?sim").as_bytes()))
}

pub(crate) fn offset_of(page: Option<&str>, max: usize) -> Result<usize, Fail> {
    let Some(p) = page else { return Ok(0) };
    (1..=max + 400)
        .find(|o| cursor(*o) == p)
        .ok_or_else(|| bad(format!("invalid page cursor {p:?}")))
}

pub(crate) fn limit(
    params: &[(String, String)],
    default: usize,
    max: usize,
) -> Result<usize, Fail> {
    match param(params, "limit") {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(bad(format!("limit must be between 1 and {max}, got {v}"))),
        },
    }
}

/// Merges `b` into `a`: whole numbers and decimal `amount`/`value` text are
/// summed, nested objects merged.
fn merge(a: &mut Map<String, Value>, b: &Map<String, Value>) {
    for (k, v) in b {
        match (a.get_mut(k), v) {
            (Some(Value::Number(x)), Value::Number(y)) => {
                if let (Some(x1), Some(y1)) = (x.as_u64(), y.as_u64()) {
                    *x = (x1 + y1).into();
                }
            }
            (Some(Value::Object(x)), Value::Object(y)) => merge(x, y),
            (Some(Value::String(x)), Value::String(y)) if k == "amount" || k == "value" => {
                let s: Decimal = x.parse::<Decimal>().unwrap_or_default()
                    + y.parse::<Decimal>().unwrap_or_default();
                *x = s.normalize().to_string();
            }
            _ => {}
        }
    }
}

/// Groups rows by the requested dimensions: the others become null and
/// rows that then look alike are summed.
pub(crate) fn group(
    rows: Vec<Map<String, Value>>,
    dims: &[&str],
    grouped: &[String],
) -> Vec<Map<String, Value>> {
    let mut out: Vec<(String, Map<String, Value>)> = Vec::new();
    for mut row in rows {
        for d in dims {
            if !grouped.iter().any(|g| g == d) {
                row.insert((*d).to_string(), Value::Null);
            }
        }
        let key = dims
            .iter()
            .map(|d| row.get(*d).map(|v| v.to_string()).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("|");
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, existing)) => merge(existing, &row),
            None => out.push((key, row)),
        }
    }
    out.into_iter().map(|(_, r)| r).collect()
}

pub(crate) fn days(from: NaiveDate, to_exclusive: NaiveDate) -> Vec<NaiveDate> {
    from.iter_days().take_while(|d| *d < to_exclusive).collect()
}

pub(crate) fn rev(revisions: &BTreeMap<NaiveDate, u32>, day: NaiveDate) -> Revision {
    Revision(revisions.get(&day).copied().unwrap_or(0))
}

/// Pages `buckets` by `limit` from the cursor; an endless cursor never stops.
pub(crate) fn paginate(
    all: Vec<NaiveDate>,
    limit: usize,
    page: Option<&str>,
    endless: bool,
) -> Result<(Vec<NaiveDate>, Option<String>), Fail> {
    let offset = offset_of(page, all.len() + if endless { 10_000 } else { 0 })?;
    let end = (offset + limit).min(all.len());
    let slice = all.get(offset.min(all.len())..end).unwrap_or_default().to_vec();
    let next = if end < all.len() || endless { Some(cursor(offset + limit)) } else { None };
    Ok((slice, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_need_encoding() {
        let c = cursor(31);
        assert!(c.contains('=') || c.contains('+') || c.contains('/'));
        assert_eq!(offset_of(Some(&c), 100).unwrap(), 31);
        assert!(offset_of(Some("page_bogus"), 100).is_err());
    }
}
