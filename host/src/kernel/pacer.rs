//! Per-host pacing of plugin HTTP, shared by every run in this process: an
//! optional ceiling on requests per second (`AGENT_HTTP_MAX_RPS`), a
//! slow-down that every request to a host obeys once one of them was told
//! to back off (429 or 529, honouring `Retry-After`), and the patience the
//! process has for that host's rate limits (`AGENT_HTTP_MAX_WAIT_SECS`).
//! Successes ease the slow-down again, so a burst of rate limits costs time,
//! not the backfill; only a host that keeps limiting past the patience costs
//! days, which the next run fetches again.

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
    /// How long this host may keep us waiting on its rate limits in all.
    patience: Duration,
    /// Time spent in finished spells of rate limiting.
    spent: Duration,
    /// When the current spell began: the first back-off answer since the
    /// host last answered without one.
    limited_since: Option<Instant>,
}

/// The host kept rate-limiting for longer than the patience allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfPatience {
    /// The patience left, less than the wait asked for.
    pub left: Duration,
}

impl Pacer {
    fn new(max_rps: f64, patience: Duration) -> Self {
        let floor =
            if max_rps > 0.0 { Duration::from_secs_f64(1.0 / max_rps) } else { Duration::ZERO };
        Pacer {
            state: Mutex::new(State {
                next: Instant::now(),
                floor,
                gap: Duration::ZERO,
                patience,
                spent: Duration::ZERO,
                limited_since: None,
            }),
        }
    }

    /// The pacer of `host` (host and port), created on first use with this
    /// ceiling and patience.
    pub fn for_host(host: &str, max_rps: f64, patience: Duration) -> Arc<Pacer> {
        static PACERS: OnceLock<Mutex<HashMap<String, Arc<Pacer>>>> = OnceLock::new();
        let mut map =
            PACERS.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
        map.entry(host.to_string())
            .or_insert_with(|| Arc::new(Pacer::new(max_rps, patience)))
            .clone()
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

    /// The host said to back off for `wait`: requests are spread further
    /// apart from now on (twice as far each time, but never further than the
    /// host itself asked to wait), and, if the patience left covers `wait`,
    /// nobody starts before it has passed. Patience is wall-clock time
    /// while the host keeps limiting, counted once however many requests
    /// wait at the same time: from its first back-off answer to its next
    /// answer of any other kind.
    pub fn back_off(&self, wait: Duration) -> Result<(), OutOfPatience> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let since = *s.limited_since.get_or_insert(now);
        let left = s.patience.saturating_sub(s.spent + (now - since));
        let cap = wait.max(FIRST_GAP).min(MAX_GAP);
        s.gap = (s.gap * 2).max(FIRST_GAP).min(cap);
        // Nothing left: even a zero wait would retry for ever.
        if left.is_zero() || wait > left {
            return Err(OutOfPatience { left });
        }
        s.next = s.next.max(now + wait);
        Ok(())
    }

    /// An answer that is not a back-off ends the spell of rate limiting; a
    /// success (`ok`) also eases the slow-down by a tenth.
    pub fn answered(&self, ok: bool) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(since) = s.limited_since.take() {
            s.spent += since.elapsed();
        }
        if ok {
            s.gap = if s.gap < Duration::from_millis(1) { Duration::ZERO } else { s.gap * 9 / 10 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATIENT: Duration = Duration::from_secs(300);

    #[test]
    fn a_back_off_holds_everyone_and_successes_ease_it() {
        let p = Pacer::new(0.0, PATIENT);
        p.wait_turn();
        p.back_off(Duration::from_millis(30)).unwrap();
        let t = Instant::now();
        p.wait_turn();
        assert!(t.elapsed() >= Duration::from_millis(25));
        for _ in 0..200 {
            p.answered(true);
        }
        assert_eq!(p.state.lock().unwrap().gap, Duration::ZERO);
    }

    #[test]
    fn the_ceiling_spaces_request_starts() {
        let p = Pacer::new(100.0, PATIENT);
        let t = Instant::now();
        for _ in 0..4 {
            p.wait_turn();
        }
        assert!(t.elapsed() >= Duration::from_millis(25));
    }

    #[test]
    fn patience_is_the_time_spent_rate_limited_however_many_wait() {
        let p = Pacer::new(0.0, Duration::from_millis(200));
        // Many requests told to wait at once cost the patience once.
        for _ in 0..50 {
            p.back_off(Duration::from_millis(20)).unwrap();
        }
        // A wait longer than what is left is refused at once, and holds nobody.
        let refused = p.back_off(Duration::from_secs(1)).unwrap_err();
        assert!(refused.left > Duration::from_millis(100), "{refused:?}");
        std::thread::sleep(Duration::from_millis(120));
        p.answered(true);
        let spent = p.state.lock().unwrap().spent;
        assert!(spent >= Duration::from_millis(120), "{spent:?}");
        // Time between spells is not counted; the next spell has what is left.
        std::thread::sleep(Duration::from_millis(100));
        p.back_off(Duration::ZERO).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert!(p.back_off(Duration::ZERO).is_err(), "the patience did not run out");
    }

    #[test]
    fn no_patience_gives_up_at_the_first_rate_limit() {
        let p = Pacer::new(0.0, Duration::ZERO);
        assert_eq!(
            p.back_off(Duration::from_millis(1)),
            Err(OutOfPatience { left: Duration::ZERO })
        );
    }
}
