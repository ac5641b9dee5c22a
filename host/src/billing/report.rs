//! Turning stored data into the alerts due today and sending them: reads
//! the rule settings, evaluates the rules, skips what was already sent on a
//! channel, delivers the rest and records each delivery. A delivery failure
//! is logged and retried next run; it never fails the caller.

use crate::billing::storage::BillingReads;
use std::io::Write;

use bigdecimal::BigDecimal;
use chrono::{Days, NaiveDate, Utc};
use serde::Serialize;

use super::alerts::{evaluate, Alert, AlertSettings};
use super::email::{email_channel, EmailChannel, ProviderSpend};
use super::error::{BillingError, Result};
use super::money::Money;
use super::notify::{channels, deliver, payload};
use super::period::Period;
use super::prices::PriceTable;
use crate::config::Settings;
use crate::kernel::http::HttpClient;
use crate::kernel::http::HttpSettings;

/// Reads the rule settings; a value that does not parse is a config error.
pub fn alert_settings(s: &Settings) -> Result<AlertSettings> {
    let budget = match s.get("MONTHLY_BUDGET_USD") {
        None => Money::parse_major("50").unwrap_or_default(),
        Some(v) => Money::parse_major(v)
            .ok()
            .filter(|m| *m > Money::zero())
            .ok_or_else(|| BillingError::Budget(v.into()))?,
    };
    let thresholds = match s.get("ALERT_BUDGET_THRESHOLDS") {
        None => vec![50, 80, 100],
        Some(v) => v
            .split(',')
            .map(|t| t.trim().parse::<u32>().ok().filter(|t| (1..=1000).contains(t)))
            .collect::<Option<Vec<_>>>()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| BillingError::Thresholds(v.into()))?,
    };
    let spike_factor = match s.get("ALERT_SPIKE_FACTOR") {
        None => BigDecimal::from(3),
        Some(v) => {
            let one = BigDecimal::from(1);
            super::money::parse_decimal(v)
                .ok()
                .filter(|d| d > &one)
                .ok_or_else(|| BillingError::SpikeFactor(v.into()))?
        }
    };
    Ok(AlertSettings { budget, thresholds, spike_factor })
}

/// The alerts that hold on `today`, with the month's spend by provider
/// (what an email shows beside them).
/// Providers without billed data count by their estimate from local logs.
pub fn due_alerts(
    store: &impl BillingReads,
    settings: &AlertSettings,
    prices: &PriceTable,
    today: NaiveDate,
) -> Result<(Vec<Alert>, Vec<ProviderSpend>)> {
    let yesterday = today - Days::new(1);
    let month = Period::month_of(yesterday);
    let from = month.from.min(yesterday - Days::new(15));
    let days =
        super::estimate::with_stand_ins(store, prices, Period { from, to: yesterday }, today)?;
    let runs = store.last_runs()?;
    let mut spend: Vec<ProviderSpend> = Vec::new();
    for d in days.iter().filter(|d| d.date >= month.from) {
        let cost = Money::from_stored(&d.cost);
        match spend.iter_mut().find(|s| s.provider == d.provider) {
            Some(s) => {
                s.cost = (Money::from_stored(&s.cost) + cost).to_stored();
                s.estimated |= d.estimated;
            }
            None => spend.push(ProviderSpend {
                provider: d.provider.clone(),
                cost: cost.to_stored(),
                estimated: d.estimated,
            }),
        }
    }
    spend.sort_by(|a, b| a.provider.cmp(&b.provider));
    Ok((evaluate(today, &days, &runs, settings), spend))
}

/// A place alerts go: a webhook, or email.
enum Target {
    Webhook(super::notify::Channel),
    Email(Box<EmailChannel>),
}

impl Target {
    fn name(&self) -> &'static str {
        match self {
            Target::Webhook(c) => c.name,
            Target::Email(_) => "email",
        }
    }
}

impl AlertOutcome {
    /// One line for the console.
    pub fn summary_line(&self) -> String {
        format!(
            "{} alert(s) due, {} sent, {} sent before, {} failed (retried next run)",
            self.due.len(),
            self.sent.len(),
            self.already_sent,
            self.failed.len()
        )
    }
}

/// What happened to the alerts of one check.
#[derive(Debug, Default, Serialize)]
pub struct AlertOutcome {
    /// Alerts that hold now.
    pub due: Vec<Alert>,
    /// `key → channel` deliveries made (or, on a dry run, that would be made).
    pub sent: Vec<(String, String)>,
    /// Deliveries skipped because they went out before.
    pub already_sent: usize,
    /// Deliveries that failed (retried next run).
    pub failed: Vec<(String, String, String)>,
}

/// Evaluates the rules and sends what is due; `dry_run` prints instead.
pub fn check_alerts(
    store: &mut impl BillingReads,
    settings: &Settings,
    prices: &PriceTable,
    today: NaiveDate,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<AlertOutcome> {
    let rules = alert_settings(settings)?;
    let mut targets: Vec<Target> = channels(settings)?.into_iter().map(Target::Webhook).collect();
    if let Some(email) = email_channel(settings)? {
        targets.push(Target::Email(Box::new(email)));
    }
    let (due, spend) = due_alerts(store, &rules, prices, today)?;
    let month = Period::month_of(today - Days::new(1)).from.format("%Y-%m").to_string();
    let mut outcome = AlertOutcome { due, ..Default::default() };
    if targets.is_empty() && !outcome.due.is_empty() {
        tracing::warn!(
            "{} alert(s) due but no channel is configured: set DISCORD_WEBHOOK_URL, SLACK_WEBHOOK_URL, ALERT_WEBHOOK_URL or ALERT_SMTP_URL",
            outcome.due.len()
        );
    }
    // Webhooks answer fast or not at all: a shorter timeout than collection's.
    let client = HttpClient::new(HttpSettings {
        timeout_ms: 15_000,
        ..HttpSettings::from_settings(settings)?
    });
    for alert in &outcome.due {
        for target in &targets {
            let name = target.name();
            if store.alert_sent(&alert.key, name)? {
                outcome.already_sent += 1;
                continue;
            }
            if dry_run {
                let preview = match target {
                    Target::Webhook(ch) => payload(ch, alert).to_string(),
                    Target::Email(e) => format!(
                        "to {}: {}\n{}",
                        e.recipients(),
                        super::email::subject(alert),
                        super::email::text_body(alert, &month, &spend)
                    ),
                };
                writeln!(out, "would send to {name}: {preview}").map_err(BillingError::Write)?;
                outcome.sent.push((alert.key.clone(), name.to_string()));
                continue;
            }
            let sent = match target {
                Target::Webhook(ch) => deliver(&client, ch, alert),
                Target::Email(e) => e.send(&e.message(alert, &month, &spend)?),
            };
            match sent {
                Ok(()) => {
                    store.record_alert(&alert.key, name, &Utc::now().to_rfc3339(), &alert.title)?;
                    tracing::info!("alert {} sent to {name}", alert.key);
                    outcome.sent.push((alert.key.clone(), name.to_string()));
                }
                Err(e) => {
                    tracing::warn!(
                        "alert {} not delivered to {name}: {e}; will retry next run",
                        alert.key
                    );
                    outcome.failed.push((alert.key.clone(), name.to_string(), e));
                }
            }
        }
    }
    if dry_run && targets.is_empty() {
        for alert in &outcome.due {
            writeln!(out, "due (no channel configured): {}: {}", alert.key, alert.title)
                .map_err(BillingError::Write)?;
        }
    }
    Ok(outcome)
}
