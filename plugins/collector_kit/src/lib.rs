//! What the billing collectors share: splitting a day range into the fewest
//! requests the page limits allow, following `has_more`/`next_page` through
//! the host's HTTP capability, reading provider error bodies, and the record
//! payloads the host's billing application expects.
//!
//! Everything but [`fetch_all`] is pure and unit-tested here.

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use plugin_api::{HttpRequest, PluginCtx, PluginResult, Record, RunMetadata};
use serde::{Deserialize, Serialize};

/// How often the host retries a 429/5xx/529 answer before giving up.
pub const RETRIES: u32 = 4;

/// The days a run covers, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
}

impl DayRange {
    /// From the run request's `from`/`to`.
    pub fn from_request(req: &plugin_api::RunRequest) -> Result<DayRange, String> {
        let parse = |v: &Option<String>, name: &str| -> Result<NaiveDate, String> {
            let v = v.as_deref().ok_or_else(|| format!("the host sent no {name} day"))?;
            NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map_err(|_| format!("invalid {name} day {v:?}"))
        };
        let range = DayRange { from: parse(&req.from, "from")?, to: parse(&req.to, "to")? };
        if range.from > range.to {
            return Err(format!("from {} is after to {}", range.from, range.to));
        }
        Ok(range)
    }

    /// Number of days.
    pub fn len(&self) -> u64 {
        (self.to - self.from).num_days() as u64 + 1
    }

    /// Whether the range is empty (never, for a valid range).
    pub fn is_empty(&self) -> bool {
        self.to < self.from
    }

    /// Splits into consecutive ranges of at most `days` days: one request
    /// each, so a page limit of `days` buckets needs no cursor at all.
    pub fn chunks(&self, days: u64) -> Vec<DayRange> {
        let mut out = Vec::new();
        let mut start = self.from;
        while start <= self.to {
            let end = (start + Days::new(days.max(1) - 1)).min(self.to);
            out.push(DayRange { from: start, to: end });
            start = end + Days::new(1);
        }
        out
    }

    /// Whether `day` is inside.
    pub fn contains(&self, day: NaiveDate) -> bool {
        day >= self.from && day <= self.to
    }

    /// Every day, in order.
    pub fn days(&self) -> impl Iterator<Item = NaiveDate> {
        let to = self.to;
        self.from.iter_days().take_while(move |d| *d <= to)
    }
}

/// Percent-encodes a query component (RFC 3986 unreserved characters kept).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// One paginated query: a URL without `page`, plus headers.
#[derive(Debug, Clone)]
pub struct Query {
    /// Name for messages, e.g. `costs 2025-01-01..2025-06-29`.
    pub name: String,
    /// Base URL with every parameter but `page`.
    pub url: String,
    /// Request headers.
    pub headers: Vec<(String, String)>,
    /// Pages expected at most; more means the cursor never ends.
    pub max_pages: usize,
    /// The days its answer covers: lost if it fails.
    pub days: DayRange,
}

impl Query {
    fn request(&self, page: Option<&str>) -> HttpRequest {
        let url = match page {
            Some(p) => format!("{}&page={}", self.url, encode(p)),
            None => self.url.clone(),
        };
        let mut req = HttpRequest::get(&url).retries(RETRIES);
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        req
    }
}

/// The envelope both providers share.
#[derive(Debug, Deserialize)]
pub struct Envelope<T> {
    /// Time buckets.
    pub data: Vec<T>,
    /// Whether another page follows.
    #[serde(default)]
    pub has_more: bool,
    /// The cursor for it.
    #[serde(default)]
    pub next_page: Option<String>,
}

/// Parses one page.
pub fn parse_page<T: for<'de> Deserialize<'de>>(body: &str) -> Result<Envelope<T>, String> {
    serde_json::from_str(body).map_err(|e| json_error(&e, body))
}

/// Why `body` did not parse, in words a log reader can act on.
fn json_error(e: &serde_json::Error, body: &str) -> String {
    if e.is_eof() {
        format!("truncated JSON response ({e})")
    } else if body.trim_start().starts_with('<') {
        "the response is HTML, not JSON".to_string()
    } else {
        format!("unexpected response shape: {e}")
    }
}

/// The provider's own message for an error answer: both APIs put it in
/// `error.message`.
pub fn provider_error(status: u16, body: &str) -> String {
    #[derive(Deserialize)]
    struct Inner {
        message: Option<String>,
        #[serde(rename = "type")]
        kind: Option<String>,
    }
    #[derive(Deserialize)]
    struct Outer {
        error: Inner,
    }
    match serde_json::from_str::<Outer>(body) {
        Ok(Outer { error: Inner { message: Some(m), kind } }) => match kind {
            Some(k) => format!("HTTP {status} ({k}): {m}"),
            None => format!("HTTP {status}: {m}"),
        },
        _ => {
            let snippet: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
            let snippet: String = snippet.chars().take(120).collect();
            if snippet.is_empty() {
                format!("HTTP {status} with an empty body")
            } else {
                format!("HTTP {status}: {snippet}")
            }
        }
    }
}

/// What [`fetch_all`] brought back.
#[derive(Debug, Default)]
pub struct Fetched {
    /// Each query's page bodies, in order; `None` for a query that failed.
    pub pages: Vec<Option<Vec<String>>>,
    /// Why each failed query failed, one line each.
    pub failures: Vec<String>,
    /// The days the failed queries cover: not complete in this run.
    pub lost: Vec<DayRange>,
    /// Requests made.
    pub requests: u64,
}

impl Fetched {
    /// Parses every fetched page with `parse` (one query's page into
    /// `(day, record)` pairs, keeping only days inside the query's own
    /// window) and returns the records. A query costs only its own days
    /// when one of its pages does not parse, or when a day comes back in
    /// two of its pages (a page returned twice would be counted twice):
    /// its records are dropped, its days lost, the reason kept.
    pub fn parse(
        &mut self,
        queries: &[Query],
        parse: impl Fn(&Query, &str) -> Result<Vec<(String, Record)>, String>,
    ) -> Vec<Record> {
        let mut records = Vec::new();
        for (i, query) in queries.iter().enumerate() {
            let Some(pages) = &self.pages[i] else { continue };
            match parse_query(query, pages, &parse) {
                Ok(r) => records.extend(r),
                Err(e) => {
                    self.failures.push(format!("{}: {e}", query.name));
                    self.lost.push(query.days);
                    self.pages[i] = None;
                }
            }
        }
        records
    }

    /// The first failure when nothing at all was fetched.
    pub fn nothing(&self) -> Option<&str> {
        self.pages.iter().all(Option::is_none).then(|| self.failures.first().map(String::as_str))?
    }
}

/// One query's pages parsed, or why they cannot be trusted: a day whose
/// records a later page repeats exactly is a page returned twice, which
/// would be counted twice. (A day whose results simply continue on the next
/// page is kept.)
fn parse_query(
    query: &Query,
    pages: &[String],
    parse: &impl Fn(&Query, &str) -> Result<Vec<(String, Record)>, String>,
) -> Result<Vec<Record>, String> {
    let mut seen: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    let mut out = Vec::new();
    for body in pages {
        let rows = parse(query, body)?;
        let mut page: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
        for (day, r) in &rows {
            page.entry(day.clone()).or_default().insert(r.payload_json.to_string());
        }
        for (day, payloads) in &page {
            if seen.get(day).is_some_and(|before| payloads.is_subset(before)) {
                return Err(format!("the day {day} came back twice; not counted twice"));
            }
        }
        for (day, payloads) in page {
            seen.entry(day).or_default().extend(payloads);
        }
        out.extend(rows.into_iter().map(|(_, r)| r));
    }
    Ok(out)
}

/// Fetches every page of every query, overlapping independent requests
/// through `http_all`. A query that fails costs only its own days: the
/// others are still fetched, and the run can keep every day it got.
pub fn fetch_all(ctx: &PluginCtx<'_>, queries: &[Query]) -> Fetched {
    let mut out = Fetched { pages: vec![Some(Vec::new()); queries.len()], ..Fetched::default() };
    let mut next: Vec<Option<Option<String>>> = vec![Some(None); queries.len()];
    loop {
        let pending: Vec<usize> = (0..queries.len()).filter(|i| next[*i].is_some()).collect();
        if pending.is_empty() {
            return out;
        }
        let reqs: Vec<HttpRequest> = pending
            .iter()
            .map(|&i| queries[i].request(next[i].as_ref().and_then(|p| p.as_deref())))
            .collect();
        out.requests += reqs.len() as u64;
        let answers = ctx.http_all(&reqs);
        for (&i, answer) in pending.iter().zip(answers) {
            let q = &queries[i];
            let previous = next[i].take().flatten();
            let pages = out.pages[i].get_or_insert_with(Vec::new);
            match next_page(q, answer, previous.as_deref(), pages) {
                Ok(cursor) => next[i] = cursor.map(Some),
                Err(e) => {
                    out.failures.push(format!("{}: {e}", q.name));
                    out.lost.push(q.days);
                    out.pages[i] = None;
                }
            }
        }
    }
}

/// Keeps one answer's body in `pages` and returns the cursor of the page
/// after it, if any.
fn next_page(
    q: &Query,
    answer: Result<plugin_api::HttpResponse, String>,
    previous: Option<&str>,
    pages: &mut Vec<String>,
) -> Result<Option<String>, String> {
    #[derive(Deserialize)]
    struct Cursor {
        #[serde(default)]
        has_more: bool,
        #[serde(default)]
        next_page: Option<String>,
    }
    let resp = answer?;
    let body = resp.text().into_owned();
    if !(200..300).contains(&resp.status) {
        return Err(provider_error(resp.status, &body));
    }
    let cursor: Cursor = serde_json::from_str(&body).map_err(|e| json_error(&e, &body))?;
    pages.push(body);
    match (cursor.has_more, cursor.next_page.filter(|p| !p.is_empty())) {
        (true, None) => Err("the API said more pages follow but sent no cursor".into()),
        (true, Some(p)) => {
            if previous == Some(p.as_str()) {
                return Err("the API returned the same cursor twice".into());
            }
            if pages.len() >= q.max_pages {
                return Err(format!(
                    "pagination did not end after {} pages; giving up",
                    pages.len()
                ));
            }
            Ok(Some(p))
        }
        _ => Ok(None),
    }
}

/// The key to use: `admin` if set, else `plain` with a warning that the
/// usage and cost endpoints need an admin key.
pub fn admin_key(
    ctx: &PluginCtx<'_>,
    admin: &str,
    plain: &str,
    example: &str,
) -> Result<String, String> {
    if let Some(k) = ctx.secret(admin) {
        return Ok(k);
    }
    let k = ctx
        .secret(plain)
        .ok_or_else(|| format!("no key: set {admin} (an admin key, {example})"))?;
    ctx.warn(&format!(
        "{admin} is not set; using {plain}, but the usage and cost endpoints need an admin key"
    ));
    Ok(k)
}

/// The run's result for `provider`: a failure when nothing at all could be
/// fetched or read, a success, or a partial result whose
/// complete days leave out the days of the queries that failed (the host
/// stores only complete days, and the next run asks for the rest again).
/// The metadata carries the request count and the provider, so the host
/// refreshes its per-day totals even for days without records.
pub fn finish(
    ctx: &PluginCtx<'_>,
    provider: &str,
    records: Vec<Record>,
    fetched: &Fetched,
    range: DayRange,
) -> PluginResult {
    if let Some(first) = fetched.nothing() {
        return PluginResult::failed(first);
    }
    ctx.info(&format!(
        "{} records from {} requests for {}..{}",
        records.len(),
        fetched.requests,
        range.from,
        range.to
    ));
    let mut meta = RunMetadata { requests: fetched.requests, ..Default::default() };
    meta.extra.insert("provider".into(), provider.into());
    if fetched.failures.is_empty() {
        return PluginResult::success(records, &meta);
    }
    let lost = |d: NaiveDate| fetched.lost.iter().any(|l| l.contains(d));
    meta.complete_days = range.days().filter(|d| !lost(*d)).map(|d| d.to_string()).collect();
    let mut result = PluginResult::success(records, &meta);
    result.status = plugin_api::RunStatus::PARTIAL;
    let kept = meta.complete_days.len();
    result.error = plugin_api::abi_stable::std_types::RSome(
        format!(
            "{} of the run's queries failed; kept {kept} of {} days, the rest is fetched again next run. First: {}",
            fetched.failures.len(),
            range.len(),
            fetched.failures[0]
        )
        .into(),
    );
    result
}

/// A collector's `run`: its error, if any, becomes a failed result.
pub fn run_collector(result: Result<PluginResult, String>) -> PluginResult {
    result.unwrap_or_else(PluginResult::failed)
}

/// A `cost` record payload (see the host's `billing::records`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CostPayload {
    /// `openai` or `anthropic`.
    pub provider: String,
    /// Account label.
    pub account: String,
    /// UTC day.
    pub day: String,
    /// Project or workspace.
    pub project: Option<String>,
    /// API key id.
    pub api_key: Option<String>,
    /// Line item or description.
    pub line_item: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Token type.
    pub token_type: Option<String>,
    /// Cost type.
    pub cost_type: Option<String>,
    /// Service tier.
    pub service_tier: Option<String>,
    /// Context window.
    pub context_window: Option<String>,
    /// The amount exactly as the provider wrote it.
    pub amount: String,
    /// `major` or `cents`.
    pub unit: String,
    /// Currency code.
    pub currency: String,
    /// Billed quantity, exact text.
    pub quantity: Option<String>,
    /// Its unit.
    pub quantity_unit: Option<String>,
}

/// A `usage` record payload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UsagePayload {
    /// Provider.
    pub provider: String,
    /// Account label.
    pub account: String,
    /// UTC day.
    pub day: String,
    /// Endpoint.
    pub source: String,
    /// Model.
    pub model: Option<String>,
    /// Project or workspace.
    pub project: Option<String>,
    /// API key id.
    pub api_key: Option<String>,
    /// User id.
    pub user: Option<String>,
    /// Service tier.
    pub service_tier: Option<String>,
    /// Other dimensions.
    pub dims: BTreeMap<String, String>,
    /// Counters.
    pub metrics: BTreeMap<String, u64>,
}

impl CostPayload {
    /// As a record.
    pub fn record(&self) -> Record {
        let json = serde_json::to_string(self).unwrap_or_default();
        Record::new("cost", "", json)
    }

    /// As a record with its day, for [`Fetched::parse`].
    pub fn keyed(&self) -> (String, Record) {
        (self.day.clone(), self.record())
    }
}

impl UsagePayload {
    /// As a record.
    pub fn record(&self) -> Record {
        let json = serde_json::to_string(self).unwrap_or_default();
        Record::new("usage", "", json)
    }

    /// As a record with its day, for [`Fetched::parse`].
    pub fn keyed(&self) -> (String, Record) {
        (self.day.clone(), self.record())
    }
}

/// Dimension name → value.
pub type Dims = BTreeMap<String, String>;
/// Counter name → value.
pub type Metrics = BTreeMap<String, u64>;

/// Splits a result object into dimensions (strings and booleans, nulls
/// dropped) and whole-number counters; nested objects of counters are
/// flattened as `outer.inner`. A counter that is not a whole number fails.
pub fn split_result(
    obj: &serde_json::Map<String, serde_json::Value>,
) -> Result<(Dims, Metrics), String> {
    use serde_json::Value;
    let mut dims = BTreeMap::new();
    let mut metrics = BTreeMap::new();
    for (k, v) in obj {
        match v {
            Value::Null => {}
            Value::String(s) => {
                dims.insert(k.clone(), s.clone());
            }
            Value::Bool(b) => {
                dims.insert(k.clone(), b.to_string());
            }
            Value::Number(n) => {
                let n =
                    n.as_u64().ok_or_else(|| format!("field {k} = {n} is not a whole number"))?;
                metrics.insert(k.clone(), n);
            }
            Value::Object(inner) => {
                for (ik, iv) in inner {
                    match iv {
                        Value::Null => {}
                        Value::Number(n) => {
                            let n = n.as_u64().ok_or_else(|| {
                                format!("field {k}.{ik} = {n} is not a whole number")
                            })?;
                            metrics.insert(format!("{k}.{ik}"), n);
                        }
                        _ => {}
                    }
                }
            }
            Value::Array(_) => {}
        }
    }
    Ok((dims, metrics))
}

/// The JSON text of a number-or-string field, exactly as sent: `0.06`,
/// `"12.50"` → `12.50`. Anything else is an error.
pub fn number_text(raw: &serde_json::value::RawValue, field: &str) -> Result<String, String> {
    let text = raw.get().trim();
    if text.starts_with('"') {
        serde_json::from_str(text).map_err(|e| format!("{field}: {e}"))
    } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        Ok(text.to_string())
    } else {
        Err(format!("{field} is {text}, not a number"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query() -> Query {
        let range = DayRange { from: d("2025-08-01"), to: d("2025-08-03") };
        Query {
            name: "q".into(),
            url: "http://x/".into(),
            headers: vec![],
            max_pages: 5,
            days: range,
        }
    }

    #[test]
    fn a_day_continued_on_the_next_page_is_kept() {
        let q = query();
        let mut fetched =
            Fetched { pages: vec![Some(vec!["a".into(), "b".into()])], ..Fetched::default() };
        // Both pages hold 2025-08-01, with different results.
        let records = fetched.parse(std::slice::from_ref(&q), |_, page| {
            let payload = format!("{{\"page\":\"{page}\"}}");
            Ok(vec![("2025-08-01".to_string(), Record::new("cost", "", payload))])
        });
        assert_eq!(records.len(), 2);
        assert!(fetched.failures.is_empty());
    }

    #[test]
    fn more_pages_without_a_cursor_is_an_error_not_a_stop() {
        let resp = plugin_api::HttpResponse {
            status: 200,
            headers: Default::default(),
            body: br#"{"data":[],"has_more":true,"next_page":""}"#.to_vec().into(),
        };
        let err = next_page(&query(), Ok(resp), None, &mut Vec::new()).unwrap_err();
        assert!(err.contains("sent no cursor"), "{err}");
    }

    #[test]
    fn a_day_in_two_pages_loses_the_query_instead_of_counting_twice() {
        let q = query();
        let mut fetched = Fetched {
            pages: vec![Some(vec!["2025-08-01".into(), "2025-08-01".into()])],
            ..Fetched::default()
        };
        let records = fetched.parse(std::slice::from_ref(&q), |_, day| {
            Ok(vec![(day.to_string(), Record::new("cost", "", "{}".into()))])
        });
        assert!(records.is_empty());
        assert_eq!(fetched.lost, vec![q.days]);
        assert!(fetched.failures[0].contains("came back twice"), "{:?}", fetched.failures);
        assert_eq!(fetched.nothing(), Some(fetched.failures[0].as_str()));
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn chunks_are_the_fewest_requests() {
        let r = DayRange { from: d("2025-01-01"), to: d("2025-12-31") };
        assert_eq!(r.len(), 365);
        let c = r.chunks(31);
        assert_eq!(c.len(), 12);
        assert_eq!(c[0], DayRange { from: d("2025-01-01"), to: d("2025-01-31") });
        assert_eq!(c[11].to, d("2025-12-31"));
        assert_eq!(r.chunks(180).len(), 3);
        assert_eq!(DayRange { from: d("2025-01-01"), to: d("2025-01-01") }.chunks(31).len(), 1);
    }

    #[test]
    fn cursors_are_encoded() {
        assert_eq!(encode("page_AAAA+/b=="), "page_AAAA%2B%2Fb%3D%3D");
        assert_eq!(encode("2019-12-27T18:11:19.117Z"), "2019-12-27T18%3A11%3A19.117Z");
    }

    #[test]
    fn errors_quote_the_provider() {
        let body = r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
        assert_eq!(
            provider_error(401, body),
            "HTTP 401 (invalid_request_error): Incorrect API key provided"
        );
        assert_eq!(
            provider_error(502, "<html>\n<b>Bad gateway</b></html>"),
            "HTTP 502: <html> <b>Bad gateway</b></html>"
        );
    }

    #[test]
    fn pages_report_truncation_and_html() {
        assert!(parse_page::<serde_json::Value>(r#"{"data":[{"a":1}"#)
            .unwrap_err()
            .contains("truncated"));
        assert!(parse_page::<serde_json::Value>("<html></html>").unwrap_err().contains("HTML"));
        assert!(parse_page::<serde_json::Value>(r#"{"nodata":1}"#).unwrap_err().contains("shape"));
    }

    #[test]
    fn results_split_into_dims_and_metrics() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"object":"x","model":"m","batch":false,"project_id":null,"input_tokens":5,
                "cache_creation":{"ephemeral_5m_input_tokens":2,"ephemeral_1h_input_tokens":0}}"#,
        )
        .unwrap();
        let (dims, metrics) = split_result(v.as_object().unwrap()).unwrap();
        assert_eq!(dims["model"], "m");
        assert_eq!(dims["batch"], "false");
        assert!(!dims.contains_key("project_id"));
        assert_eq!(metrics["cache_creation.ephemeral_5m_input_tokens"], 2);
        let bad: serde_json::Value = serde_json::from_str(r#"{"input_tokens":1.5}"#).unwrap();
        assert!(split_result(bad.as_object().unwrap()).is_err());
    }

    #[test]
    fn number_text_keeps_every_digit() {
        let raw = |s: &str| serde_json::from_str::<Box<serde_json::value::RawValue>>(s).unwrap();
        assert_eq!(number_text(&raw("0.48390000000000005"), "v").unwrap(), "0.48390000000000005");
        assert_eq!(number_text(&raw("\"12.50\""), "v").unwrap(), "12.50");
        assert!(number_text(&raw("null"), "v").is_err());
        assert!(number_text(&raw("{}"), "v").is_err());
    }
}
