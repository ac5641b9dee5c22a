//! Email alerts: reads `ALERT_SMTP_URL`, `ALERT_EMAIL_TO` and
//! `ALERT_EMAIL_FROM`, writes one message per alert (a subject naming the
//! rule and the period, a plain-text body and an HTML part with the month's
//! spend by provider, rounded to cents, without links) and sends it over
//! SMTP with rustls. The SMTP URL is a secret: no error or log line says it,
//! its password included.

use std::net::IpAddr;
use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};

use super::alerts::Alert;
use super::error::{BillingError, Result};
use crate::config::Settings;
use crate::logging::redact;
use crate::table::{self, Align};

/// How a connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// `smtps://`: TLS from the first byte (port 465).
    Implicit,
    /// `smtp://` to any host but this machine: STARTTLS, or no message.
    StartTls,
    /// `?tls=opportunistic`: STARTTLS when the server offers it.
    Opportunistic,
    /// `?tls=none`, or `smtp://` to a loopback address: plain text.
    None,
}

/// Where and how to connect, read from `ALERT_SMTP_URL`.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpServer {
    /// Host name or address.
    pub host: String,
    /// Port (587 for `smtp://`, 465 for `smtps://` unless the URL says).
    pub port: u16,
    /// Transport security.
    pub tls: TlsMode,
    login: Option<(String, String)>,
}

// The login is a secret.
impl std::fmt::Debug for SmtpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SmtpServer({}:{}, {:?})", self.host, self.port, self.tls)
    }
}

/// Reads an SMTP URL: `smtp://user:pass@host:587`, `smtps://…:465`, with an
/// optional `?tls=required|opportunistic|none`. A host other than this
/// machine gets STARTTLS unless the URL says otherwise. Errors never repeat
/// the URL.
pub fn parse_smtp_url(text: &str) -> std::result::Result<SmtpServer, String> {
    let url = url::Url::parse(text).map_err(|e| format!("is not a URL ({e})"))?;
    let host = match url.host() {
        Some(url::Host::Ipv6(a)) => a.to_string(),
        Some(h) => h.to_string(),
        None => return Err("has no host".into()),
    };
    let mut asked = None;
    for (k, v) in url.query_pairs() {
        match (k.as_ref(), v.as_ref()) {
            ("tls", "required") => asked = Some(TlsMode::StartTls),
            ("tls", "opportunistic") => asked = Some(TlsMode::Opportunistic),
            ("tls", "none") => asked = Some(TlsMode::None),
            ("tls", _) => return Err("has tls= other than required, opportunistic or none".into()),
            (k, _) => return Err(format!("has an unknown parameter {k:?} (only tls= is read)")),
        }
    }
    let tls = match (url.scheme(), asked) {
        ("smtps", None) => TlsMode::Implicit,
        ("smtps", Some(_)) => return Err("is smtps:// (always TLS) and also sets tls=".into()),
        ("smtp", Some(mode)) => mode,
        ("smtp", None) if is_loopback(&host) => TlsMode::None,
        ("smtp", None) => TlsMode::StartTls,
        (other, _) => return Err(format!("has the scheme {other:?}, not smtp or smtps")),
    };
    let port = url.port().unwrap_or(if tls == TlsMode::Implicit { 465 } else { 587 });
    let decode = |s: &str| percent_decode(s);
    let login = match (url.username(), url.password()) {
        ("", None) => None,
        (user, Some(pass)) => Some((decode(user), decode(pass))),
        (_, None) => return Err("has a user name without a password".into()),
    };
    Ok(SmtpServer { host, port, tls, login })
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Whether `host` is this machine: `localhost` or a loopback address.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The email channel: a server, a sender and its recipients.
#[derive(Debug, Clone)]
pub struct EmailChannel {
    server: SmtpServer,
    from: Mailbox,
    to: Vec<Mailbox>,
    secrets: Vec<String>,
}

/// The email channel, if `ALERT_SMTP_URL` is set; a missing or bad
/// companion setting is an error naming it (never the URL's value).
pub fn email_channel(settings: &Settings) -> Result<Option<EmailChannel>> {
    let url = settings.get("ALERT_SMTP_URL");
    let to = settings.get("ALERT_EMAIL_TO");
    let from = settings.get("ALERT_EMAIL_FROM");
    let Some(url) = url else {
        return match (to, from) {
            (None, None) => Ok(None),
            _ => Err(BillingError::EmailWithoutServer),
        };
    };
    let server = parse_smtp_url(url).map_err(BillingError::SmtpUrl)?;
    let need = |name: &'static str, v: Option<&str>| {
        v.map(str::to_string).ok_or(BillingError::MissingEmailSetting(name))
    };
    let mailbox = |name: &'static str, text: &str| {
        text.trim()
            .parse::<Mailbox>()
            .map_err(|_| BillingError::NotAnAddress { name, text: text.trim().to_string() })
    };
    let from = mailbox("ALERT_EMAIL_FROM", &need("ALERT_EMAIL_FROM", from)?)?;
    let to = need("ALERT_EMAIL_TO", to)?
        .split(',')
        .filter(|t| !t.trim().is_empty())
        .map(|t| mailbox("ALERT_EMAIL_TO", t))
        .collect::<Result<Vec<_>>>()?;
    if to.is_empty() {
        return Err(BillingError::NoRecipient);
    }
    let mut secrets = vec![url.to_string()];
    if let Some((_, pass)) = &server.login {
        secrets.push(pass.clone());
    }
    Ok(Some(EmailChannel { server, from, to, secrets }))
}

/// One provider's spend in the alert's month, exact.
#[derive(Debug, Clone)]
pub struct ProviderSpend {
    /// Display name.
    pub provider: String,
    /// Exact USD text.
    pub cost: String,
    /// Estimated from local logs, not billed.
    pub estimated: bool,
}

/// The subject: the rule, the period and the title.
pub fn subject(alert: &Alert) -> String {
    format!("[agent-host] {} alert, {}: {}", alert.rule, alert.period, alert.title)
}

/// The plain-text body: the message, then the month by provider in cents.
pub fn text_body(alert: &Alert, month: &str, spend: &[ProviderSpend]) -> String {
    let mut rows: Vec<Vec<String>> = spend
        .iter()
        .map(|s| {
            let label = if s.estimated {
                format!("{} (estimated)", s.provider)
            } else {
                s.provider.clone()
            };
            vec![label, format!("${}", table::money(&s.cost))]
        })
        .collect();
    let total: super::money::Money =
        spend.iter().map(|s| super::money::Money::from_stored(&s.cost)).sum();
    rows.push(vec!["Total".into(), format!("${}", table::money(&total.to_stored()))]);
    format!(
        "{}\n\n{}\n\nSpend in {month} by provider (rounded to cents):\n\n{}\nSent once for {} by `agent-host alerts`.\n",
        alert.title,
        alert.message,
        table::render(2, &[("Provider", Align::Left), ("Spend", Align::Right)], &rows),
        alert.key
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The HTML part: the same as the text, as a table; no link, no image.
pub fn html_body(alert: &Alert, month: &str, spend: &[ProviderSpend]) -> String {
    let mut rows = String::new();
    for s in spend {
        let label =
            if s.estimated { format!("{} (estimated)", s.provider) } else { s.provider.clone() };
        rows.push_str(&format!(
            "<tr><td>{}</td><td style=\"text-align:right\">${}</td></tr>\n",
            escape(&label),
            table::money(&s.cost)
        ));
    }
    let total: super::money::Money =
        spend.iter().map(|s| super::money::Money::from_stored(&s.cost)).sum();
    format!(
        "<!doctype html>\n<html><body>\n<h2>{}</h2>\n<p>{}</p>\n<p>Spend in {month} by provider (rounded to cents):</p>\n\
         <table>\n<tr><th style=\"text-align:left\">Provider</th><th style=\"text-align:right\">Spend</th></tr>\n{rows}\
         <tr><th style=\"text-align:left\">Total</th><th style=\"text-align:right\">${}</th></tr>\n</table>\n\
         <p>Sent once for {} by agent-host alerts.</p>\n</body></html>\n",
        escape(&alert.title),
        escape(&alert.message),
        table::money(&total.to_stored()),
        escape(&alert.key)
    )
}

impl EmailChannel {
    /// The recipients, for `alerts --dry-run`.
    pub fn recipients(&self) -> String {
        self.to.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    }

    /// The message for `alert`.
    pub fn message(&self, alert: &Alert, month: &str, spend: &[ProviderSpend]) -> Result<Message> {
        let mut b = Message::builder().from(self.from.clone()).subject(subject(alert));
        for to in &self.to {
            b = b.to(to.clone());
        }
        b.multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(text_body(alert, month, spend)),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html_body(alert, month, spend)),
                ),
        )
        .map_err(|e| BillingError::BuildEmail(e.to_string()))
    }

    /// Sends `message`; an error names the server, never the login.
    pub fn send(&self, message: &Message) -> std::result::Result<(), String> {
        let s = &self.server;
        let params =
            || TlsParameters::new(s.host.clone()).map_err(|e| format!("TLS for {}: {e}", s.host));
        let tls = match s.tls {
            TlsMode::Implicit => Tls::Wrapper(params()?),
            TlsMode::StartTls => Tls::Required(params()?),
            TlsMode::Opportunistic => Tls::Opportunistic(params()?),
            TlsMode::None => Tls::None,
        };
        let mut b = SmtpTransport::builder_dangerous(s.host.clone())
            .port(s.port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(15)));
        if let Some((user, pass)) = &s.login {
            b = b.credentials(Credentials::new(user.clone(), pass.clone()));
        }
        b.build()
            .send(message)
            .map(|_| ())
            .map_err(|e| redact(&format!("email via {}:{}: {e}", s.host, s.port), &self.secrets))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_is_required_off_this_machine_unless_the_url_says_otherwise() {
        let mode = |u: &str| parse_smtp_url(u).map(|s| (s.tls, s.port));
        assert_eq!(mode("smtp://u:p@smtp.example.com"), Ok((TlsMode::StartTls, 587)));
        assert_eq!(mode("smtp://u:p@203.0.113.5:25"), Ok((TlsMode::StartTls, 25)));
        assert_eq!(mode("smtps://u:p@smtp.example.com"), Ok((TlsMode::Implicit, 465)));
        assert_eq!(mode("smtp://127.0.0.1:2525"), Ok((TlsMode::None, 2525)));
        assert_eq!(mode("smtp://localhost:2525"), Ok((TlsMode::None, 2525)));
        assert_eq!(mode("smtp://[::1]:2525"), Ok((TlsMode::None, 2525)));
        assert_eq!(mode("smtp://127.0.0.1:2525?tls=required"), Ok((TlsMode::StartTls, 2525)));
        assert_eq!(mode("smtp://relay.lan?tls=none"), Ok((TlsMode::None, 587)));
        assert_eq!(mode("smtp://relay.lan?tls=opportunistic"), Ok((TlsMode::Opportunistic, 587)));
        // Looks local, is not: a name under localhost's spelling elsewhere.
        assert_eq!(mode("smtp://localhost.example.com"), Ok((TlsMode::StartTls, 587)));
    }

    #[test]
    fn bad_urls_are_refused_without_repeating_them() {
        for (url, why) in [
            ("http://u:hunter22@h", "not smtp or smtps"),
            ("smtps://u:hunter22@h?tls=none", "also sets tls="),
            ("smtp://u:hunter22@h?tls=maybe", "tls= other than"),
            ("smtp://u:hunter22@h?x=1", "unknown parameter"),
            ("smtp://u@h", "without a password"),
            ("not a url hunter22", "is not a URL"),
        ] {
            let e = parse_smtp_url(url).unwrap_err();
            assert!(e.contains(why), "{url}: {e}");
            assert!(!e.contains("hunter22"), "{e}");
        }
    }

    #[test]
    fn logins_are_percent_decoded_and_never_debug_printed() {
        let s = parse_smtp_url("smtp://me%40example.com:p%40ss%2Bw@mail.example.com").unwrap();
        assert_eq!(s.login, Some(("me@example.com".into(), "p@ss+w".into())));
        assert!(!format!("{s:?}").contains("p@ss"));
    }

    #[test]
    fn the_channel_needs_its_companions_and_hides_the_url() {
        let s = |pairs: &[(&str, &str)]| {
            Settings::from_map(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
        };
        let url = ("ALERT_SMTP_URL", "smtp://u:hunter22@mail.example.com");
        let e = email_channel(&s(&[url])).unwrap_err().to_string();
        assert!(e.contains("ALERT_EMAIL_FROM is not"), "{e}");
        let e =
            email_channel(&s(&[url, ("ALERT_EMAIL_FROM", "a@x.io"), ("ALERT_EMAIL_TO", "nope")]))
                .unwrap_err()
                .to_string();
        assert!(e.contains("ALERT_EMAIL_TO: \"nope\" is not an email address"), "{e}");
        assert!(!e.contains("hunter22"));
        let e = email_channel(&s(&[("ALERT_EMAIL_TO", "a@x.io")])).unwrap_err().to_string();
        assert!(e.contains("without ALERT_SMTP_URL"), "{e}");
        let ch = email_channel(&s(&[
            url,
            ("ALERT_EMAIL_FROM", "a@x.io"),
            ("ALERT_EMAIL_TO", "b@x.io, C <c@x.io>"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(ch.recipients(), "b@x.io, C <c@x.io>");
        assert!(email_channel(&s(&[])).unwrap().is_none());
        // The URL's value is a secret by the config's own rule.
        assert!(s(&[url]).is_secret("ALERT_SMTP_URL", &[]));
    }

    #[test]
    fn the_body_rounds_to_cents_and_has_no_link() {
        let alert = Alert {
            key: "budget-100:2026-12".into(),
            rule: "budget",
            severity: "critical",
            title: "AI spend reached 100 % of the monthly budget".into(),
            period: "2026-12".into(),
            message: "2026-12: $175.42 spent of a $100.00 budget (175.4 %).".into(),
            amounts: Default::default(),
        };
        let spend = [
            ProviderSpend {
                provider: "Anthropic".into(),
                cost: "100.00000000000000019551115123125783".into(),
                estimated: false,
            },
            ProviderSpend {
                provider: "OpenAI".into(),
                cost: "75.41574922".into(),
                estimated: true,
            },
        ];
        insta::assert_snapshot!("email_subject", subject(&alert));
        insta::assert_snapshot!("email_text", text_body(&alert, "2026-12", &spend));
        let html = html_body(&alert, "2026-12", &spend);
        insta::assert_snapshot!("email_html", html);
        assert!(!html.contains("href") && !html.contains("http"));
    }
}
