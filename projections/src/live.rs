//! The live feed: one reader of the log per replica, fanning new events out to subscribers.
//!
//! Why one reader: a subscriber that polled the log itself cost a query per subscriber per
//! interval and a pooled connection each; here the cost of following the log does not grow
//! with the number of subscribers. The feed reads with its own connection (never the command
//! path's pool), with the same gap-free reader as the projections, from the newest final event
//! at start.
//!
//! Wake-ups: a commit in this process wakes it at once (the bus's watch); a commit in another
//! replica arrives by PostgreSQL `LISTEN/NOTIFY` on [`CHANNEL`] — each replica's feed sends one
//! `NOTIFY` (payload: the position it committed, never the event) at most every
//! [`NOTIFY_COALESCE`] after its own commits, so the commit path itself never notifies. Nothing
//! depends on a notification arriving: the feed reads from its own position whenever it wakes,
//! and wakes at least every [`FALLBACK_POLL`], so a notification lost while the listener
//! reconnects delays events, never loses them.
//!
//! Fan-out: each subscriber has a bounded queue ([`SUBSCRIBER_BUFFER`] events); the feed never
//! waits on one. A subscriber whose queue is full is dropped from the feed and marked lagged:
//! its stream drains what was queued and then ends with the cursor to resume from. Memory is
//! bounded by subscribers x buffer, and a stalled client slows no one.
//!
//! Subjects: health, drift and deployment events name their environment, service and tenant
//! only when the aggregate is created; the feed resolves each such aggregate's subject once
//! (from the aggregate's committed state, then cached), so that subscribers filter on it.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use commands::log::{LogPosition, RecordedEvent, RECORDED_EVENT_COLUMNS};
use commands::routes::Routes;
use commands::store::PgEventStore;
use domain::catalog::RuntimeDeployment;
use domain::envelope::keys;
use domain::health::{DriftFinding, RuntimeHealth};
use sqlx::postgres::PgListener;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::{mpsc, watch};

use crate::reader;

/// The `LISTEN/NOTIFY` channel that carries "a replica committed up to here".
pub const CHANNEL: &str = "rtp_log_committed";
/// At most one `NOTIFY` per this interval per replica, whatever its commit rate.
pub const NOTIFY_COALESCE: Duration = Duration::from_millis(5);
/// The feed reads the log at least this often even with no notification.
pub const FALLBACK_POLL: Duration = Duration::from_secs(1);
/// How soon the feed looks again while a commit it was told of is not final yet.
const CHASE: Duration = Duration::from_millis(5);
/// Events queued per subscriber before it counts as lagging.
pub const SUBSCRIBER_BUFFER: usize = 1_024;
/// Events per read of the log (the feed's and a replay's).
pub const PAGE: i64 = 500;
/// Subjects remembered (aggregate id -> environment, service, tenant).
const SUBJECT_CACHE: usize = 100_000;

/// Where an event's aggregate runs: what subscriptions by environment, service or tenant match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    /// The environment, for deployments, health and drift.
    pub environment_id: Option<String>,
    /// The service, for deployments, health and (some) drift.
    pub service_id: Option<String>,
}

/// One event as the feed delivers it.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    /// The event.
    pub event: Arc<RecordedEvent>,
    /// Where its aggregate runs, when it is a deployment, health or drift aggregate.
    pub subject: Arc<Subject>,
}

/// What a subscriber wants; every field present must match. Tenant visibility is part of it,
/// so another tenant's events never enter a subscriber's queue.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Tenants the subscriber may see (`None`: all). Platform-wide events are always visible.
    pub tenants: Option<BTreeSet<String>>,
    /// Only these aggregate types.
    pub aggregate_types: Option<Vec<String>>,
    /// Only this aggregate.
    pub aggregate_id: Option<String>,
    /// Only this trace.
    pub trace_id: Option<String>,
    /// Only events whose tenant is this one.
    pub tenant_id: Option<String>,
    /// Only aggregates running in this environment.
    pub environment_id: Option<String>,
    /// Only aggregates of this service.
    pub service_id: Option<String>,
}

impl Filter {
    /// Whether the subscriber gets `event`.
    pub fn matches(&self, event: &RecordedEvent, subject: &Subject) -> bool {
        let tenant = event.envelope(keys::TENANT_ID);
        if let (Some(visible), Some(t)) = (&self.tenants, tenant) {
            if !visible.contains(t) {
                return false;
            }
        }
        self.aggregate_types.as_ref().is_none_or(|types| types.contains(&event.aggregate_type))
            && self.aggregate_id.as_ref().is_none_or(|id| *id == event.aggregate_id)
            && self.trace_id.as_deref().is_none_or(|id| event.envelope(keys::TRACE_ID) == Some(id))
            && self.tenant_id.as_deref().is_none_or(|id| tenant == Some(id))
            && self.environment_id.as_ref().is_none_or(|id| subject.environment_id.as_ref() == Some(id))
            && self.service_id.as_ref().is_none_or(|id| subject.service_id.as_ref() == Some(id))
    }

    /// Whether matching needs the subject (so a replay must resolve it).
    pub fn needs_subject(&self) -> bool {
        self.environment_id.is_some() || self.service_id.is_some()
    }
}

struct Subscriber {
    filter: Filter,
    queue: mpsc::Sender<LiveEvent>,
    lagged: Arc<AtomicBool>,
}

struct Registry {
    subscribers: HashMap<u64, Subscriber>,
    /// Every event up to here was offered to every subscriber registered before it.
    position: LogPosition,
}

struct Inner {
    registry: Mutex<Registry>,
    next_id: AtomicU64,
    subjects: quick_cache::sync::Cache<String, Arc<Subject>>,
    deployments: PgEventStore<RuntimeDeployment>,
    health: PgEventStore<RuntimeHealth>,
    drift: PgEventStore<DriftFinding>,
    pool: PgPool,
    reads: AtomicU64,
    progress: watch::Sender<LogPosition>,
    /// Turns true once the feed has read where the log ends; subscribers wait for it.
    started: watch::Sender<bool>,
    buffer: usize,
}

/// One replica's live feed (cheap to clone).
#[derive(Clone)]
pub struct LiveFeed {
    inner: Arc<Inner>,
}

/// A subscriber's end: events after [`Subscription::registered_at`] that match its filter.
pub struct Subscription {
    id: u64,
    feed: LiveFeed,
    receiver: mpsc::Receiver<LiveEvent>,
    lagged: Arc<AtomicBool>,
    registered_at: LogPosition,
}

impl Subscription {
    /// The feed's position when this subscriber joined: everything after it arrives here,
    /// everything up to it must be replayed from the log.
    pub fn registered_at(&self) -> LogPosition {
        self.registered_at
    }

    /// The next event; `None` when the feed dropped this subscriber (see
    /// [`Subscription::lagged`]) or stopped.
    pub async fn recv(&mut self) -> Option<LiveEvent> {
        self.receiver.recv().await
    }

    /// Whether the feed dropped this subscriber for falling too far behind.
    pub fn lagged(&self) -> bool {
        self.lagged.load(Ordering::Acquire)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.feed.inner.registry.lock().expect("registry lock").subscribers.remove(&self.id);
    }
}

impl LiveFeed {
    /// A feed over `pool`'s database, resolving subjects with `routes`' stores. It delivers
    /// nothing until [`LiveFeed::run`] runs.
    pub fn new(pool: PgPool, routes: &Routes) -> Self {
        Self::with_buffer(pool, routes, SUBSCRIBER_BUFFER)
    }

    /// Like [`LiveFeed::new`], queueing at most `buffer` events per subscriber.
    pub fn with_buffer(pool: PgPool, routes: &Routes, buffer: usize) -> Self {
        let (progress, _) = watch::channel(LogPosition::START);
        Self {
            inner: Arc::new(Inner {
                registry: Mutex::new(Registry { subscribers: HashMap::new(), position: LogPosition::START }),
                next_id: AtomicU64::new(0),
                subjects: quick_cache::sync::Cache::new(SUBJECT_CACHE),
                deployments: routes.deployments.store.clone(),
                health: routes.health.store.clone(),
                drift: routes.drift_findings.store.clone(),
                pool,
                reads: AtomicU64::new(0),
                progress,
                started: watch::channel(false).0,
                buffer: buffer.max(1),
            }),
        }
    }

    /// Registers a subscriber. Its queue gets every matching event after the feed's position
    /// at this instant (returned as [`Subscription::registered_at`]). Waits until the feed has
    /// found where the log ends: a subscriber registered before that would be placed at the
    /// start of the log, and the feed's first position (the end) would then skip whatever
    /// committed in between.
    pub async fn subscribe(&self, filter: Filter) -> Subscription {
        let mut started = self.inner.started.subscribe();
        // The sender lives in `inner`, which `self` holds: the wait ends only by starting.
        let _ = started.wait_for(|s| *s).await;
        let (queue, receiver) = mpsc::channel(self.inner.buffer);
        let lagged = Arc::new(AtomicBool::new(false));
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut registry = self.inner.registry.lock().expect("registry lock");
        registry.subscribers.insert(id, Subscriber { filter, queue, lagged: lagged.clone() });
        let registered_at = registry.position;
        drop(registry);
        Subscription { id, feed: self.clone(), receiver, lagged, registered_at }
    }

    /// How many subscribers are registered.
    pub fn subscribers(&self) -> usize {
        self.inner.registry.lock().expect("registry lock").subscribers.len()
    }

    /// How many reads of the log the feed made since it started (the fan-out's database cost).
    pub fn reads(&self) -> u64 {
        self.inner.reads.load(Ordering::Relaxed)
    }

    /// The feed's position, as it moves.
    pub fn progress(&self) -> watch::Receiver<LogPosition> {
        self.inner.progress.subscribe()
    }

    /// Where an event's aggregate runs; resolved once per aggregate from its committed state.
    pub async fn subject_of(&self, event: &RecordedEvent) -> Arc<Subject> {
        if !matches!(event.aggregate_type.as_str(), "RuntimeDeployment" | "RuntimeHealth" | "DriftFinding") {
            return Arc::default();
        }
        if let Some(known) = self.inner.subjects.get(&event.aggregate_id) {
            return known;
        }
        let id = event.aggregate_id.as_str();
        let subject = match event.aggregate_type.as_str() {
            "RuntimeDeployment" => self.inner.deployments.load(id).await.ok().map(|l| Subject {
                environment_id: l.aggregate.environment().map(|e| e.to_string()),
                service_id: l.aggregate.service().map(|s| s.to_string()),
            }),
            "RuntimeHealth" => self.inner.health.load(id).await.ok().and_then(|l| {
                l.aggregate.target().map(|t| Subject {
                    environment_id: Some(t.environment().to_string()),
                    service_id: Some(t.service().to_string()),
                })
            }),
            _ => self.inner.drift.load(id).await.ok().and_then(|l| {
                l.aggregate.target().map(|t| Subject {
                    environment_id: Some(t.environment().to_string()),
                    service_id: t.service().map(|s| s.to_string()),
                })
            }),
        };
        match subject {
            // Targets never change once created, so a resolved subject stays true.
            Some(s) if s.environment_id.is_some() => {
                let s = Arc::new(s);
                self.inner.subjects.insert(event.aggregate_id.clone(), s.clone());
                s
            }
            _ => Arc::default(),
        }
    }

    /// One page of a subscriber's catch-up: the matching events in `(from, until]`, read from
    /// the log (at most [`PAGE`] rows), and where the next page starts (`None`: done).
    pub async fn replay_page(
        &self,
        filter: &Filter,
        from: LogPosition,
        until: LogPosition,
    ) -> Result<(Vec<LiveEvent>, Option<LogPosition>), sqlx::Error> {
        if from >= until {
            return Ok((Vec::new(), None));
        }
        let rows: Vec<RecordedEvent> = sqlx::query_as(&format!(
            "SELECT {RECORDED_EVENT_COLUMNS} FROM events \
              WHERE (transaction_id, global_position) > ($1::text::xid8, $2) \
                AND (transaction_id, global_position) <= ($3::text::xid8, $4) \
                AND ($6::text[] IS NULL OR aggregate_type = ANY($6)) \
                AND ($7::text IS NULL OR aggregate_id = $7) \
                AND ($8::text IS NULL OR trace_id = $8) \
              ORDER BY transaction_id, global_position LIMIT $5"
        ))
        .bind(from.transaction_id.to_string())
        .bind(from.global_position)
        .bind(until.transaction_id.to_string())
        .bind(until.global_position)
        .bind(PAGE)
        .bind(filter.aggregate_types.as_ref())
        .bind(filter.aggregate_id.as_ref())
        .bind(filter.trace_id.as_ref())
        .fetch_all(&self.inner.pool)
        .await?;
        let next = match rows.last() {
            Some(last) if rows.len() as i64 >= PAGE => Some(last.position()),
            _ => None,
        };
        let mut matching = Vec::with_capacity(rows.len());
        for event in rows {
            let subject = if filter.needs_subject() { self.subject_of(&event).await } else { Arc::default() };
            if filter.matches(&event, &subject) {
                matching.push(LiveEvent { event: Arc::new(event), subject });
            }
        }
        Ok((matching, next))
    }

    /// Offers `event` to every subscriber; drops those whose queue is full (lagged) or gone.
    fn dispatch(&self, live: LiveEvent) {
        let mut registry = self.inner.registry.lock().expect("registry lock");
        registry.subscribers.retain(|_, s| {
            if !s.filter.matches(&live.event, &live.subject) {
                return !s.queue.is_closed();
            }
            match s.queue.try_send(live.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    s.lagged.store(true, Ordering::Release);
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        registry.position = live.event.position();
    }

    /// Follows the log until `shutdown` turns true: reads what is new with its own
    /// connection whenever this process commits (`wake`), another replica notifies, or
    /// [`FALLBACK_POLL`] passes, and fans it out. Also tells the other replicas, by `NOTIFY`,
    /// when this process committed. Database errors are logged and retried after a pause.
    pub async fn run(self, mut wake: watch::Receiver<LogPosition>, mut shutdown: watch::Receiver<bool>) {
        let notifier = tokio::spawn(notify_commits(self.inner.pool.clone(), wake.clone(), shutdown.clone()));
        let mut backoff = Duration::from_millis(100);
        let mut started = false;
        while !*shutdown.borrow() {
            match self.follow(&mut wake, &mut shutdown, &mut started).await {
                Ok(()) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "live feed lost the database; reconnecting");
                    tokio::select! {
                        _ = shutdown.changed() => {}
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        notifier.abort();
        // Ends every subscriber's stream: the server is stopping.
        self.inner.registry.lock().expect("registry lock").subscribers.clear();
    }

    async fn follow(
        &self,
        wake: &mut watch::Receiver<LogPosition>,
        shutdown: &mut watch::Receiver<bool>,
        started: &mut bool,
    ) -> Result<(), sqlx::Error> {
        let options = self.inner.pool.connect_options();
        let mut conn = PgConnection::connect_with(&options).await?;
        let mut listener = PgListener::connect_with(&self.inner.pool).await?;
        listener.listen(CHANNEL).await?;
        if !*started {
            // New subscribers get what comes after the newest final event; older events are
            // a replay's job (from the subscriber's cursor).
            let head = reader::latest(&mut conn).await?;
            self.inner.registry.lock().expect("registry lock").position = head;
            self.inner.progress.send_replace(head);
            self.inner.started.send_replace(true);
            *started = true;
        }
        // The newest commit we were told of; while the feed is behind it, the events are not
        // final yet (an older transaction elsewhere still runs), so look again shortly instead
        // of waiting for the next wake.
        let mut target = LogPosition::START;
        let mut chase = CHASE;
        let mut last = LogPosition::START;
        loop {
            let position = self.drain(&mut conn).await?;
            // Doubling while nothing moves: a long transaction elsewhere (a migration) must
            // not make the feed read hundreds of times a second.
            chase = if position > last { CHASE } else { (chase * 2).min(FALLBACK_POLL) };
            last = position;
            let pause = if position < target { chase } else { FALLBACK_POLL };
            tokio::select! {
                _ = shutdown.changed() => return Ok(()),
                _ = wake.changed() => target = target.max(*wake.borrow_and_update()),
                notified = listener.try_recv() => {
                    // `None`: the listener reconnected and may have missed notifications;
                    // reading from our own position covers them either way.
                    if let Some(n) = notified? {
                        if let Some(p) = LogPosition::from_cursor(n.payload()) {
                            target = target.max(p);
                        }
                    }
                }
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Reads and fans out everything final after the feed's position; returns the new one.
    async fn drain(&self, conn: &mut PgConnection) -> Result<LogPosition, sqlx::Error> {
        loop {
            let position = self.inner.registry.lock().expect("registry lock").position;
            let events = reader::read_after(conn, position, PAGE).await?;
            self.inner.reads.fetch_add(1, Ordering::Relaxed);
            let Some(last) = events.last().map(RecordedEvent::position) else { return Ok(position) };
            let full = events.len() as i64 >= PAGE;
            for event in events {
                let subject = self.subject_of(&event).await;
                self.dispatch(LiveEvent { event: Arc::new(event), subject });
            }
            self.inner.progress.send_replace(last);
            if !full {
                return Ok(last);
            }
        }
    }
}

/// Sends one `NOTIFY` per [`NOTIFY_COALESCE`] at most while this process commits.
async fn notify_commits(pool: PgPool, mut commits: watch::Receiver<LogPosition>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            changed = commits.changed() => if changed.is_err() { return },
        }
        let position = *commits.borrow_and_update();
        if let Err(err) =
            // A wake-up hint, lost harmlessly in a crash (the others poll too): its commit
            // need not wait for the WAL flush that a NOTIFY's transaction id would cost.
            sqlx::query("SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(position.to_cursor())
                .execute(&pool)
                .await
        {
            tracing::debug!(error = %err, "could not notify the other replicas of a commit");
        }
        tokio::time::sleep(NOTIFY_COALESCE).await;
    }
}
