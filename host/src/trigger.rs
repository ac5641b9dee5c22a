//! Signed webhook triggers (`[[trigger]]` of `agent-host.toml`): what a
//! trigger is, how a request's signature is checked (HMAC-SHA256, compared
//! in constant time), the memory of signatures already used, and the rate
//! limit. No I/O: `serve` feeds it headers, a body and the time.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a request's timestamp may be from the host's clock, in seconds.
pub const WINDOW_SECS: i64 = 300;

/// The largest body a trigger accepts, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Requests to `/hooks/` allowed per minute, whatever they carry.
pub const PER_MINUTE: usize = 60;

/// How long a GitHub-style signature (which carries no time) is remembered.
const GITHUB_MEMORY_SECS: i64 = 24 * 3600;

/// Signatures remembered at most; a full memory refuses new requests.
const MAX_REMEMBERED: usize = 100_000;

/// Which headers carry the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `X-Agent-Timestamp` and `X-Agent-Signature: sha256=HEX` over
    /// `TIMESTAMP.BODY`.
    Agent,
    /// GitHub's `X-Hub-Signature-256: sha256=HEX` over the body; the agent
    /// headers are accepted too.
    Github,
}

impl Style {
    /// Its name in `agent-host.toml`.
    pub fn name(self) -> &'static str {
        match self {
            Style::Agent => "agent",
            Style::Github => "github",
        }
    }
}

/// The HMAC key: never printed.
#[derive(Clone)]
pub struct Key(Vec<u8>);

impl Key {
    /// A key from the variable's value.
    pub fn new(value: &str) -> Key {
        Key(value.as_bytes().to_vec())
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC accepts any key length")
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

/// One `[[trigger]]`.
#[derive(Debug, Clone)]
pub struct Trigger {
    /// Served at `POST /hooks/NAME`.
    pub name: String,
    /// The jobs it runs.
    pub jobs: Vec<String>,
    /// The variable that holds the key (for messages; never the key).
    pub secret: String,
    /// The key.
    pub key: Key,
    /// Which headers carry the signature.
    pub style: Style,
}

/// Why a request is refused (all are 401 but the reason is said).
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No signature header, or not `sha256=HEX`.
    Unsigned(&'static str),
    /// The signature does not match.
    BadSignature,
    /// The timestamp is missing, unreadable or outside the window.
    Stale(String),
    /// This signature was used already.
    Replay,
    /// Too many signatures are remembered to take another now (429).
    Full,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Unsigned(why) => f.write_str(why),
            Refusal::BadSignature => f.write_str("the signature does not match"),
            Refusal::Stale(why) => f.write_str(why),
            Refusal::Replay => f.write_str("this signature was already used"),
            Refusal::Full => f.write_str("too many recent trigger requests; try again later"),
        }
    }
}

/// A checked request: its signature, to remember, until when.
#[derive(Debug)]
pub struct Signed {
    signature: Vec<u8>,
    remember_until: i64,
}

/// Checks a request's signature; `header` reads a header by name.
pub fn verify(
    trigger: &Trigger,
    header: impl Fn(&str) -> Option<String>,
    body: &[u8],
    now: i64,
) -> Result<Signed, Refusal> {
    if let Some(sig) = header("x-agent-signature") {
        let ts_text = header("x-agent-timestamp")
            .ok_or(Refusal::Stale("X-Agent-Timestamp is missing".into()))?;
        let ts: i64 = ts_text.trim().parse().map_err(|_| {
            Refusal::Stale("X-Agent-Timestamp is not a number of Unix seconds".into())
        })?;
        if now.abs_diff(ts) > WINDOW_SECS as u64 {
            return Err(Refusal::Stale(format!(
                "X-Agent-Timestamp is more than {WINDOW_SECS} seconds from this host's clock"
            )));
        }
        let signature = hex_signature(&sig)?;
        let mut mac = trigger.key.mac();
        mac.update(ts_text.trim().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.verify_slice(&signature).map_err(|_| Refusal::BadSignature)?;
        return Ok(Signed { signature, remember_until: ts + WINDOW_SECS + 1 });
    }
    if trigger.style == Style::Github {
        if let Some(sig) = header("x-hub-signature-256") {
            let signature = hex_signature(&sig)?;
            let mut mac = trigger.key.mac();
            mac.update(body);
            mac.verify_slice(&signature).map_err(|_| Refusal::BadSignature)?;
            return Ok(Signed { signature, remember_until: now + GITHUB_MEMORY_SECS });
        }
        return Err(Refusal::Unsigned("X-Hub-Signature-256 or X-Agent-Signature is missing"));
    }
    Err(Refusal::Unsigned("X-Agent-Signature is missing"))
}

/// The bytes of `sha256=HEX`.
fn hex_signature(value: &str) -> Result<Vec<u8>, Refusal> {
    let bad = Refusal::Unsigned("the signature is not sha256=HEX");
    let hex = value.trim().strip_prefix("sha256=").ok_or(bad)?;
    if hex.len() != 64 || !hex.is_ascii() {
        return Err(Refusal::Unsigned("the signature is not sha256=HEX"));
    }
    (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| Refusal::Unsigned("the signature is not sha256=HEX"))
}

/// The signatures accepted and not yet expired, per trigger.
#[derive(Default)]
pub struct Used {
    seen: BTreeMap<(String, Vec<u8>), i64>,
}

impl Used {
    /// Whether `signed` was used already for `trigger`.
    pub fn check(&mut self, trigger: &str, signed: &Signed, now: i64) -> Result<(), Refusal> {
        self.seen.retain(|_, until| *until >= now);
        if self.seen.contains_key(&(trigger.to_string(), signed.signature.clone())) {
            return Err(Refusal::Replay);
        }
        if self.seen.len() >= MAX_REMEMBERED {
            // Never forget one early: that would let it be replayed.
            return Err(Refusal::Full);
        }
        Ok(())
    }

    /// Remembers an accepted signature.
    pub fn remember(&mut self, trigger: &str, signed: Signed) {
        self.seen.insert((trigger.to_string(), signed.signature), signed.remember_until);
    }
}

/// A sliding one-minute window of request times.
#[derive(Default)]
pub struct RateLimit {
    times: VecDeque<std::time::Instant>,
}

impl RateLimit {
    /// Counts a request; `false` when the minute's allowance is spent.
    pub fn admit(&mut self, now: std::time::Instant) -> bool {
        while self.times.front().is_some_and(|t| now.duration_since(*t).as_secs() >= 60) {
            self.times.pop_front();
        }
        if self.times.len() >= PER_MINUTE {
            return false;
        }
        self.times.push_back(now);
        true
    }
}

/// The agent-style signature of `body` at `timestamp` (for tests and for
/// documentation: this is what a sender computes).
pub fn sign(key: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Key::new(key).mac();
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    format!("sha256={}", crate::kernel::pluginfile::hex(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger(style: Style) -> Trigger {
        Trigger {
            name: "t".into(),
            jobs: vec![],
            secret: "HOOK_KEY".into(),
            key: Key::new("k3y-k3y-k3y-k3y-k3y"),
            style,
        }
    }

    fn headers<'a>(pairs: &'a [(&'a str, String)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |n: &str| pairs.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.clone())
    }

    #[test]
    fn agent_signatures_check_key_body_and_time() {
        let t = trigger(Style::Agent);
        let sig = sign("k3y-k3y-k3y-k3y-k3y", 1000, b"{}");
        let ok = [("x-agent-timestamp", "1000".to_string()), ("x-agent-signature", sig)];
        assert!(verify(&t, headers(&ok), b"{}", 1100).is_ok());
        assert_eq!(verify(&t, headers(&ok), b"{ }", 1100).unwrap_err(), Refusal::BadSignature);
        assert!(matches!(verify(&t, headers(&ok), b"{}", 1301), Err(Refusal::Stale(_))));
        assert!(matches!(verify(&t, headers(&ok), b"{}", 699), Err(Refusal::Stale(_))));
        let other = sign("another key entirely", 1000, b"{}");
        let bad = [("x-agent-timestamp", "1000".to_string()), ("x-agent-signature", other)];
        assert_eq!(verify(&t, headers(&bad), b"{}", 1000).unwrap_err(), Refusal::BadSignature);
        assert!(matches!(verify(&t, headers(&[]), b"{}", 1000), Err(Refusal::Unsigned(_))));
        let far = [
            ("x-agent-timestamp", i64::MIN.to_string()),
            ("x-agent-signature", "sha256=00".into()),
        ];
        assert!(matches!(verify(&t, headers(&far), b"{}", 1000), Err(Refusal::Stale(_))));
        let wide = [
            ("x-agent-timestamp", "1000".to_string()),
            ("x-agent-signature", format!("sha256={}", "é".repeat(32))),
        ];
        assert!(matches!(verify(&t, headers(&wide), b"{}", 1000), Err(Refusal::Unsigned(_))));
        let junk =
            [("x-agent-timestamp", "1000".to_string()), ("x-agent-signature", "sha256=zz".into())];
        assert!(matches!(verify(&t, headers(&junk), b"{}", 1000), Err(Refusal::Unsigned(_))));
    }

    #[test]
    fn github_style_signs_the_body_only() {
        let mut mac = Key::new("k3y-k3y-k3y-k3y-k3y").mac();
        mac.update(b"payload");
        let hex = crate::kernel::pluginfile::hex(&mac.finalize().into_bytes());
        let h = [("x-hub-signature-256", format!("sha256={hex}"))];
        assert!(verify(&trigger(Style::Github), headers(&h), b"payload", 0).is_ok());
        assert!(verify(&trigger(Style::Agent), headers(&h), b"payload", 0).is_err());
    }

    #[test]
    fn a_signature_is_used_once() {
        let t = trigger(Style::Agent);
        let sig = sign("k3y-k3y-k3y-k3y-k3y", 1000, b"x");
        let h = [("x-agent-timestamp", "1000".to_string()), ("x-agent-signature", sig)];
        let mut used = Used::default();
        let signed = verify(&t, headers(&h), b"x", 1000).unwrap();
        used.check("t", &signed, 1000).unwrap();
        used.remember("t", signed);
        let again = verify(&t, headers(&h), b"x", 1001).unwrap();
        assert_eq!(used.check("t", &again, 1001).unwrap_err(), Refusal::Replay);
    }

    #[test]
    fn the_rate_limit_counts_a_minute() {
        let mut limit = RateLimit::default();
        let now = std::time::Instant::now();
        assert!((0..PER_MINUTE).all(|_| limit.admit(now)));
        assert!(!limit.admit(now));
        assert!(limit.admit(now + std::time::Duration::from_secs(61)));
    }

    #[test]
    fn keys_are_never_printed() {
        assert!(!format!("{:?}", trigger(Style::Agent)).contains("k3y"));
    }
}
