//! Exports: the daily CSV of the original plan (`Provider, Date, Tokens,
//! Cost, Collected At`, then the columns added since), a detailed CSV with one row per cost line, JSON of
//! either, and FinOps FOCUS 1.2 rows. Money is exact decimal text, dates are
//! UTC. Writers take any `impl Write`; the caller picks the file. Every CSV
//! cell goes through `sheet_cell`, so text a plugin chose is never run as a
//! spreadsheet formula.

use std::borrow::Cow;
use std::io::Write;

use chrono::NaiveDate;
use serde::Serialize;

use super::estimate::Priced;
use super::money::Money;
use super::period::Period;
use crate::billing::storage::{BillingReads, CostLine, DayTotal};

/// What to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values.
    Csv,
    /// A JSON array.
    Json,
    /// FinOps FOCUS 1.2 CSV, one row per cost line.
    Focus,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the database failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Writing the output failed.
    #[error("cannot write the export: {0}")]
    Write(String),
    /// Writing the output failed at the I/O level (a closed pipe included).
    #[error("cannot write the export: {0}")]
    Io(#[from] std::io::Error),
}

impl From<csv::Error> for ExportError {
    fn from(e: csv::Error) -> Self {
        let text = e.to_string();
        match e.into_kind() {
            csv::ErrorKind::Io(io) => ExportError::Io(io),
            _ => ExportError::Write(text),
        }
    }
}

fn json_err(e: serde_json::Error) -> ExportError {
    match e.io_error_kind() {
        Some(kind) => ExportError::Io(kind.into()),
        None => ExportError::Write(e.to_string()),
    }
}

/// Exact text with at least two decimals, as spreadsheets expect money.
fn cost_text(stored: &str) -> String {
    Money::from_stored(stored).to_string()
}

#[derive(Serialize)]
struct DailyRow<'a> {
    #[serde(rename = "Provider")]
    provider: Cow<'a, str>,
    #[serde(rename = "Date")]
    date: NaiveDate,
    #[serde(rename = "Tokens")]
    tokens: i64,
    #[serde(rename = "Cost")]
    cost: String,
    #[serde(rename = "Collected At")]
    collected_at: Cow<'a, str>,
    /// Tokens on usage the provider's cost report leaves out.
    #[serde(rename = "Tokens Without Billed Cost")]
    not_in_cost_tokens: i64,
    /// `billed`, or `estimated` (from local logs, for a provider without
    /// billed data): never both for one provider.
    #[serde(rename = "Cost Kind")]
    kind: &'static str,
}

/// One row per provider and day. Returns the number of rows.
pub fn write_daily(w: impl Write, days: &[DayTotal], format: Format) -> Result<usize, ExportError> {
    // JSON is not opened by spreadsheets: its text stays as stored.
    fn text(v: &str, format: Format) -> Cow<'_, str> {
        if format == Format::Json {
            Cow::Borrowed(v)
        } else {
            sheet_cell(v, Text)
        }
    }
    let rows = days.iter().map(|d| DailyRow {
        provider: text(&d.provider, format),
        date: d.date,
        tokens: d.tokens,
        cost: cost_text(&d.cost),
        collected_at: text(&d.collected_at, format),
        not_in_cost_tokens: d.not_in_cost_tokens,
        kind: if d.estimated { "estimated" } else { "billed" },
    });
    match format {
        Format::Json => {
            let all: Vec<_> = rows.collect();
            serde_json::to_writer_pretty(w, &all).map_err(json_err)?;
            Ok(all.len())
        }
        _ => {
            let mut out = csv::Writer::from_writer(w);
            let mut n = 0;
            for r in rows {
                out.serialize(r)?;
                n += 1;
            }
            if n == 0 {
                out.write_record([
                    "Provider",
                    "Date",
                    "Tokens",
                    "Cost",
                    "Collected At",
                    "Tokens Without Billed Cost",
                    "Cost Kind",
                ])?;
            }
            out.flush()?;
            Ok(n)
        }
    }
}

/// How each detail column reads in a spreadsheet, in [`DETAIL_HEADER`]'s order.
const DETAIL_KINDS: [Column; 17] = [
    Text, Text, Text, Text, Text, Text, Text, Text, Text, Text, Text, Number, Text, Number, Text,
    Text, Text,
];

const DETAIL_HEADER: [&str; 17] = [
    "Provider",
    "Date",
    "Account",
    "Project",
    "API Key",
    "Line Item",
    "Model",
    "Token Type",
    "Cost Type",
    "Service Tier",
    "Context Window",
    "Cost",
    "Currency",
    "Quantity",
    "Quantity Unit",
    "Collected At",
    "Cost Kind",
];

/// One row per cost line (model, project, line item…). Returns the rows written.
pub fn write_detail(
    mut w: impl Write,
    store: &impl BillingReads,
    period: Period,
    format: Format,
    estimated: &[Priced],
) -> Result<usize, ExportError> {
    let mut n = 0usize;
    match format {
        Format::Json => {
            w.write_all(b"[")?;
            store.each_cost_line(period.from, period.to, |l| -> Result<(), ExportError> {
                let values = detail_values(l);
                let obj: serde_json::Map<String, serde_json::Value> = DETAIL_HEADER
                    .iter()
                    .zip(values)
                    .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
                    .collect();
                if n > 0 {
                    w.write_all(b",")?;
                }
                w.write_all(b"\n  ")?;
                serde_json::to_writer(&mut w, &obj).map_err(json_err)?;
                n += 1;
                Ok(())
            })??;
            for p in estimated {
                let obj: serde_json::Map<String, serde_json::Value> = DETAIL_HEADER
                    .iter()
                    .zip(estimated_values(p))
                    .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.into_owned())))
                    .collect();
                w.write_all(if n > 0 { b",\n  " } else { b"\n  " })?;
                serde_json::to_writer(&mut w, &obj).map_err(json_err)?;
                n += 1;
            }
            w.write_all(b"\n]\n")?;
        }
        _ => {
            let mut out = csv::Writer::from_writer(w);
            out.write_record(DETAIL_HEADER)?;
            store.each_cost_line(period.from, period.to, |l| -> Result<(), ExportError> {
                let values = detail_values(l);
                out.write_record(
                    values.iter().zip(DETAIL_KINDS).map(|(v, k)| Cell(sheet_cell(v, k))),
                )?;
                n += 1;
                Ok(())
            })??;
            for p in estimated {
                let values = estimated_values(p);
                out.write_record(
                    values.iter().zip(DETAIL_KINDS).map(|(v, k)| Cell(sheet_cell(v, k))),
                )?;
                n += 1;
            }
            out.flush()?;
        }
    }
    Ok(n)
}

/// How a spreadsheet may read a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    /// Names, labels and dates: text, whoever wrote it.
    Text,
    /// Amounts and quantities: a number, if it is one.
    Number,
}
use Column::{Number, Text};

/// A cell a spreadsheet will not evaluate, as OWASP's CSV-injection advice
/// has it: text that starts with `=`, `+`, `-` or `@` (after any leading
/// whitespace, which spreadsheets skip), or with a tab or a carriage
/// return, gets a leading `'`, whatever follows (`-1+1+cmd|…` is a formula
/// as much as `=1+1`). A [`Number`] column's value is left exactly as it is
/// when it is a plain decimal number (`-1.50`, `2.5e-7`); anything else in
/// it is text. Dates and timestamps begin with a digit and stay as they are.
fn sheet_cell(value: &str, column: Column) -> Cow<'_, str> {
    if column == Number && is_plain_number(value) {
        return Cow::Borrowed(value);
    }
    let risky =
        value.starts_with(['\t', '\r']) || value.trim_start().starts_with(['=', '+', '-', '@']);
    if risky {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

/// `-`? digits, an optional fraction and an optional exponent: what the
/// store's exact amounts and quantities look like.
fn is_plain_number(s: &str) -> bool {
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let s = s.strip_prefix('-').unwrap_or(s);
    let (mantissa, exponent) = match s.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e.strip_prefix(['+', '-']).unwrap_or(e))),
        None => (s, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((i, f)) => digits(i) && digits(f),
        None => digits(mantissa),
    };
    mantissa_ok && exponent.is_none_or(digits)
}

/// A CSV cell's bytes (copied only when a `'` had to be added).
struct Cell<'a>(Cow<'a, str>);

impl AsRef<[u8]> for Cell<'_> {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

fn detail_values<'a>(l: &CostLine<'a>) -> [std::borrow::Cow<'a, str>; 17] {
    use std::borrow::Cow::{Borrowed, Owned};
    [
        Borrowed(l.provider_name),
        Borrowed(l.day),
        Borrowed(l.account),
        Borrowed(l.project),
        Borrowed(l.api_key),
        Borrowed(l.line_item),
        Borrowed(l.model),
        Borrowed(l.token_type),
        Borrowed(l.cost_type),
        Borrowed(l.service_tier),
        Borrowed(l.context_window),
        Owned(cost_text(l.amount)),
        Borrowed(l.currency),
        Borrowed(l.quantity.unwrap_or("")),
        Borrowed(l.quantity_unit.unwrap_or("")),
        Borrowed(l.collected_at),
        Borrowed("billed"),
    ]
}

/// What an estimated line says where a billed line has its line item:
/// never to be read as a bill.
fn estimated_item(p: &Priced) -> String {
    match &p.estimate {
        super::prices::Estimate::Cost(_) => "estimated from local logs (not billed)".into(),
        super::prices::Estimate::Unpriced(why) => {
            format!("estimated from local logs (not billed); unpriced: {why}")
        }
    }
}

/// A detail row of an estimate from local logs: its provider, day,
/// account, project, model and tier; the estimated cost (empty when no
/// price is known: never 0) and its tokens; `Cost Kind` `estimated`.
fn estimated_values(p: &Priced) -> [Cow<'static, str>; 17] {
    use std::borrow::Cow::{Borrowed, Owned};
    let g = &p.group;
    [
        Owned(g.name.clone()),
        Owned(g.day.to_string()),
        Owned(g.account.clone()),
        Owned(g.project.clone()),
        Borrowed(""),
        Owned(estimated_item(p)),
        Owned(g.model.clone()),
        Borrowed(""),
        Borrowed("estimated"),
        Owned(g.tier.clone()),
        Borrowed(""),
        Owned(p.cost().map(|m| m.to_stored()).unwrap_or_default()),
        Borrowed("USD"),
        Owned(p.tokens.to_string()),
        Borrowed("tokens"),
        Borrowed(""),
        Borrowed("estimated"),
    ]
}

/// How each FOCUS column reads in a spreadsheet, in [`FOCUS_COLUMNS`]' order:
/// the four costs and the two quantities are numbers.
const FOCUS_KINDS: [Column; 34] = [
    Number, Number, Number, Number, Text, Text, Text, Text, Text, Text, Text, Text, Text, Text,
    Text, Text, Number, Text, Text, Text, Text, Text, Text, Text, Text, Text, Text, Text, Number,
    Text, Text, Text, Text, Text,
];

/// FOCUS 1.2 columns written, the mandatory ones first.
pub const FOCUS_COLUMNS: [&str; 34] = [
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "BillingCurrency",
    "BillingAccountId",
    "BillingAccountName",
    "BillingAccountType",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "PricingQuantity",
    "PricingUnit",
    "PricingCategory",
    "ProviderName",
    "PublisherName",
    "InvoiceIssuerName",
    "ServiceCategory",
    "ServiceSubcategory",
    "ServiceName",
    "SubAccountId",
    "SubAccountName",
    "SubAccountType",
    "ConsumedQuantity",
    "ConsumedUnit",
    "SkuId",
    "ResourceId",
    "Tags",
    // Not FOCUS's: `billed`, or `estimated` (from local logs, at list prices).
    "x-CostKind",
];

/// FOCUS service name, category, subcategory and sub-account type of a
/// line: what its collector said, else generic defaults.
fn service(l: &CostLine<'_>) -> [String; 4] {
    let [name, category, subcategory, sub_account] = l.service;
    [
        name.map_or_else(|| format!("{} API", l.provider_name), str::to_string),
        category.unwrap_or("AI and Machine Learning").to_string(),
        subcategory.unwrap_or("Generative AI").to_string(),
        sub_account.unwrap_or("Project").to_string(),
    ]
}

/// One FOCUS row per cost line. Billed, effective, list and contracted cost
/// are the billed amount: the admin APIs report what was charged, with no
/// separate list price or commitment. Returns the rows written.
pub fn write_focus(
    w: impl Write,
    store: &impl BillingReads,
    period: Period,
    estimated: &[Priced],
) -> Result<usize, ExportError> {
    let mut out = csv::Writer::from_writer(w);
    out.write_record(FOCUS_COLUMNS)?;
    let mut n = 0usize;
    store.each_cost_line(period.from, period.to, |l| -> Result<(), ExportError> {
        let day: NaiveDate =
            l.day.parse().map_err(|_| ExportError::Write(format!("bad day {:?}", l.day)))?;
        let month = Period::month_of(day);
        let next_day = day.succ_opt().unwrap_or(day);
        let next_month = month.to.succ_opt().unwrap_or(month.to);
        let cost = cost_text(l.amount);
        let provider = l.provider_name.to_string();
        let [service_name, category, subcategory, sub_account_type] = service(l);
        let description = if l.line_item.is_empty() { l.cost_type } else { l.line_item };
        let tokens = matches!(l.quantity_unit, Some("tokens"));
        let sku = [l.model, l.token_type, l.cost_type]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("/");
        let record: [String; 34] = [
            cost.clone(),
            cost.clone(),
            cost.clone(),
            cost,
            l.currency.to_string(),
            format!("{}:{}", l.provider, l.account),
            format!("{provider} ({})", l.account),
            "Organization".into(),
            format!("{}T00:00:00Z", month.from),
            format!("{next_month}T00:00:00Z"),
            format!("{day}T00:00:00Z"),
            format!("{next_day}T00:00:00Z"),
            "Usage".into(),
            String::new(),
            description.to_string(),
            "Usage-Based".into(),
            l.quantity.unwrap_or("").to_string(),
            l.quantity_unit.unwrap_or("").to_string(),
            "Standard".into(),
            provider.clone(),
            provider.clone(),
            provider,
            category,
            subcategory,
            service_name,
            l.project.to_string(),
            if l.project.is_empty() { "(default)".into() } else { l.project.to_string() },
            sub_account_type,
            if tokens { l.quantity.unwrap_or("").to_string() } else { String::new() },
            if tokens { "Tokens".into() } else { String::new() },
            sku,
            l.api_key.to_string(),
            String::from("{}"),
            "billed".into(),
        ];
        out.write_record(record.iter().zip(FOCUS_KINDS).map(|(v, k)| Cell(sheet_cell(v, k))))?;
        n += 1;
        Ok(())
    })??;
    for p in estimated {
        let Some(record) = focus_estimated(p) else { continue };
        out.write_record(record.iter().zip(FOCUS_KINDS).map(|(v, k)| Cell(sheet_cell(v, k))))?;
        n += 1;
    }
    out.flush()?;
    Ok(n)
}

/// A FOCUS row of a priced estimate: nothing billed (`BilledCost` 0), the
/// estimate at list prices as its list, contracted and effective cost, and
/// `x-CostKind` `estimated`. An unpriced group has no cost to state: it is
/// left out (the detail export lists it).
fn focus_estimated(p: &Priced) -> Option<[String; 34]> {
    let cost = p.cost()?.to_stored();
    let g = &p.group;
    let month = Period::month_of(g.day);
    let next_day = g.day.succ_opt().unwrap_or(g.day);
    let next_month = month.to.succ_opt().unwrap_or(month.to);
    let sku = if g.tier.is_empty() { g.model.clone() } else { format!("{}/{}", g.model, g.tier) };
    Some([
        "0".into(),
        cost.clone(),
        cost.clone(),
        cost,
        "USD".into(),
        format!("{}:{}", g.provider, g.account),
        format!("{} ({})", g.name, g.account),
        "Organization".into(),
        format!("{}T00:00:00Z", month.from),
        format!("{next_month}T00:00:00Z"),
        format!("{}T00:00:00Z", g.day),
        format!("{next_day}T00:00:00Z"),
        "Usage".into(),
        String::new(),
        format!("{}: {}", g.model, estimated_item(p)),
        "Usage-Based".into(),
        p.tokens.to_string(),
        "Tokens".into(),
        "Standard".into(),
        g.name.clone(),
        g.name.clone(),
        g.name.clone(),
        "AI and Machine Learning".into(),
        "Generative AI".into(),
        format!("{} API", g.name),
        g.project.clone(),
        if g.project.is_empty() { "(default)".into() } else { g.project.clone() },
        "Project".into(),
        p.tokens.to_string(),
        "Tokens".into(),
        sku,
        String::new(),
        String::from("{}"),
        "estimated".into(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_never_reach_a_spreadsheet() {
        let text = |s: &str| sheet_cell(s, Text).into_owned();
        assert_eq!(text("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(text("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(text("+1"), "'+1");
        assert_eq!(text("-cmd"), "'-cmd");
        // A digit after the sign does not make it a number: it is still a formula.
        assert_eq!(text("-1+1+cmd|' /C calc'!A0"), "'-1+1+cmd|' /C calc'!A0");
        assert_eq!(text("-0+HYPERLINK(\"http://x\")"), "'-0+HYPERLINK(\"http://x\")");
        assert_eq!(text("-1.50"), "'-1.50", "a text column holds text");
        assert_eq!(text("  =1+1"), "'  =1+1");
        assert_eq!(text("\n@x"), "'\n@x");
        assert_eq!(text("\tx"), "'\tx");
        assert_eq!(text("\rx"), "'\rx");
        assert_eq!(text("gpt-4o, input"), "gpt-4o, input");
        assert_eq!(text("2025-08-01T00:00:00Z"), "2025-08-01T00:00:00Z");
        assert_eq!(text(""), "");
        assert_eq!(text("   "), "   ");
        let number = |s: &str| sheet_cell(s, Number).into_owned();
        for n in ["-1.50", "0.30", "1234", "-0", "1.5e-05", "2E+3"] {
            assert_eq!(number(n), n);
        }
        for (not_a_number, shown) in
            [("-1+1", "'-1+1"), ("+5", "'+5"), ("-", "'-"), ("1.", "1."), (" 5", " 5")]
        {
            assert_eq!(number(not_a_number), shown);
        }
    }

    #[test]
    fn daily_csv_neutralises_a_provider_name_but_not_its_numbers() {
        let days = vec![DayTotal {
            provider: "-1+1+cmd|' /C calc'!A0".into(),
            date: "2025-08-01".parse().unwrap(),
            tokens: -3,
            cost: "-1.5".into(),
            collected_at: "2025-08-02T00:00:00Z".into(),
            not_in_cost_tokens: 0,
            estimated: false,
        }];
        let mut buf = Vec::new();
        write_daily(&mut buf, &days, Format::Csv).unwrap();
        let csv = String::from_utf8(buf).unwrap();
        assert!(
            csv.ends_with(
                "\n'-1+1+cmd|' /C calc'!A0,2025-08-01,-3,-1.50,2025-08-02T00:00:00Z,0,billed\n"
            ),
            "{csv}"
        );
        let mut buf = Vec::new();
        write_daily(&mut buf, &days, Format::Json).unwrap();
        let json = String::from_utf8(buf).unwrap();
        assert!(json.contains(r#""Provider": "-1+1+cmd|' /C calc'!A0""#), "{json}");
    }

    #[test]
    fn daily_csv_keeps_the_original_shape_and_exact_cost() {
        let days = vec![DayTotal {
            provider: "OpenAI".into(),
            date: "2025-08-01".parse().unwrap(),
            tokens: 42,
            cost: "0.3".into(),
            collected_at: "2025-08-02T00:00:00Z".into(),
            not_in_cost_tokens: 5,
            estimated: false,
        }];
        let mut buf = Vec::new();
        assert_eq!(write_daily(&mut buf, &days, Format::Csv).unwrap(), 1);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "Provider,Date,Tokens,Cost,Collected At,Tokens Without Billed Cost,Cost Kind\nOpenAI,2025-08-01,42,0.30,2025-08-02T00:00:00Z,5,billed\n"
        );
    }
}
