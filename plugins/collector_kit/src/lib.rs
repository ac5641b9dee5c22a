//! What the billing collectors share: splitting a day range into the fewest
//! requests the page limits allow, following `has_more`/`next_page` through
//! the host's HTTP capability, reading provider error bodies, and the record
//! payloads the host's billing application expects.
//!
//! Everything but [`fetch_all`] is pure and unit-tested here.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Days, NaiveDate};
use plugin_api::{HttpRequest, PluginCtx, PluginResult, Record, RunMetadata};
use serde::Deserialize;

/// How often the host retries a 5xx answer before giving up (rate limits
/// are waited out within the operator's patience, however many).
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

/// The envelope both providers share (its cursor is read by `next_page`).
#[derive(Debug, Deserialize)]
pub struct Envelope<T> {
    /// Time buckets.
    pub data: Vec<T>,
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

/// What one page of a query yielded: rows by day, and the days the page
/// showed cannot be trusted (a value that does not read, a bucket sent
/// twice), each with the reason. `T` is a payload, or a [`Record`] once
/// converted with [`PageRows::records`].
#[derive(Debug)]
pub struct PageRows<T = Record> {
    /// The rows, with their day.
    pub rows: Vec<(NaiveDate, T)>,
    /// Days not to be trusted, with the reason.
    pub bad: Vec<(NaiveDate, String)>,
    buckets: BTreeSet<NaiveDate>,
}

impl<T> Default for PageRows<T> {
    fn default() -> Self {
        PageRows { rows: Vec::new(), bad: Vec::new(), buckets: BTreeSet::new() }
    }
}

impl<T> PageRows<T> {
    /// Starts the bucket of `day`; `false` (and the day marked bad) when the
    /// page already held one for that day, which would be counted twice.
    pub fn bucket(&mut self, day: NaiveDate) -> bool {
        if self.buckets.insert(day) {
            return true;
        }
        self.bad(day, format!("the bucket of {day} came back twice in one page"));
        false
    }

    /// A row of `day`, or the reason the provider's row behind it does not
    /// read, which costs that day only.
    pub fn push(&mut self, day: NaiveDate, row: Result<T, String>) {
        match row {
            Ok(r) => self.rows.push((day, r)),
            Err(why) => self.bad(day, why),
        }
    }

    /// One provider bucket of `day`: its rows, when the day is inside
    /// `range` and the page did not already hold a bucket for it.
    pub fn add_bucket(
        &mut self,
        range: DayRange,
        day: NaiveDate,
        rows: impl IntoIterator<Item = Result<T, String>>,
    ) {
        if !range.contains(day) || !self.bucket(day) {
            return;
        }
        for row in rows {
            self.push(day, row);
        }
    }

    /// The same page with every row mapped.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> PageRows<U> {
        let mut f = f;
        PageRows {
            rows: self.rows.into_iter().map(|(d, r)| (d, f(r))).collect(),
            bad: self.bad,
            buckets: self.buckets,
        }
    }

    /// Marks `day` as not complete, with the reason.
    pub fn bad(&mut self, day: NaiveDate, why: impl Into<String>) {
        self.bad.push((day, why.into()));
    }

    /// The rows without their days, or every bad day's reason: for tests
    /// of a page that must be whole.
    pub fn whole(self) -> Result<Vec<T>, String> {
        if let Some((day, why)) = self.bad.first() {
            return Err(format!("{day}: {why}"));
        }
        Ok(self.rows.into_iter().map(|(_, r)| r).collect())
    }

    /// The rows of `day`.
    pub fn on(&self, day: NaiveDate) -> impl Iterator<Item = &T> {
        self.rows.iter().filter(move |(d, _)| *d == day).map(|(_, r)| r)
    }
}

impl<T: AsRecord> PageRows<T> {
    /// The same page as records.
    pub fn records(self) -> PageRows<Record> {
        self.map(|r| r.record())
    }
}

/// How many requests [`fetch_all`] hands the host at once: the bodies of one
/// such batch are all a worker holds, whatever the range.
pub const BATCH: usize = 24;

/// One query's progress: its cursor, its records so far and a fingerprint of
/// each day's records per page, to catch a page sent twice.
#[derive(Default)]
struct QueryState {
    /// `Some(cursor)` while pages remain (`Some(None)`: the first one).
    next: Option<Option<String>>,
    pages: usize,
    records: Vec<(NaiveDate, Record)>,
    seen: BTreeMap<NaiveDate, BTreeSet<u64>>,
}

impl QueryState {
    /// Adds one parsed page. A day a later page repeats any record of was
    /// sent twice: that day is marked bad and its repeat dropped, never
    /// counted twice (a day whose results simply continue on the next page
    /// is kept).
    fn take(&mut self, rows: PageRows, bad: &mut BTreeMap<NaiveDate, String>) {
        let mut page: BTreeMap<NaiveDate, BTreeSet<u64>> = BTreeMap::new();
        for (day, r) in &rows.rows {
            page.entry(*day).or_default().insert(fingerprint(&r.kind, &r.payload_json));
        }
        let mut repeated = BTreeSet::new();
        for (day, prints) in page {
            // Any record seen before is a repeat: a day that merely continues
            // on this page brings only new ones.
            if self.seen.get(&day).is_some_and(|before| !prints.is_disjoint(before)) {
                bad.entry(day).or_insert_with(|| format!("the day {day} came back twice"));
                repeated.insert(day);
            } else {
                self.seen.entry(day).or_default().extend(prints);
            }
        }
        for (day, why) in rows.bad {
            bad.entry(day).or_insert(why);
        }
        self.records.extend(rows.rows.into_iter().filter(|(day, _)| !repeated.contains(day)));
    }
}

fn fingerprint(kind: &str, payload: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (kind, payload).hash(&mut h);
    h.finish()
}

/// What [`fetch_all`] brought back.
#[derive(Debug, Default)]
pub struct Fetched {
    /// The records of every query that completed, by day.
    pub records: Vec<(NaiveDate, Record)>,
    /// Why each failed query failed, one line each, with the days it covers.
    pub failures: Vec<(DayRange, String)>,
    /// Days a page showed cannot be trusted, with the first reason.
    pub bad_days: BTreeMap<NaiveDate, String>,
    /// Days the source can never return (past what it keeps), with why:
    /// reported, not asked for again.
    pub unavailable: BTreeMap<NaiveDate, String>,
    /// Queries that completed.
    pub completed: usize,
    /// Requests made.
    pub requests: u64,
}

impl Fetched {
    /// The first failure when no query completed at all.
    pub fn nothing(&self) -> Option<&str> {
        if self.completed > 0 {
            return None;
        }
        self.failures.first().map(|(_, e)| e.as_str())
    }

    /// Why `day` is not complete, if it is not.
    pub fn lost(&self, day: NaiveDate) -> Option<&str> {
        self.failures
            .iter()
            .find(|(r, _)| r.contains(day))
            .map(|(_, e)| e.as_str())
            .or_else(|| self.bad_days.get(&day).map(String::as_str))
    }
}

/// Fetches every page of every query and parses each page as it arrives
/// with `parse`, so a worker holds one batch of response bodies at a time
/// (at most [`BATCH`]), never a whole backfill's. Independent requests
/// overlap through `http_all`. A query that fails (an error answer, a page
/// that does not parse) costs only its own days: its records are dropped
/// and the others are still fetched. A day sent twice costs that day.
pub fn fetch_all(
    ctx: &PluginCtx<'_>,
    queries: &[Query],
    parse: impl Fn(&Query, &str) -> Result<PageRows, String>,
) -> Fetched {
    let mut out = Fetched::default();
    let mut states: Vec<QueryState> =
        queries.iter().map(|_| QueryState { next: Some(None), ..QueryState::default() }).collect();
    loop {
        let pending: Vec<usize> =
            (0..queries.len()).filter(|i| states[*i].next.is_some()).take(BATCH).collect();
        if pending.is_empty() {
            return out;
        }
        let reqs: Vec<HttpRequest> = pending
            .iter()
            .map(|&i| queries[i].request(states[i].next.as_ref().and_then(|p| p.as_deref())))
            .collect();
        out.requests += reqs.len() as u64;
        let answers = ctx.http_all(&reqs);
        for (&i, answer) in pending.iter().zip(answers) {
            let q = &queries[i];
            let state = &mut states[i];
            let previous = state.next.take().flatten();
            let step = next_page(q, answer, previous.as_deref(), state.pages).and_then(
                |(body, cursor)| {
                    state.pages += 1;
                    state.take(parse(q, &body)?, &mut out.bad_days);
                    Ok(cursor)
                },
            );
            match step {
                Ok(Some(cursor)) => state.next = Some(Some(cursor)),
                Ok(None) => {
                    out.completed += 1;
                    out.records.append(&mut state.records);
                    *state = QueryState::default();
                }
                Err(e) => {
                    out.failures.push((q.days, format!("{}: {e}", q.name)));
                    *state = QueryState::default();
                }
            }
        }
    }
}

/// Checks one answer and returns its body and the cursor of the page after
/// it, if any; `pages` is how many pages of the query came before.
fn next_page(
    q: &Query,
    answer: Result<plugin_api::HttpResponse, String>,
    previous: Option<&str>,
    pages: usize,
) -> Result<(String, Option<String>), String> {
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
    match (cursor.has_more, cursor.next_page.filter(|p| !p.is_empty())) {
        (true, None) => Err("the API said more pages follow but sent no cursor".into()),
        (true, Some(p)) => {
            if previous == Some(p.as_str()) {
                return Err("the API returned the same cursor twice".into());
            }
            if pages + 1 >= q.max_pages {
                return Err(format!("pagination did not end after {} pages; giving up", pages + 1));
            }
            Ok((body, Some(p)))
        }
        _ => Ok((body, None)),
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
/// fetched, a success, or a partial result whose complete days leave out
/// the days of the queries that failed and the days a page showed bad, each
/// listed with its reason (the host stores only complete days, and the next
/// run asks for the rest again). Records of days that are not complete are
/// dropped here. The provider's description is sent on every run, and the
/// metadata names the provider, so the host refreshes its per-day totals
/// even for days without records.
pub fn finish(
    ctx: &PluginCtx<'_>,
    provider: &ProviderPayload,
    fetched: Fetched,
    range: DayRange,
) -> PluginResult {
    if let Some(first) = fetched.nothing() {
        return PluginResult::failed(first);
    }
    let mut meta = RunMetadata { requests: fetched.requests, ..Default::default() };
    meta.extra.insert("provider".into(), provider.provider.clone().into());
    let mut complete = BTreeSet::new();
    for day in range.days() {
        if let Some(why) = fetched.unavailable.get(&day) {
            meta.unavailable_days.insert(day.to_string(), why.clone());
        } else if let Some(why) = fetched.lost(day) {
            meta.lost_days.insert(day.to_string(), why.to_string());
        } else {
            meta.complete_days.push(day.to_string());
            complete.insert(day);
        }
    }
    let mut records: Vec<Record> = fetched
        .records
        .into_iter()
        .filter(|(day, _)| complete.contains(day))
        .map(|(_, r)| r)
        .collect();
    ctx.info(&format!(
        "{} records from {} requests for {}..{}",
        records.len(),
        fetched.requests,
        range.from,
        range.to
    ));
    records.push(provider.record());
    if meta.lost_days.is_empty() && meta.unavailable_days.is_empty() {
        meta.complete_days.clear();
        return PluginResult::success(records, &meta);
    }
    let kept = meta.complete_days.len();
    let first = meta
        .lost_days
        .iter()
        .chain(&meta.unavailable_days)
        .next()
        .map(|(d, why)| format!("{d}: {why}"));
    let why = format!(
        "kept {kept} of {} days; {} not complete. First: {}",
        range.len(),
        range.len() - kept as u64,
        first.unwrap_or_default()
    );
    PluginResult::partial(records, &meta, why)
}

/// A collector's `run`: its error, if any, becomes a failed result.
pub fn run_collector(result: Result<PluginResult, String>) -> PluginResult {
    result.unwrap_or_else(PluginResult::failed)
}

pub use billing_records::{CostPayload, Priced, ProviderPayload, UsagePayload};

/// The account label of a run: the job's (`RunRequest::account`), else the
/// plugin's own setting `setting` (`OPENAI_ACCOUNT`), else `default`.
pub fn account(req: &plugin_api::RunRequest, setting: &str) -> String {
    req.account
        .clone()
        .or_else(|| req.settings.get(setting).cloned())
        .unwrap_or_else(|| "default".into())
}

/// A payload of the billing record contract, as a record.
pub trait AsRecord: serde::Serialize {
    /// The record kind.
    const KIND: &'static str;

    /// As a record.
    fn record(&self) -> Record {
        let json = serde_json::to_string(self).unwrap_or_default();
        Record::new(Self::KIND, "", json)
    }
}

impl AsRecord for CostPayload {
    const KIND: &'static str = billing_records::COST;
}

impl AsRecord for UsagePayload {
    const KIND: &'static str = billing_records::USAGE;
}

impl AsRecord for ProviderPayload {
    const KIND: &'static str = billing_records::PROVIDER;
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

    fn page(day: &str, payload: &str) -> PageRows {
        let mut p = PageRows::default();
        p.push(d(day), Ok(Record::new("cost", "", payload.into())));
        p
    }

    #[test]
    fn a_day_continued_on_the_next_page_is_kept() {
        let mut state = QueryState::default();
        let mut bad = BTreeMap::new();
        state.take(page("2025-08-01", r#"{"page":1}"#), &mut bad);
        state.take(page("2025-08-01", r#"{"page":2}"#), &mut bad);
        assert_eq!(state.records.len(), 2);
        assert!(bad.is_empty());
    }

    #[test]
    fn more_pages_without_a_cursor_is_an_error_not_a_stop() {
        let resp = plugin_api::HttpResponse {
            status: 200,
            headers: Default::default(),
            body: br#"{"data":[],"has_more":true,"next_page":""}"#.to_vec().into(),
        };
        let err = next_page(&query(), Ok(resp), None, 0).unwrap_err();
        assert!(err.contains("sent no cursor"), "{err}");
    }

    #[test]
    fn a_day_sent_twice_costs_that_day_instead_of_counting_twice() {
        let mut state = QueryState::default();
        let mut bad = BTreeMap::new();
        state.take(page("2025-08-01", "{}"), &mut bad);
        state.take(page("2025-08-02", "{}"), &mut bad);
        state.take(page("2025-08-01", "{}"), &mut bad);
        assert_eq!(state.records.len(), 2, "the repeat is not kept");
        assert_eq!(bad.len(), 1);
        assert!(bad[&d("2025-08-01")].contains("came back twice"), "{bad:?}");
    }

    #[test]
    fn a_bucket_twice_in_one_page_costs_its_day() {
        let mut p: PageRows = PageRows::default();
        assert!(p.bucket(d("2025-08-01")));
        assert!(!p.bucket(d("2025-08-01")));
        assert!(p.bucket(d("2025-08-02")));
        assert_eq!(p.bad.len(), 1);
        assert!(p.bad[0].1.contains("twice in one page"), "{:?}", p.bad);
    }

    #[test]
    fn a_day_is_lost_by_its_query_or_its_bad_row() {
        let mut f = Fetched { completed: 1, ..Fetched::default() };
        f.failures.push((query().days, "costs: HTTP 500".into()));
        f.bad_days.insert(d("2025-08-09"), "amount without a value".into());
        assert_eq!(f.lost(d("2025-08-02")), Some("costs: HTTP 500"));
        assert_eq!(f.lost(d("2025-08-09")), Some("amount without a value"));
        assert_eq!(f.lost(d("2025-08-05")), None);
        assert_eq!(f.nothing(), None);
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
