//! Per-host pacing of plugin HTTP, shared by every run in this process: an
//! optional ceiling on requests per second (`AGENT_HTTP_MAX_RPS`), and a
//! slow-down that every request to a host obeys once one of them was told
//! to back off (429 or 529, honouring `Retry-After`). Successes ease the
//! slow-down again, so a burst of rate limits costs time, not the backfill.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Longest gap the slow-down reaches between two requests to one host.
const MAX_GAP: Duration = Duration::from_secs(5);

/// First gap after a back-off answer.
const FIRST_GAP: Duration = Duration::from_millis(10);

/// The pace of one host.
#[derive(Debug)]
pub struct Pacer {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// No request starts before this.
    next: Instant,
    /// The ceiling's gap between request starts (zero: none).
    floor: Duration,
    /// The slow-down's gap, grown by back-off answers, eased by successes.
    gap: Duration,
}

impl Pacer {
    fn new(max_rps: f64) -> Self {
        let floor =
            if max_rps > 0.0 { Duration::from_secs_f64(1.0 / max_rps) } else { Duration::ZERO };
        Pacer { state: Mutex::new(State { next: Instant::now(), floor, gap: Duration::ZERO }) }
    }

    /// The pacer of `host` (host and port), created on first use.
    pub fn for_host(host: &str, max_rps: f64) -> Arc<Pacer> {
        static PACERS: OnceLock<Mutex<HashMap<String, Arc<Pacer>>>> = OnceLock::new();
        let mut map =
            PACERS.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
        map.entry(host.to_string()).or_insert_with(|| Arc::new(Pacer::new(max_rps))).clone()
    }

    /// Waits for this request's turn.
    pub fn wait_turn(&self) {
        let wait = {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let start = s.next.max(now);
            s.next = start + s.floor.max(s.gap);
            start - now
        };
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }

    /// The host said to back off: nobody starts before `retry_after` has
    /// passed, and requests are spread further apart from then on (twice as
    /// far each time, but never further than the host itself asked to wait).
    pub fn back_off(&self, retry_after: Duration) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let cap = retry_after.max(FIRST_GAP).min(MAX_GAP);
        s.gap = (s.gap * 2).max(FIRST_GAP).min(cap);
        s.next = s.next.max(Instant::now() + retry_after);
    }

    /// A success: the slow-down eases by a tenth.
    pub fn succeeded(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.gap = if s.gap < Duration::from_millis(1) { Duration::ZERO } else { s.gap * 9 / 10 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_back_off_holds_everyone_and_successes_ease_it() {
        let p = Pacer::new(0.0);
        p.wait_turn();
        p.back_off(Duration::from_millis(30));
        let t = Instant::now();
        p.wait_turn();
        assert!(t.elapsed() >= Duration::from_millis(25));
        for _ in 0..200 {
            p.succeeded();
        }
        assert_eq!(p.state.lock().unwrap().gap, Duration::ZERO);
    }

    #[test]
    fn the_ceiling_spaces_request_starts() {
        let p = Pacer::new(100.0);
        let t = Instant::now();
        for _ in 0..4 {
            p.wait_turn();
        }
        assert!(t.elapsed() >= Duration::from_millis(25));
    }
}
