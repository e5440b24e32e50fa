//! Pacing of a follower of the log (projection runners, reactors): under load every commit
//! of the process wakes it, so rounds start at most once per interval unless the last one was
//! full (a backlog); the first event after a quiet spell is handled at once. Measured: five
//! caught-up projectors that stepped on every commit halved the write rate.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// When the next round of a follower may start.
#[derive(Debug)]
pub struct Pace {
    interval: Duration,
    last_start: Option<Instant>,
}

impl Pace {
    /// At most one round per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self { interval, last_start: None }
    }

    /// Waits until the next round may start, and marks it started; `false` when `shutdown`
    /// changed first (the caller re-checks it).
    pub async fn ready(&mut self, shutdown: &mut watch::Receiver<bool>) -> bool {
        if let Some(wait) = self.last_start.map(|t| self.interval.saturating_sub(t.elapsed())) {
            if !wait.is_zero() {
                tokio::select! {
                    _ = shutdown.changed() => return false,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
        self.last_start = Some(Instant::now());
        true
    }

    /// The last round was full: the next one starts at once.
    pub fn hurry(&mut self) {
        self.last_start = None;
    }
}
