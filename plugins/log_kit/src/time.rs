//! Log timestamps as the UTC day and instant a call payload carries.

use chrono::{DateTime, SecondsFormat, Utc};

/// The UTC day (`YYYY-MM-DD`) and instant (RFC 3339, UTC) of an RFC 3339
/// timestamp; `None` when it does not read. A timestamp already in UTC
/// (`…Z`) is kept as written, so a payload shows what the log said.
pub fn utc_time(timestamp: &str) -> Option<(String, String)> {
    let t = DateTime::parse_from_rfc3339(timestamp).ok()?.with_timezone(&Utc);
    let day = t.date_naive().to_string();
    let at = if timestamp.ends_with('Z') {
        timestamp.to_string()
    } else {
        t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    };
    Some((day, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc() {
        let (day, at) = utc_time("2026-11-01T23:59:58.500Z").unwrap();
        assert_eq!((day.as_str(), at.as_str()), ("2026-11-01", "2026-11-01T23:59:58.500Z"));
        let (day, at) = utc_time("2026-11-01T20:30:00-04:00").unwrap();
        assert_eq!((day.as_str(), at.as_str()), ("2026-11-02", "2026-11-02T00:30:00Z"));
        assert_eq!(utc_time("yesterday"), None);
    }
}
