//! The price table estimates are made with: pydantic's genai-prices data
//! (embedded, pinned; or a newer file an operator imported) and our own
//! supplement of Anthropic's 1-hour cache-write rates. Prices are read as
//! decimal text, never through a float; a model no rule matches is
//! unpriced, never $0.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bigdecimal::BigDecimal;
use billing_records::Priced;
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::money::{parse_decimal, Money};

/// The embedded genai-prices table (MIT, see `assets/prices/LICENSE-genai-prices`).
const EMBEDDED: &str = include_str!("../../assets/prices/genai-prices-data.json");
/// What the embedded table is.
const EMBEDDED_SOURCE: &str = "genai-prices 47df840a (2026-08-21), embedded";
/// The table's date, for the embedded copy.
const EMBEDDED_DATE: &str = "2026-08-21";
/// Anthropic's 1-hour cache-write rates, which genai-prices lacks.
const ONE_HOUR: &str = include_str!("../../assets/prices/cache-write-1h.json");

/// The largest file `prices update` reads: the embedded table is about
/// 350 KB, so this leaves room for years of growth while a file of another
/// kind (a disk image, a log) is refused before it is read.
pub const MAX_IMPORT_BYTES: u64 = 16 << 20;

/// Where `prices update` keeps an imported table, under the home.
pub const IMPORTED_FILE: &str = "prices/genai-prices-data.json";
/// What was imported, when and from where.
pub const IMPORTED_SOURCE: &str = "prices/source.txt";

/// Why a table cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    /// The JSON does not have the table's shape.
    #[error("{at}: {why}")]
    Shape {
        /// Where in the table.
        at: String,
        /// What is wrong.
        why: String,
    },
    /// The imported file cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// What `prices update` was given is not a regular file.
    #[error("{path} is {kind}, not a regular file; nothing was imported")]
    NotAFile {
        /// The path given.
        path: PathBuf,
        /// What it is instead.
        kind: &'static str,
    },
    /// What `prices update` was given is larger than a price table may be.
    #[error(
        "{path} is {size} bytes, more than a price table may be ({MAX_IMPORT_BYTES} bytes, 16 MiB); \
         nothing was imported"
    )]
    TooLarge {
        /// The path given.
        path: PathBuf,
        /// Its size, or what was read of it.
        size: u64,
    },
}

/// A model-name rule (genai-prices `match`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Rule {
    Equals(String),
    StartsWith(String),
    EndsWith(String),
    Contains(String),
    Regex(String),
    Or(Vec<Rule>),
    And(Vec<Rule>),
}

/// A rule ready to test (regexes compiled once).
#[derive(Debug, Clone)]
enum Matcher {
    Equals(String),
    StartsWith(String),
    EndsWith(String),
    Contains(String),
    Regex(regex::Regex),
    Or(Vec<Matcher>),
    And(Vec<Matcher>),
}

impl Matcher {
    fn new(rule: Rule) -> Result<Matcher, String> {
        let all = |rules: Vec<Rule>| -> Result<Vec<Matcher>, String> {
            rules.into_iter().map(Matcher::new).collect()
        };
        Ok(match rule {
            Rule::Equals(s) => Matcher::Equals(s),
            Rule::StartsWith(s) => Matcher::StartsWith(s),
            Rule::EndsWith(s) => Matcher::EndsWith(s),
            Rule::Contains(s) => Matcher::Contains(s),
            Rule::Regex(r) => {
                Matcher::Regex(regex::Regex::new(&r).map_err(|e| format!("regex {r:?}: {e}"))?)
            }
            Rule::Or(rules) => Matcher::Or(all(rules)?),
            Rule::And(rules) => Matcher::And(all(rules)?),
        })
    }

    fn matches(&self, model: &str) -> bool {
        match self {
            Matcher::Equals(s) => model == s,
            Matcher::StartsWith(s) => model.starts_with(s.as_str()),
            Matcher::EndsWith(s) => model.ends_with(s.as_str()),
            Matcher::Contains(s) => model.contains(s.as_str()),
            Matcher::Regex(r) => r.is_match(model),
            Matcher::Or(all) => all.iter().any(|m| m.matches(model)),
            Matcher::And(all) => all.iter().all(|m| m.matches(model)),
        }
    }
}

/// A per-million-token rate: flat, or tiered by the request's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rate {
    /// Below every tier.
    pub base: BigDecimal,
    /// `(start, price)`: the price of a request whose input exceeds `start`
    /// tokens (the whole request at that price), by rising start.
    pub tiers: Vec<(u64, BigDecimal)>,
}

impl Rate {
    /// The price for a request with `input` tokens of input.
    pub fn at(&self, input: u64) -> &BigDecimal {
        self.tiers.iter().rev().find(|(start, _)| input > *start).map_or(&self.base, |(_, p)| p)
    }

    /// As text: `3` or `3 (6 above 200000)`.
    pub fn describe(&self) -> String {
        let mut s = self.base.normalized().to_string();
        for (start, p) in &self.tiers {
            s.push_str(&format!(" ({} above {start})", p.normalized()));
        }
        s
    }
}

/// The rates of one model from one date on. `None`: the table has none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rates {
    /// First day these apply (the table's price history); `None`: always.
    pub since: Option<NaiveDate>,
    /// Uncached input.
    pub input: Option<Rate>,
    /// Output (reasoning included).
    pub output: Option<Rate>,
    /// Cache reads.
    pub cache_read: Option<Rate>,
    /// 5-minute cache writes.
    pub cache_write: Option<Rate>,
    /// 1-hour cache writes (our supplement).
    pub cache_write_1h: Option<Rate>,
}

/// One model of the table.
#[derive(Debug, Clone)]
pub struct Model {
    /// The table's id for it.
    pub id: String,
    matcher: Matcher,
    /// Its rates, oldest first.
    pub history: Vec<Rates>,
}

impl Model {
    /// The rates that apply on `day`.
    pub fn rates_on(&self, day: NaiveDate) -> Option<&Rates> {
        self.history.iter().rev().find(|r| r.since.is_none_or(|s| s <= day))
    }

    /// The lowest long-context threshold of any rate.
    pub fn first_tier(&self) -> Option<u64> {
        self.history
            .iter()
            .flat_map(|r| [&r.input, &r.output, &r.cache_read, &r.cache_write])
            .flatten()
            .filter_map(|rate| rate.tiers.first().map(|t| t.0))
            .min()
    }
}

/// The whole table.
#[derive(Debug, Clone)]
pub struct PriceTable {
    /// What the table is (shown with every estimate).
    pub source: String,
    /// Its date.
    pub date: String,
    providers: BTreeMap<String, Vec<Model>>,
}

/// What a priced call or row cost, or why it could not be priced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Estimate {
    /// The estimate, exact.
    Cost(Money),
    /// Why there is none (one line).
    Unpriced(String),
}

#[derive(Deserialize)]
struct ProviderJson {
    id: String,
    models: Vec<ModelJson>,
}

#[derive(Deserialize)]
struct ModelJson {
    id: String,
    #[serde(rename = "match")]
    rule: Rule,
    prices: Box<RawValue>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    constraint: Option<BTreeMap<String, String>>,
    prices: BTreeMap<String, Box<RawValue>>,
}

#[derive(Deserialize)]
struct Tiered {
    base: Box<RawValue>,
    tiers: Vec<TierJson>,
}

#[derive(Deserialize)]
struct TierJson {
    start: u64,
    price: Box<RawValue>,
}

#[derive(Deserialize)]
struct Supplement {
    providers: BTreeMap<String, BTreeMap<String, Box<RawValue>>>,
}

fn shape(at: impl Into<String>, why: impl ToString) -> PriceError {
    PriceError::Shape { at: at.into(), why: why.to_string() }
}

/// A JSON number or decimal string, exactly.
fn decimal(raw: &RawValue) -> Result<BigDecimal, String> {
    let text = raw.get().trim();
    let text = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text);
    let d = parse_decimal(text).map_err(|e| format!("price {text}: {e}"))?;
    if d.sign() == bigdecimal::num_bigint::Sign::Minus {
        return Err(format!("price {text} is negative"));
    }
    Ok(d)
}

fn rate(raw: &RawValue) -> Result<Rate, String> {
    if !raw.get().trim_start().starts_with('{') {
        return Ok(Rate { base: decimal(raw)?, tiers: Vec::new() });
    }
    let t: Tiered = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
    let mut tiers = t
        .tiers
        .iter()
        .map(|x| Ok((x.start, decimal(&x.price)?)))
        .collect::<Result<Vec<_>, String>>()?;
    tiers.sort_by_key(|x| x.0);
    Ok(Rate { base: decimal(&t.base)?, tiers })
}

/// A model's `prices`: one object, or a list of dated entries.
fn entries(raw: &RawValue) -> Result<Vec<Entry>, String> {
    if raw.get().trim_start().starts_with('[') {
        serde_json::from_str(raw.get()).map_err(|e| e.to_string())
    } else {
        let prices = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
        Ok(vec![Entry { constraint: None, prices }])
    }
}

/// The entry's first day, or `None` for an entry that does not apply to
/// whole days (a time-of-day price) and is left out.
fn since(c: &Option<BTreeMap<String, String>>) -> Result<Option<Option<NaiveDate>>, String> {
    let Some(c) = c else { return Ok(Some(None)) };
    if c.keys().any(|k| k != "start_date") {
        return Ok(None);
    }
    match c.get("start_date") {
        Some(d) => d.parse().map(|d| Some(Some(d))).map_err(|_| format!("start_date {d:?}")),
        None => Ok(Some(None)),
    }
}

fn rates(e: &Entry, one_hour: Option<&Entry>) -> Result<Option<Rates>, String> {
    let Some(since) = since(&e.constraint)? else { return Ok(None) };
    let get = |k: &str| e.prices.get(k).map(|r| rate(r)).transpose();
    let cache_write_1h =
        one_hour.and_then(|h| h.prices.get("cache_write_1h_mtok")).map(|r| rate(r)).transpose()?;
    Ok(Some(Rates {
        since,
        input: get("input_mtok")?,
        output: get("output_mtok")?,
        cache_read: get("cache_read_mtok")?,
        cache_write: get("cache_write_mtok")?,
        cache_write_1h,
    }))
}

fn model(provider: &str, m: ModelJson, one_hour: Option<&RawValue>) -> Result<Model, PriceError> {
    let at = format!("provider {provider}, model {}", m.id);
    let matcher = Matcher::new(m.rule).map_err(|e| shape(&at, e))?;
    let hours = one_hour.map(entries).transpose().map_err(|e| shape(&at, e))?.unwrap_or_default();
    let mut history = Vec::new();
    for e in entries(&m.prices).map_err(|e| shape(&at, e))? {
        let hour = hours.iter().find(|h| h.constraint == e.constraint);
        if let Some(r) = rates(&e, hour).map_err(|e| shape(&at, e))? {
            history.push(r);
        }
    }
    history.sort_by_key(|r| r.since);
    Ok(Model { id: m.id, matcher, history })
}

impl PriceTable {
    /// Reads a genai-prices `data.json`, with our 1-hour supplement.
    pub fn parse(json: &str, source: &str, date: &str) -> Result<PriceTable, PriceError> {
        let providers: Vec<ProviderJson> =
            serde_json::from_str(json).map_err(|e| shape("the price table", e))?;
        let supplement: Supplement =
            serde_json::from_str(ONE_HOUR).map_err(|e| shape("the 1-hour supplement", e))?;
        let mut out = BTreeMap::new();
        for p in providers {
            let hours = supplement.providers.get(&p.id);
            let models = p
                .models
                .into_iter()
                .map(|m| {
                    let hour = hours.and_then(|h| h.get(&m.id)).map(|r| &**r);
                    model(&p.id, m, hour)
                })
                .collect::<Result<Vec<_>, _>>()?;
            out.insert(p.id, models);
        }
        if out.is_empty() {
            return Err(shape("the price table", "it lists no provider"));
        }
        Ok(PriceTable { source: source.into(), date: date.into(), providers: out })
    }

    /// The embedded table.
    pub fn embedded() -> PriceTable {
        PriceTable::parse(EMBEDDED, EMBEDDED_SOURCE, EMBEDDED_DATE)
            .expect("the embedded price table is checked by a test")
    }

    /// The table in force: the one imported into `home`, else the embedded.
    pub fn load(home: &Path) -> Result<PriceTable, PriceError> {
        let path = home.join(IMPORTED_FILE);
        let json = match std::fs::read_to_string(&path) {
            Ok(j) => j,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(PriceTable::embedded()),
            Err(source) => return Err(PriceError::Io { path, source }),
        };
        let about = std::fs::read_to_string(home.join(IMPORTED_SOURCE)).unwrap_or_default();
        let mut lines = about.lines();
        let date = lines.next().unwrap_or("unknown date").to_string();
        let source = lines.next().unwrap_or("imported").to_string();
        PriceTable::parse(&json, &source, &date)
    }

    /// The providers the table prices, by id.
    pub fn provider_ids(&self) -> impl Iterator<Item = &str> {
        self.providers.keys().map(String::as_str)
    }

    /// How many providers and models the table holds.
    pub fn size(&self) -> (usize, usize) {
        (self.providers.len(), self.providers.values().map(Vec::len).sum())
    }

    /// The model of `provider` that `name` is priced as: the first whose
    /// rule matches, as genai-prices does.
    pub fn find(&self, provider: &str, name: &str) -> Option<&Model> {
        self.providers.get(provider)?.iter().find(|m| m.matcher.matches(name))
    }

    /// Every distinct long-context threshold in the table, highest first.
    pub fn tier_starts(&self) -> Vec<u64> {
        let mut starts: Vec<u64> = self
            .providers
            .values()
            .flatten()
            .flat_map(|m| &m.history)
            .flat_map(|r| [&r.input, &r.output, &r.cache_read, &r.cache_write, &r.cache_write_1h])
            .flatten()
            .flat_map(|r| r.tiers.iter().map(|t| t.0))
            .collect();
        starts.sort_unstable_by(|a, b| b.cmp(a));
        starts.dedup();
        starts
    }

    /// The cost of `tokens` of `model` on `day`, each request having had
    /// more than `input` tokens of input (tiers price whole requests).
    pub fn estimate(
        &self,
        provider: &str,
        model: &str,
        day: NaiveDate,
        input: u64,
        tokens: &Priced,
    ) -> Estimate {
        let Some(m) = self.find(provider, model) else {
            return Estimate::Unpriced(format!(
                "{provider} model {model} is not in the price table"
            ));
        };
        let Some(r) = m.rates_on(day) else {
            return Estimate::Unpriced(format!("{model} has no price on {day}"));
        };
        // Cache reads and 5-minute writes cost the input rate where the
        // table has no rate of their own (no cache discount or surcharge
        // is published); a 1-hour write has no such fallback.
        let parts = [
            (tokens.input, r.input.as_ref(), "input"),
            (tokens.output, r.output.as_ref(), "output"),
            (tokens.cache_read, r.cache_read.as_ref().or(r.input.as_ref()), "cache read"),
            (tokens.cache_write_5m, r.cache_write.as_ref().or(r.input.as_ref()), "cache write"),
            (tokens.cache_write_1h, r.cache_write_1h.as_ref(), "1-hour cache write"),
        ];
        let mut total = BigDecimal::from(0);
        for (n, rate, what) in parts {
            if n == 0 {
                continue;
            }
            let Some(rate) = rate else {
                return Estimate::Unpriced(format!("{model} has no {what} price"));
            };
            total += BigDecimal::from(n) * rate.at(input);
        }
        Estimate::Cost(Money::from_decimal(total / BigDecimal::from(1_000_000)))
    }
}

/// Checks a file for `prices update` and copies it into `home`, recording
/// when and from where; returns the new table.
pub fn import(home: &Path, from: &Path, today: NaiveDate) -> Result<PriceTable, PriceError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PriceError::Io { path, source }
    };
    let json = read_bounded(from)?;
    let digest = {
        use sha2::Digest;
        let h = sha2::Sha256::digest(json.as_bytes());
        h.iter().take(6).map(|b| format!("{b:02x}")).collect::<String>()
    };
    let source = format!("imported from {} (sha256 {digest}…)", from.display());
    let table = PriceTable::parse(&json, &source, &today.to_string())?;
    let dir = home.join("prices");
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    // The source first: a table without it reads as "imported, unknown date".
    let about = format!("{today}\n{source}\n");
    replace_file(&home.join(IMPORTED_SOURCE), about.as_bytes())
        .map_err(io(&home.join(IMPORTED_SOURCE)))?;
    replace_file(&home.join(IMPORTED_FILE), json.as_bytes())
        .map_err(io(&home.join(IMPORTED_FILE)))?;
    Ok(table)
}

/// The text of `path` if it is a regular file of at most
/// [`MAX_IMPORT_BYTES`]. Anything else (a device such as `/dev/zero`, a
/// FIFO, a directory, a socket, a larger file) is refused before a byte of
/// it is read, and opening never waits: a FIFO without a writer would.
fn read_bounded(path: &Path) -> Result<String, PriceError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| PriceError::Io { path: path.to_path_buf(), source };
    let check = |meta: &std::fs::Metadata| -> Result<(), PriceError> {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        let kind = if t.is_file() {
            return if meta.len() > MAX_IMPORT_BYTES {
                Err(PriceError::TooLarge { path: path.to_path_buf(), size: meta.len() })
            } else {
                Ok(())
            };
        } else if t.is_dir() {
            "a directory"
        } else if t.is_fifo() {
            "a FIFO"
        } else if t.is_char_device() {
            "a character device"
        } else if t.is_block_device() {
            "a block device"
        } else if t.is_socket() {
            "a socket"
        } else {
            "not a file"
        };
        Err(PriceError::NotAFile { path: path.to_path_buf(), kind })
    };
    // Looked at before opening (a symbolic link to a table is fine)...
    check(&std::fs::metadata(path).map_err(io)?)?;
    // ...and the file opened is looked at again, in case the path was
    // swapped meanwhile; O_NONBLOCK keeps that open from waiting on a FIFO.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io)?;
    check(&file.metadata().map_err(io)?)?;
    // A file that grows while it is read is still cut at the bound.
    let mut bytes = Vec::new();
    file.take(MAX_IMPORT_BYTES + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > MAX_IMPORT_BYTES {
        return Err(PriceError::TooLarge { path: path.to_path_buf(), size: bytes.len() as u64 });
    }
    String::from_utf8(bytes).map_err(|e| {
        io(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not UTF-8 text: {e}")))
    })
}

/// Writes a file through a temporary one renamed into place.
fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path)).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn cost(e: Estimate) -> String {
        match e {
            Estimate::Cost(m) => m.to_stored(),
            Estimate::Unpriced(why) => panic!("unpriced: {why}"),
        }
    }

    #[test]
    fn the_embedded_table_reads_with_its_one_hour_rates() {
        let t = PriceTable::embedded();
        let (providers, models) = t.size();
        assert!(providers > 20 && models > 500, "{providers} providers, {models} models");
        let sonnet = t.find("anthropic", "claude-sonnet-4-20250514").unwrap();
        assert_eq!(sonnet.id, "claude-sonnet-4-0");
        let r = sonnet.rates_on(d("2026-01-01")).unwrap();
        assert_eq!(r.cache_write.as_ref().unwrap().describe(), "3.75");
        assert_eq!(r.cache_write_1h.as_ref().unwrap().describe(), "6");
        let opus = t.find("anthropic", "claude-opus-4-1-20250805").unwrap();
        assert_eq!(
            opus.rates_on(d("2026-01-01")).unwrap().cache_write_1h.as_ref().unwrap().describe(),
            "30"
        );
        assert_eq!(t.find("openai", "gpt-5-codex").unwrap().id, "gpt-5");
        assert!(t.find("anthropic", "not-a-model").is_none());
    }

    #[test]
    fn estimates_are_exact_with_tiers_and_history() {
        let t = PriceTable::embedded();
        let tokens = Priced {
            input: 1_000,
            output: 2_000,
            cache_read: 100_000,
            cache_write_5m: 4_000,
            cache_write_1h: 3_000,
            ..Priced::default()
        };
        // Sonnet 4.5: 3 in, 15 out, 0.3 read, 3.75 write, 6 1h-write.
        // 1000*3 + 2000*15 + 100000*0.3 + 4000*3.75 + 3000*6 = 96000 per million.
        let day = d("2026-01-01");
        assert_eq!(
            cost(t.estimate("anthropic", "claude-sonnet-4-5", day, 108_000, &tokens)),
            "0.096"
        );
        // Past 200k input the whole request is at the long-context rates:
        // 6 in, 22.5 out, 0.6 read, 7.5 write, 12 1h-write = 177000 per million.
        assert_eq!(
            cost(t.estimate("anthropic", "claude-sonnet-4-5", day, 200_001, &tokens)),
            "0.177"
        );
        // Sonnet 5's price changed on 2026-09-01.
        let plain = Priced { input: 1_000_000, ..Priced::default() };
        assert_eq!(
            cost(t.estimate("anthropic", "claude-sonnet-5", d("2026-08-31"), 1, &plain)),
            "2"
        );
        assert_eq!(
            cost(t.estimate("anthropic", "claude-sonnet-5", d("2026-09-01"), 1, &plain)),
            "3"
        );
        assert!(matches!(
            t.estimate("anthropic", "claude-unknown", day, 1, &plain),
            Estimate::Unpriced(_)
        ));
        // No 1-hour rate for an OpenAI model: unpriced, never $0.
        let hour = Priced { cache_write_1h: 5, ..Priced::default() };
        assert!(matches!(t.estimate("openai", "gpt-5", day, 1, &hour), Estimate::Unpriced(_)));
    }

    #[test]
    fn an_import_reads_only_a_regular_file_of_bounded_size() {
        // The bound leaves the embedded table room to grow many times over.
        assert!((EMBEDDED.len() as u64) * 16 < MAX_IMPORT_BYTES);
        let dir = tempfile::tempdir().unwrap();
        let kind = |p: &Path| match read_bounded(p) {
            Err(PriceError::NotAFile { kind, .. }) => kind,
            other => panic!("{} was not refused: {other:?}", p.display()),
        };
        assert_eq!(kind(dir.path()), "a directory");
        assert_eq!(kind(Path::new("/dev/null")), "a character device");
        let big = dir.path().join("big.json");
        std::fs::File::create(&big).unwrap().set_len(MAX_IMPORT_BYTES + 1).unwrap();
        let e = read_bounded(&big).unwrap_err();
        assert!(e.to_string().contains("is 16777217 bytes, more than a price table may be"), "{e}");
        let ok = dir.path().join("ok.json");
        std::fs::write(&ok, "[]").unwrap();
        assert_eq!(read_bounded(&ok).unwrap(), "[]");
    }

    #[test]
    fn a_bad_table_says_where() {
        let e = PriceTable::parse(r#"[{"id":"x","models":[{"id":"m","match":{"equals":"m"},"prices":{"input_mtok":"abc"}}]}]"#, "t", "d").unwrap_err();
        assert!(e.to_string().starts_with("provider x, model m: price abc"), "{e}");
        let e = PriceTable::parse("{}", "t", "d").unwrap_err();
        assert!(e.to_string().starts_with("the price table:"), "{e}");
    }
}
