//! Delivers alerts: Discord and Slack incoming webhooks and a generic JSON
//! webhook, each in its own format and within its message limits, waiting
//! out a 429's `retry_after`. Webhook URLs are secrets: no message says them.

use std::time::Duration;

use plugin_api::{HttpRequest, LogLevel};
use serde_json::json;

use super::alerts::Alert;
use super::error::{BillingError, Result};
use crate::config::Settings;
use crate::kernel::http::HttpClient;
use crate::logging::redact;

/// Discord's limit on `content`.
const DISCORD_MAX: usize = 2000;
/// Slack's limit on `text`.
const SLACK_MAX: usize = 40_000;
/// How often a 429 is waited out before giving up until the next run.
const RATE_LIMIT_TRIES: u32 = 3;

/// Where alerts go.
#[derive(Clone)]
pub struct Channel {
    /// `discord`, `slack` or `webhook`.
    pub name: &'static str,
    url: String,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Channel({})", self.name)
    }
}

/// The configured channels; a value that is not an http(s) URL is an error
/// naming the variable (never the value).
pub fn channels(settings: &Settings) -> Result<Vec<Channel>> {
    let mut out = Vec::new();
    for (var, name) in [
        ("DISCORD_WEBHOOK_URL", "discord"),
        ("SLACK_WEBHOOK_URL", "slack"),
        ("ALERT_WEBHOOK_URL", "webhook"),
    ] {
        if let Some(url) = settings.get(var) {
            let ok = url::Url::parse(url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !ok {
                return Err(BillingError::WebhookUrl(var));
            }
            out.push(Channel { name, url: url.to_string() });
        }
    }
    Ok(out)
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max - 1).collect();
    s.push('…');
    s
}

/// The JSON body for `alert` on `channel`.
pub fn payload(channel: &Channel, alert: &Alert) -> serde_json::Value {
    let icon = if alert.severity == "critical" { "🚨" } else { "⚠️" };
    match channel.name {
        "discord" => json!({
            "username": "agent-host",
            "content": clip(&format!("{icon} **{}**\n{}", alert.title, alert.message), DISCORD_MAX),
            "allowed_mentions": { "parse": [] },
        }),
        "slack" => json!({
            "text": clip(&format!("{icon} *{}*\n{}", alert.title, alert.message), SLACK_MAX),
        }),
        _ => json!({
            "source": "agent-host",
            "key": alert.key,
            "rule": alert.rule,
            "severity": alert.severity,
            "title": alert.title,
            "period": alert.period,
            "message": alert.message,
            "amounts": alert.amounts,
        }),
    }
}

/// Posts `alert` to `channel`.
pub fn deliver(
    client: &HttpClient,
    channel: &Channel,
    alert: &Alert,
) -> std::result::Result<(), String> {
    let body = serde_json::to_vec(&payload(channel, alert)).unwrap_or_default();
    let mut req = HttpRequest::get(&channel.url).header("Content-Type", "application/json");
    req.method = "POST".into();
    req.body = body.into();
    let hide = |e: String| {
        let path = url::Url::parse(&channel.url).map(|u| u.path().to_string()).unwrap_or_default();
        redact(&e, &[channel.url.clone(), path])
    };
    for attempt in 1..=RATE_LIMIT_TRIES {
        let resp = client.execute_direct(&req, &|_: LogLevel, _: &str| {}).map_err(hide)?;
        match resp.status {
            200..=299 => return Ok(()),
            429 if attempt < RATE_LIMIT_TRIES => {
                // Discord sends `retry_after` (seconds) in the body; Slack and
                // others a `Retry-After` header.
                let from_body = serde_json::from_slice::<serde_json::Value>(&resp.body)
                    .ok()
                    .and_then(|v| v.get("retry_after").and_then(|r| r.as_f64()));
                let from_header =
                    resp.header("retry-after").and_then(|h| h.trim().parse::<f64>().ok());
                let secs = from_body.or(from_header).unwrap_or(1.0).clamp(0.0, 30.0);
                std::thread::sleep(Duration::from_millis((secs * 1000.0) as u64));
            }
            status => {
                let text: String = resp.text().chars().take(200).collect();
                return Err(hide(format!(
                    "{} answered HTTP {status}: {}",
                    channel.name,
                    text.trim()
                )));
            }
        }
    }
    Err(format!("{} kept answering 429; will retry next run", channel.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(message: String) -> Alert {
        Alert {
            key: "k".into(),
            rule: "budget",
            severity: "warning",
            title: "t".into(),
            period: "2025-08".into(),
            message,
            amounts: Default::default(),
        }
    }

    #[test]
    fn discord_content_respects_its_limit() {
        let c = Channel { name: "discord", url: "https://discord.example/api/webhooks/1/x".into() };
        let p = payload(&c, &alert("x".repeat(5000)));
        assert_eq!(p["content"].as_str().unwrap().chars().count(), DISCORD_MAX);
        let s = Channel { name: "slack", url: "https://hooks.slack.example/services/x".into() };
        assert!(payload(&s, &alert("hi".into()))["text"].as_str().unwrap().contains("*t*\nhi"));
    }

    #[test]
    fn bad_webhook_urls_are_named_not_shown() {
        let s = Settings::from_map(
            [("SLACK_WEBHOOK_URL".into(), "not a url secret-token".into())].into(),
        );
        let e = channels(&s).unwrap_err();
        assert!(e.to_string().contains("SLACK_WEBHOOK_URL is not an http(s) URL"));
        assert!(!e.to_string().contains("secret-token"));
    }
}
