//! Moving past events a follower does not want without a write per round.
//!
//! Under load every follower (projector or reactor) wakes once per coalescing interval, and most
//! rounds find only events of other aggregate types. Writing the checkpoint past them each time
//! cost one WAL-logged, fsync'd commit per follower per interval (measured over HTTP against
//! the release server: 0.63 to 0.80 checkpoint writes per command at 1 client, 0.12 to 0.15 at
//! 8; with passes kept in memory, 0.14 to 0.17 and 0.04, and 25 to 40 % more commands/s at 1
//! client). A round that applied nothing now only remembers, in memory, how far it scanned; the
//! checkpoint is written with the next wanted event, or once the oldest unwritten pass is
//! [`WRITE_PASSES_EVERY`] old.
//!
//! Why this is safe: a pass covers only final events (older than the xmin horizon), which no
//! transaction can add to, so a range scanned once without a wanted event stays so. The memory
//! is used only while the stored checkpoint is still the one it was scanned from: any other
//! move of the checkpoint (another replica's batch, a reset or rebuild) voids it. A crash loses
//! at most one interval of passes, which the next reader scans again and skips again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use commands::log::LogPosition;

/// How long a follower may leave passes over unwanted events unwritten: a restarted or new
/// leader rescans at most this much of the log.
pub const WRITE_PASSES_EVERY: Duration = Duration::from_secs(5);

/// What this process scanned past without finding a wanted event.
#[derive(Debug, Default)]
pub struct PassedOver {
    inner: Mutex<Option<Pass>>,
}

#[derive(Debug, Clone, Copy)]
struct Pass {
    /// The stored checkpoint the scan started from.
    base: LogPosition,
    /// How far it scanned.
    to: LogPosition,
    /// When the first unwritten pass from `base` was made.
    since: Instant,
    /// When the last one was, by the wall clock (what status reports as the last move).
    last: DateTime<Utc>,
}

impl PassedOver {
    /// Where the follower stands given its stored checkpoint: past what this process scanned
    /// from that very checkpoint, or the stored checkpoint itself.
    pub fn resume(&self, stored: LogPosition) -> LogPosition {
        match *self.inner.lock().expect("passes lock") {
            Some(pass) if pass.base == stored => pass.to.max(stored),
            _ => stored,
        }
    }

    /// When this process last moved the follower past the stored checkpoint `stored` in
    /// memory, if it did: status reports it as the checkpoint's last move.
    pub fn moved_at(&self, stored: LogPosition) -> Option<DateTime<Utc>> {
        match *self.inner.lock().expect("passes lock") {
            Some(pass) if pass.base == stored && pass.to > stored => Some(pass.last),
            _ => None,
        }
    }

    /// Records a scan from the stored checkpoint `stored` up to `to` that found nothing wanted;
    /// returns whether the checkpoint should be written now (the oldest unwritten pass is
    /// [`WRITE_PASSES_EVERY`] old). The caller that writes it need not tell: the stored
    /// checkpoint then differs from `stored`, which voids the memory.
    pub fn pass(&self, stored: LogPosition, to: LogPosition) -> bool {
        let mut inner = self.inner.lock().expect("passes lock");
        let since = match *inner {
            Some(pass) if pass.base == stored => pass.since,
            _ => Instant::now(),
        };
        *inner = Some(Pass { base: stored, to, since, last: Utc::now() });
        since.elapsed() >= WRITE_PASSES_EVERY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(position: i64) -> LogPosition {
        LogPosition { transaction_id: position, global_position: position }
    }

    #[test]
    fn a_pass_counts_only_while_the_stored_checkpoint_is_the_one_it_started_from() {
        let passes = PassedOver::default();
        assert_eq!(passes.resume(at(5)), at(5), "nothing passed yet");
        assert!(!passes.pass(at(5), at(9)), "a fresh pass is not written at once");
        assert_eq!(passes.resume(at(5)), at(9));
        assert!(passes.moved_at(at(5)).is_some(), "status reports the move");
        assert!(passes.moved_at(at(7)).is_none(), "not a move of another checkpoint");
        assert!(!passes.pass(at(5), at(12)));
        assert_eq!(passes.resume(at(5)), at(12), "passes from the same checkpoint extend");
        // Another replica (or a rebuild) moved the checkpoint: the memory is void.
        assert_eq!(passes.resume(at(7)), at(7));
        assert_eq!(passes.resume(at(0)), at(0), "a reset is never skipped past");
    }

    #[test]
    fn the_checkpoint_is_written_once_the_oldest_pass_is_old_enough() {
        let passes = PassedOver::default();
        assert!(!passes.pass(at(1), at(2)));
        // Age the pass instead of sleeping.
        passes.inner.lock().unwrap().as_mut().unwrap().since -= WRITE_PASSES_EVERY;
        assert!(passes.pass(at(1), at(3)), "the oldest unwritten pass is due");
        // Written: the stored checkpoint is now at(3), a new pass starts a new clock.
        assert!(!passes.pass(at(3), at(4)));
    }
}
