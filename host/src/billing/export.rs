//! Exports: the daily CSV of the original plan (`Provider, Date, Tokens,
//! Cost, Collected At`, then the columns added since), a detailed CSV with one row per cost line, JSON of
//! either, and FinOps FOCUS 1.2 rows. Money is exact decimal text, dates are
//! UTC. Writers take any `impl Write`; the caller picks the file.

use std::io::Write;

use chrono::NaiveDate;
use serde::Serialize;

use super::money::Money;
use super::summary::Period;
use crate::store::reports::{CostLine, DayTotal};
use crate::store::Store;

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
    provider: &'a str,
    #[serde(rename = "Date")]
    date: NaiveDate,
    #[serde(rename = "Tokens")]
    tokens: i64,
    #[serde(rename = "Cost")]
    cost: String,
    #[serde(rename = "Collected At")]
    collected_at: &'a str,
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
    let rows = days.iter().map(|d| DailyRow {
        provider: &d.provider,
        date: d.date,
        tokens: d.tokens,
        cost: cost_text(&d.cost),
        collected_at: &d.collected_at,
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

const DETAIL_HEADER: [&str; 16] = [
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
];

/// One row per cost line (model, project, line item…). Returns the rows written.
pub fn write_detail(
    mut w: impl Write,
    store: &Store,
    period: Period,
    format: Format,
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
            w.write_all(b"\n]\n")?;
        }
        _ => {
            let mut out = csv::Writer::from_writer(w);
            out.write_record(DETAIL_HEADER)?;
            store.each_cost_line(period.from, period.to, |l| -> Result<(), ExportError> {
                out.write_record(detail_values(l).iter().map(|v| sheet_safe(v)))?;
                n += 1;
                Ok(())
            })??;
            out.flush()?;
        }
    }
    Ok(n)
}

/// A CSV cell a spreadsheet will not run as a formula: text that starts
/// with `=`, `+`, `@`, a tab or a carriage return, or with `-` and no digit
/// after it, gets a leading `'` (numbers such as `-1.50` are left alone).
/// Line items, models and projects are text a plugin chose.
fn sheet_safe(cell: &str) -> Cell<'_> {
    let risky = match cell.as_bytes() {
        [b'=' | b'+' | b'@' | b'\t' | b'\r', ..] => true,
        [b'-', next, ..] => !next.is_ascii_digit(),
        _ => false,
    };
    if risky {
        Cell(std::borrow::Cow::Owned(format!("'{cell}")))
    } else {
        Cell(std::borrow::Cow::Borrowed(cell))
    }
}

/// A CSV cell's bytes (copied only when a `'` had to be added).
struct Cell<'a>(std::borrow::Cow<'a, str>);

impl AsRef<[u8]> for Cell<'_> {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

fn detail_values<'a>(l: &CostLine<'a>) -> [std::borrow::Cow<'a, str>; 16] {
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
    ]
}

/// FOCUS 1.2 columns written, the mandatory ones first.
pub const FOCUS_COLUMNS: [&str; 33] = [
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
pub fn write_focus(w: impl Write, store: &Store, period: Period) -> Result<usize, ExportError> {
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
        let record: [String; 33] = [
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
        ];
        out.write_record(record.iter().map(|v| sheet_safe(v)))?;
        n += 1;
        Ok(())
    })??;
    out.flush()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_never_reach_a_spreadsheet() {
        let safe = |s: &str| sheet_safe(s).0.into_owned();
        assert_eq!(safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(safe("+1"), "'+1");
        assert_eq!(safe("-cmd"), "'-cmd");
        assert_eq!(safe("-1.50"), "-1.50");
        assert_eq!(safe("gpt-4o, input"), "gpt-4o, input");
        assert_eq!(safe(""), "");
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
