//! `prices` and `reconcile`: the price table estimates use, and billed
//! cost against the estimates.

use std::io::Write;

use serde::Serialize;

use super::write_err;
use crate::billing::prices::{Model, PriceTable, Rate, Rates};
use crate::billing::reconcile::{self, DEFAULT_THRESHOLD_PCT};
use crate::cli::{PricesArgs, PricesCommand, ReconcileArgs};
use crate::context::Context;
use crate::error::{ExitCode, HostError, Result};

/// One model's prices as shown.
#[derive(Serialize)]
struct ModelPrices<'a> {
    provider: &'a str,
    asked: &'a str,
    model: &'a str,
    /// USD per million tokens, oldest first.
    history: Vec<RatesView>,
}

#[derive(Serialize)]
struct RatesView {
    since: Option<String>,
    input: Option<String>,
    output: Option<String>,
    cache_read: Option<String>,
    cache_write_5m: Option<String>,
    cache_write_1h: Option<String>,
}

impl RatesView {
    /// One line: the rates, and the day they apply from if not always.
    fn line(&self) -> String {
        let none = "none".to_string();
        let since = self.since.as_ref().map(|s| format!("from {s}: ")).unwrap_or_default();
        format!(
            "{since}input {}, output {}, cache read {}, cache write 5m {}, 1h {}",
            self.input.as_ref().unwrap_or(&none),
            self.output.as_ref().unwrap_or(&none),
            self.cache_read.as_ref().unwrap_or(&none),
            self.cache_write_5m.as_ref().unwrap_or(&none),
            self.cache_write_1h.as_ref().unwrap_or(&none),
        )
    }
}

impl From<&Rates> for RatesView {
    fn from(r: &Rates) -> Self {
        let d = |r: &Option<Rate>| r.as_ref().map(Rate::describe);
        RatesView {
            since: r.since.map(|d| d.to_string()),
            input: d(&r.input),
            output: d(&r.output),
            cache_read: d(&r.cache_read),
            cache_write_5m: d(&r.cache_write),
            cache_write_1h: d(&r.cache_write_1h),
        }
    }
}

/// `agent-host prices [--model M] [--provider P]` and `prices update --from FILE`.
pub fn prices(ctx: &Context, args: &PricesArgs) -> Result<u8> {
    let mut out = std::io::stdout().lock();
    if let Some(PricesCommand::Update { from }) = &args.command {
        let table = crate::billing::prices::import(ctx.home.path(), from, ctx.today()?)?;
        let (p, m) = table.size();
        writeln!(out, "price table updated: {p} providers, {m} models, {}", table.source)
            .map_err(write_err)?;
        return Ok(ExitCode::OK);
    }
    let table = ctx.prices();
    match &args.model {
        None => print_table(&mut out, &table, args.json)?,
        Some(asked) => print_model(&mut out, &table, args, asked)?,
    }
    Ok(ExitCode::OK)
}

/// What the table is, and how big.
fn print_table(out: &mut dyn Write, table: &PriceTable, json: bool) -> Result<()> {
    let (p, m) = table.size();
    let text = if json {
        let v = serde_json::json!({
            "source": table.source, "date": table.date, "providers": p, "models": m
        });
        serde_json::to_string_pretty(&v).unwrap_or_default()
    } else {
        format!(
            "price table: {} (dated {}): {p} providers, {m} models\n  `agent-host prices \
             --model NAME` shows one model's prices (USD per million tokens)",
            table.source, table.date
        )
    };
    writeln!(out, "{text}").map_err(write_err)
}

/// One model's rates in every price list that has it; none is a usage error.
fn print_model(
    out: &mut dyn Write,
    table: &PriceTable,
    args: &PricesArgs,
    asked: &str,
) -> Result<()> {
    let provider = match args.provider.as_deref() {
        None => None,
        Some(p) => Some(price_list(table, p)?),
    };
    let found = matches(table, provider, asked);
    if found.is_empty() {
        let whose = provider.map(|p| format!("{p}'s ")).unwrap_or_default();
        return Err(HostError::usage(format!(
            "model {asked:?} is not in {whose}price table ({}): its usage is reported as unpriced, never $0",
            table.source
        ))
        .with_hint("`agent-host prices update --from FILE` imports a newer genai-prices data.json"));
    }
    let views: Vec<ModelPrices<'_>> = found
        .iter()
        .map(|(provider, m)| ModelPrices {
            provider,
            asked,
            model: &m.id,
            history: m.history.iter().map(RatesView::from).collect(),
        })
        .collect();
    if args.json {
        let v = serde_json::json!({"source": table.source, "date": table.date, "models": views});
        return writeln!(out, "{}", serde_json::to_string_pretty(&v).unwrap_or_default())
            .map_err(write_err);
    }
    writeln!(out, "price table: {} (dated {}); USD per million tokens", table.source, table.date)
        .map_err(write_err)?;
    for v in &views {
        writeln!(out, "\n{} {} (priced as {})", v.provider, v.asked, v.model).map_err(write_err)?;
        for r in &v.history {
            writeln!(out, "  {}", r.line()).map_err(write_err)?;
        }
    }
    Ok(())
}

/// The table's id for `asked`: an id in any case (`OpenAI` is `openai`);
/// one the table does not have is a usage error listing those it has.
fn price_list<'t>(table: &'t PriceTable, asked: &str) -> Result<&'t str> {
    let want = asked.trim();
    table.provider_ids().find(|id| id.eq_ignore_ascii_case(want)).ok_or_else(|| {
        HostError::usage(format!(
            "unknown provider {want:?}; the price table has: {}",
            table.provider_ids().collect::<Vec<_>>().join(", ")
        ))
    })
}

/// The providers whose table prices `model`, with the model it matches.
fn matches<'t>(
    table: &'t PriceTable,
    provider: Option<&'t str>,
    model: &str,
) -> Vec<(&'t str, &'t Model)> {
    let ids: Vec<&str> = match provider {
        Some(p) => vec![p],
        None => table.provider_ids().collect(),
    };
    ids.into_iter().filter_map(|p| table.find(p, model).map(|m| (p, m))).collect()
}

/// The reconciliation `reconcile` prints.
pub(crate) fn reconcile_data(
    ctx: &Context,
    period: &crate::cli::PeriodArgs,
) -> Result<reconcile::Reconciliation> {
    let threshold = ctx.settings.bounded(
        "RECONCILE_DRIFT_PCT",
        u64::from(DEFAULT_THRESHOLD_PCT),
        1000,
        "a whole percentage",
    )? as u32;
    let period = super::billing::period(ctx, period)?;
    let store = ctx.store()?;
    Ok(reconcile::reconcile(&store, &ctx.prices(), period, threshold)?)
}

/// `agent-host reconcile`.
pub fn reconcile(ctx: &Context, args: &ReconcileArgs) -> Result<u8> {
    let text = if args.json {
        super::views::pretty(&super::views::reconcile_value(ctx, &args.period)?)
    } else {
        reconcile::render(&reconcile_data(ctx, &args.period)?)
    };
    writeln!(std::io::stdout().lock(), "{}", text.trim_end()).map_err(write_err)?;
    Ok(ExitCode::OK)
}
