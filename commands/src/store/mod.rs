//! `PgEventStore`: cqrs-es's `EventStore` over the extended postgres-es tables.
//!
//! Why not postgres-es's repository: it costs 8 round trips for a one-event command
//! (snapshot, events, begin, insert per event, snapshot, commit), reads whole streams when
//! snapshots are off, re-applies the new events to an aggregate the `EventSink` already
//! applied them to when it writes a snapshot (cqrs-es 0.5), and turns every unique violation
//! into a conflict. Here a command costs two round trips: one query loads the snapshot and the
//! events after it; one statement appends the events and, atomically with them, the snapshot,
//! the uniqueness claims and the idempotency receipt.
//!
//! A bounded in-process cache keeps the state each aggregate had after this process's last
//! successful append, so a hot aggregate's next command skips the load entirely (one round
//! trip per command). It is safe without invalidation across replicas: an append from stale
//! state conflicts on the events primary key, the entry is evicted, and the bus retries from
//! a fresh load; callers re-check rejections and pinned versions against the database before
//! reporting them (see `CommandBus`).
//!
//! A dry run rehearses the append ([`PgEventStore::rehearse`]): the same statement in a
//! transaction that is rolled back, so PostgreSQL's checks are the real ones and nothing stays.

pub mod sql;

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use cqrs_es::{Aggregate, AggregateContext, AggregateError, DomainEvent, EventEnvelope, EventStore};
use domain::claims::{ClaimAction, ClaimsUnique};
use domain::envelope::keys;
use serde_json::Value;
use sqlx::{PgPool, Row};
use tracing::instrument;
use uuid::Uuid;

use crate::error::StoreError;
use crate::fence::Fence;
use crate::log::{RecordedEvent, RECORDED_EVENT_COLUMNS};

/// How many events between two snapshots, by default.
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 100;
/// How many bytes of aggregate state (as serialized JSON) the in-process cache of one
/// aggregate type keeps, by default. Bounded by size, not by count: one configuration with
/// thousands of versions weighs as much as thousands of small environments.
pub const DEFAULT_CACHE_BYTES: u64 = 32 << 20;
/// How many entries the cache is sized for up front (it grows or shrinks by weight).
const ESTIMATED_CACHE_ENTRIES: usize = 10_000;

/// An aggregate's state as of this process's last successful append.
struct Cached<A> {
    aggregate: A,
    version: u64,
    snapshots_taken: u64,
    /// The state's serialized size plus its key's, measured once when it was cached.
    bytes: u64,
}

/// Weighs a cache entry by the bytes measured when it was cached.
#[derive(Clone, Copy)]
struct ByBytes;

impl<A> quick_cache::Weighter<String, Arc<Cached<A>>> for ByBytes {
    fn weight(&self, _key: &String, value: &Arc<Cached<A>>) -> u64 {
        value.bytes.max(1)
    }
}

type AggregateCache<A> = quick_cache::sync::Cache<String, Arc<Cached<A>>, ByBytes>;

/// Counts what a serializer writes, without keeping it.
struct ByteCount(u64);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The size of `value` as JSON, the weight of its cache entry (no allocation).
fn serialized_size<T: serde::Serialize>(value: &T) -> u64 {
    let mut count = ByteCount(0);
    // Serializing an aggregate into a sink does not fail; if it did, weigh it as heavy as
    // the whole cache so that it is not kept.
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => u64::MAX / 2,
    }
}

fn new_cache<A>(bytes: u64) -> AggregateCache<A> {
    AggregateCache::with_weighter(ESTIMATED_CACHE_ENTRIES, bytes, ByBytes)
}

/// Which past state of an aggregate to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// The state after this many events.
    Version(u64),
    /// The state made of the events recorded at or before this instant.
    Time(chrono::DateTime<chrono::Utc>),
}

/// An aggregate loaded for a command: its state, its version, and its snapshot bookkeeping.
#[derive(Debug)]
pub struct LoadedAggregate<A: Aggregate> {
    /// The aggregate id.
    pub aggregate_id: String,
    /// The state after `version` events (mutated by `handle` through the event sink).
    pub aggregate: A,
    /// How many events the stream held when loaded (0: the aggregate does not exist).
    pub version: u64,
    /// How many snapshots were taken so far (postgres-es's `current_snapshot`).
    snapshots_taken: u64,
    /// Whether the state came from the in-process cache (it may be stale).
    from_cache: bool,
    /// How many events were replayed on top of the snapshot to build the state.
    replayed: usize,
}

impl<A: Aggregate> LoadedAggregate<A> {
    /// True when the state came from the in-process cache rather than the database; a
    /// decision refused on such state must be re-checked against a fresh load.
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }

    /// How many events were replayed to build the state (0 from the cache, at most the
    /// snapshot interval after a snapshot).
    pub fn replayed(&self) -> usize {
        self.replayed
    }
}

impl<A: Aggregate> AggregateContext<A> for LoadedAggregate<A> {
    fn aggregate(&mut self) -> &mut A {
        &mut self.aggregate
    }
}

/// The idempotency receipt to store with the events of a command.
#[derive(Debug, Clone)]
pub struct ReceiptRequest {
    /// Tenant scope of the key ("" for platform-wide callers): keys never collide across tenants.
    pub scope: String,
    /// The caller's idempotency key.
    pub key: String,
    /// The command's type, to detect a key reused for something else.
    pub command_type: String,
    /// Fingerprint of the command's input ([`crate::idempotency::input_hash`]), to detect a
    /// key reused with other input; `None` when the caller gave none (no input check).
    pub input_hash: Option<String>,
}

/// Whether an append keeps what it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AppendMode {
    /// Write the events, snapshot, claims and receipt for good.
    Commit,
    /// Run the same statement and roll it back (a dry run): every check, nothing kept.
    Rehearse,
}

/// The event store of one aggregate type.
pub struct PgEventStore<A> {
    pool: PgPool,
    snapshot_every: u64,
    upcasters: Arc<Vec<Box<dyn EventUpcaster>>>,
    cache: Option<Arc<AggregateCache<A>>>,
    _aggregate: PhantomData<fn() -> A>,
}

impl<A> Clone for PgEventStore<A> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            snapshot_every: self.snapshot_every,
            upcasters: self.upcasters.clone(),
            cache: self.cache.clone(),
            _aggregate: PhantomData,
        }
    }
}

impl<A> PgEventStore<A>
where
    A: Aggregate + Clone + 'static,
    A::Event: ClaimsUnique,
{
    /// A store that snapshots every [`DEFAULT_SNAPSHOT_EVERY`] events and caches up to
    /// [`DEFAULT_CACHE_BYTES`] of aggregate state.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            snapshot_every: DEFAULT_SNAPSHOT_EVERY,
            upcasters: Arc::default(),
            cache: Some(Arc::new(new_cache(DEFAULT_CACHE_BYTES))),
            _aggregate: PhantomData,
        }
    }

    /// Keep up to `bytes` of aggregate state (serialized size) in the in-process cache
    /// (0: no cache).
    pub fn with_cache_bytes(mut self, bytes: u64) -> Self {
        self.cache = (bytes > 0).then(|| Arc::new(new_cache(bytes)));
        self
    }

    /// How many aggregates and how many bytes of state the in-process cache holds now.
    pub fn cache_usage(&self) -> (usize, u64) {
        self.cache.as_ref().map(|c| (c.len(), c.weight())).unwrap_or_default()
    }

    /// Loads for a command: from the in-process cache when it holds the aggregate (possibly
    /// stale: see [`LoadedAggregate::from_cache`]), else from the database.
    pub async fn load_for_command(&self, aggregate_id: &str) -> Result<LoadedAggregate<A>, StoreError> {
        if let Some(cached) = self.cache.as_ref().and_then(|c| c.get(aggregate_id)) {
            return Ok(LoadedAggregate {
                aggregate_id: aggregate_id.to_owned(),
                aggregate: cached.aggregate.clone(),
                version: cached.version,
                snapshots_taken: cached.snapshots_taken,
                from_cache: true,
                replayed: 0,
            });
        }
        self.load(aggregate_id).await
    }

    /// Drops the cached state of one aggregate (after a conflict: it is stale).
    pub fn forget(&self, aggregate_id: &str) {
        if let Some(cache) = &self.cache {
            cache.remove(aggregate_id);
        }
    }

    fn remember(&self, aggregate_id: &str, aggregate: &A, version: u64, snapshots_taken: u64) {
        let Some(cache) = &self.cache else { return };
        // Two appends of this process may finish out of order; keep the newer state.
        if cache.get(aggregate_id).is_some_and(|c| c.version > version) {
            return;
        }
        let bytes = serialized_size(aggregate) + aggregate_id.len() as u64;
        cache.insert(
            aggregate_id.to_owned(),
            Arc::new(Cached { aggregate: aggregate.clone(), version, snapshots_taken, bytes }),
        );
    }

    /// Snapshot every `every` events (at least 1).
    pub fn with_snapshot_every(mut self, every: u64) -> Self {
        self.snapshot_every = every.max(1);
        self
    }

    /// Upcasters (cqrs-es's trait) applied to stored events before they are deserialized, so
    /// an old event shape still loads.
    pub fn with_upcasters(mut self, upcasters: Vec<Box<dyn EventUpcaster>>) -> Self {
        self.upcasters = Arc::new(upcasters);
        self
    }

    /// The pool this store writes to.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Loads the aggregate: the snapshot and the events after it, in one query.
    #[instrument(skip(self), fields(aggregate_type = A::TYPE))]
    pub async fn load(&self, aggregate_id: &str) -> Result<LoadedAggregate<A>, StoreError> {
        let rows = sqlx::query(sql::LOAD).bind(A::TYPE).bind(aggregate_id).fetch_all(&self.pool).await?;
        match self.fold(aggregate_id, rows)? {
            Some(loaded) => Ok(loaded),
            None => self.load_from_events(aggregate_id, i64::MAX).await,
        }
    }

    /// The aggregate as it was at a past version or instant (time travel for audits): the
    /// snapshot is used only when it is not newer than the bound, else the stream is replayed.
    #[instrument(skip(self), fields(aggregate_type = A::TYPE))]
    pub async fn load_as_of(&self, aggregate_id: &str, bound: AsOf) -> Result<LoadedAggregate<A>, StoreError> {
        let (version, time) = match bound {
            AsOf::Version(v) => (Some(v.min(i64::MAX as u64) as i64), None),
            AsOf::Time(t) => (None, Some(t)),
        };
        let rows = sqlx::query(sql::LOAD_AS_OF)
            .bind(A::TYPE)
            .bind(aggregate_id)
            .bind(version)
            .bind(time)
            .fetch_all(&self.pool)
            .await?;
        match self.fold(aggregate_id, rows)? {
            Some(loaded) => Ok(loaded),
            None => {
                let bound: i64 = match bound {
                    AsOf::Version(v) => v.min(i64::MAX as u64) as i64,
                    AsOf::Time(t) => sqlx::query_scalar(
                        "SELECT COALESCE(max(sequence), 0) FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 AND recorded_at <= $3",
                    )
                    .bind(A::TYPE)
                    .bind(aggregate_id)
                    .bind(t)
                    .fetch_one(&self.pool)
                    .await?,
                };
                self.load_from_events(aggregate_id, bound).await
            }
        }
    }

    /// Folds rows of kind 0 (snapshot) and 1 (events) into an aggregate; `None` when the
    /// snapshot no longer deserializes (the aggregate's shape changed): replay instead.
    fn fold(
        &self,
        aggregate_id: &str,
        rows: Vec<sqlx::postgres::PgRow>,
    ) -> Result<Option<LoadedAggregate<A>>, StoreError> {
        let mut loaded = LoadedAggregate {
            aggregate_id: aggregate_id.to_owned(),
            aggregate: A::default(),
            version: 0,
            snapshots_taken: 0,
            from_cache: false,
            replayed: 0,
        };
        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            let kind: i32 = row.try_get("kind")?;
            let sequence: i64 = row.try_get("sequence")?;
            let payload: Value = row.try_get("payload")?;
            if kind == 0 {
                match serde_json::from_value::<A>(payload) {
                    Ok(state) => {
                        loaded.aggregate = state;
                        loaded.version = sequence as u64;
                        loaded.snapshots_taken = row.try_get::<i64, _>("current_snapshot")? as u64;
                    }
                    Err(err) => {
                        tracing::warn!(%err, aggregate_id, "snapshot no longer deserializes; replaying the stream");
                        return Ok(None);
                    }
                }
            } else {
                events.push((
                    sequence,
                    row.try_get::<String, _>("event_type")?,
                    row.try_get::<String, _>("event_version")?,
                    payload,
                ));
            }
        }
        self.apply_serialized(&mut loaded, aggregate_id, events)?;
        Ok(Some(loaded))
    }

    async fn load_from_events(&self, aggregate_id: &str, up_to: i64) -> Result<LoadedAggregate<A>, StoreError> {
        let rows = sqlx::query(sql::LOAD_EVENTS_ONLY)
            .bind(A::TYPE)
            .bind(aggregate_id)
            .bind(up_to)
            .fetch_all(&self.pool)
            .await?;
        let mut loaded = LoadedAggregate {
            aggregate_id: aggregate_id.to_owned(),
            aggregate: A::default(),
            version: 0,
            snapshots_taken: 0,
            from_cache: false,
            replayed: 0,
        };
        let events = rows
            .into_iter()
            .map(|r| {
                Ok((
                    r.try_get("sequence")?,
                    r.try_get("event_type")?,
                    r.try_get("event_version")?,
                    r.try_get("payload")?,
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        self.apply_serialized(&mut loaded, aggregate_id, events)?;
        // Keep counting snapshots from the stored row so the next one overwrites it.
        loaded.snapshots_taken = loaded.version / self.snapshot_every;
        Ok(loaded)
    }

    fn apply_serialized(
        &self,
        loaded: &mut LoadedAggregate<A>,
        aggregate_id: &str,
        events: Vec<(i64, String, String, Value)>,
    ) -> Result<(), StoreError> {
        for (sequence, event_type, event_version, payload) in events {
            let event = self.deserialize(aggregate_id, sequence, event_type, event_version, payload)?;
            loaded.aggregate.apply(event);
            loaded.version = sequence as u64;
            loaded.replayed += 1;
        }
        Ok(())
    }

    /// Deserializes one stored event, upcasting old shapes first.
    pub fn deserialize(
        &self,
        aggregate_id: &str,
        sequence: i64,
        event_type: String,
        event_version: String,
        payload: Value,
    ) -> Result<A::Event, StoreError> {
        let mut serialized = SerializedEvent::new(
            aggregate_id.to_owned(),
            sequence as usize,
            A::TYPE.to_owned(),
            event_type,
            event_version,
            payload,
            Value::Null,
        );
        for upcaster in self.upcasters.iter() {
            if upcaster.can_upcast(&serialized.event_type, &serialized.event_version) {
                serialized = upcaster.upcast(serialized);
            }
        }
        Ok(serde_json::from_value(serialized.payload)?)
    }

    /// Appends `events` (already applied to `loaded.aggregate` by the event sink) in one
    /// statement, with the snapshot when one falls due, the claims the events take or release
    /// and the idempotency receipt. Each event gets `base_metadata` plus its own UUID v7.
    /// With a `fence`, the statement runs in a transaction that first checks the worker's
    /// lease ([`crate::fence`]); a deposed holder gets [`StoreError::Fenced`] and nothing is
    /// written.
    pub async fn append(
        &self,
        loaded: &LoadedAggregate<A>,
        events: &[A::Event],
        base_metadata: &HashMap<String, String>,
        receipt: Option<&ReceiptRequest>,
        fence: Option<&Fence>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.write(loaded, events, base_metadata, receipt, AppendMode::Commit, fence).await
    }

    /// Runs the very statement [`PgEventStore::append`] would run, in a transaction that is
    /// rolled back: PostgreSQL checks the optimistic concurrency (events primary key), the
    /// claims and the receipt exactly as in a real append, and the errors are the same, but
    /// nothing is kept and the aggregate cache is not updated. The events returned carry
    /// `global_position` and `transaction_id` 0: the rows they were read from were rolled back,
    /// so those values would name nothing (and may be reused or skipped by later commits).
    pub async fn rehearse(
        &self,
        loaded: &LoadedAggregate<A>,
        events: &[A::Event],
        base_metadata: &HashMap<String, String>,
        receipt: Option<&ReceiptRequest>,
        fence: Option<&Fence>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.write(loaded, events, base_metadata, receipt, AppendMode::Rehearse, fence).await
    }

    /// The append statement of [`PgEventStore::append`] and [`PgEventStore::rehearse`]: one
    /// code path, so that a rehearsal checks exactly what a commit checks.
    #[instrument(skip_all, fields(aggregate_type = A::TYPE, aggregate_id = %loaded.aggregate_id, events = events.len(), mode = ?mode))]
    async fn write(
        &self,
        loaded: &LoadedAggregate<A>,
        events: &[A::Event],
        base_metadata: &HashMap<String, String>,
        receipt: Option<&ReceiptRequest>,
        mode: AppendMode,
        fence: Option<&Fence>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let n = events.len();
        let mut sequences = Vec::with_capacity(n);
        let mut types = Vec::with_capacity(n);
        let mut versions = Vec::with_capacity(n);
        let mut payloads = Vec::with_capacity(n);
        let mut metadatas = Vec::with_capacity(n);
        let mut event_ids = Vec::with_capacity(n);
        let (mut take, mut release, mut point) = (Vec::new(), Vec::new(), Vec::new());
        for (i, event) in events.iter().enumerate() {
            let event_id = Uuid::now_v7();
            let mut metadata: serde_json::Map<String, Value> =
                base_metadata.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
            metadata.insert(keys::EVENT_ID.to_owned(), Value::String(event_id.to_string()));
            sequences.push((loaded.version + 1 + i as u64) as i64);
            types.push(event.event_type());
            versions.push(event.event_version());
            payloads.push(serde_json::to_value(event)?);
            metadatas.push(Value::Object(metadata));
            event_ids.push(event_id);
            for claim in event.claims() {
                let pair = (claim.scope.to_owned(), claim.key);
                match claim.action {
                    ClaimAction::Take => take.push(pair),
                    ClaimAction::Release => release.push(pair),
                    ClaimAction::Point => point.push(pair),
                }
            }
        }
        let new_version = loaded.version + n as u64;
        // A snapshot falls due each time the version crosses a multiple of `snapshot_every`;
        // the sink already applied the events, so the aggregate is the state at `new_version`.
        let snapshot_written = new_version / self.snapshot_every > loaded.version / self.snapshot_every;
        let snapshot = if snapshot_written { Some(serde_json::to_value(&loaded.aggregate)?) } else { None };
        let (take_scopes, take_keys): (Vec<String>, Vec<String>) = take.iter().cloned().unzip();
        let (release_scopes, release_keys): (Vec<String>, Vec<String>) = release.into_iter().unzip();
        let (point_scopes, point_keys): (Vec<String>, Vec<String>) = point.into_iter().unzip();
        let plain = snapshot.is_none()
            && take.is_empty()
            && release_keys.is_empty()
            && point_keys.is_empty()
            && receipt.is_none();
        let query = sqlx::query(if plain { sql::APPEND_EVENTS } else { sql::APPEND })
            .bind(A::TYPE)
            .bind(&loaded.aggregate_id)
            .bind(&sequences)
            .bind(&types)
            .bind(&versions)
            .bind(&payloads)
            .bind(&metadatas);
        let query = if plain {
            query
        } else {
            query
                .bind(new_version as i64)
                .bind((loaded.snapshots_taken + 1) as i64)
                .bind(snapshot)
                .bind(&take_scopes)
                .bind(&take_keys)
                .bind(&release_scopes)
                .bind(&release_keys)
                .bind(receipt.map(|r| r.scope.as_str()))
                .bind(receipt.map(|r| r.key.as_str()))
                .bind(receipt.map(|r| r.command_type.as_str()))
                .bind((loaded.version + 1) as i64)
                .bind(&point_scopes)
                .bind(&point_keys)
                .bind(receipt.and_then(|r| r.input_hash.as_deref()))
        };
        let rows = match (mode, fence) {
            // The hot path: one statement, no transaction around it.
            (AppendMode::Commit, None) => query.fetch_all(&self.pool).await,
            (AppendMode::Commit, Some(fence)) => {
                let mut tx = self.pool.begin().await?;
                if !fence.holds(&mut tx).await? {
                    self.forget(&loaded.aggregate_id);
                    return Err(StoreError::Fenced(fence.clone()));
                }
                match query.fetch_all(&mut *tx).await {
                    Ok(rows) => tx.commit().await.map(|()| rows),
                    Err(e) => Err(e),
                }
            }
            (AppendMode::Rehearse, _) => {
                // A transaction of its own, so that the statement's effects can be undone after
                // PostgreSQL has checked every constraint. Nothing outside it changes: the log
                // has no trigger (no NOTIFY), and the identity value it took leaves a gap in
                // `global_position`, which readers tolerate (they walk the commit order).
                let mut tx = self.pool.begin().await?;
                if let Some(fence) = fence {
                    if !fence.holds(&mut tx).await? {
                        return Err(StoreError::Fenced(fence.clone()));
                    }
                }
                let rows = query.fetch_all(&mut *tx).await;
                tx.rollback().await?;
                rows
            }
        }
        .map_err(|e| {
            self.forget(&loaded.aggregate_id);
            StoreError::from_append(e, &take)
        })?;
        if mode == AppendMode::Commit {
            let snapshots_taken = loaded.snapshots_taken + u64::from(snapshot_written);
            self.remember(&loaded.aggregate_id, &loaded.aggregate, new_version, snapshots_taken);
        }
        // Kept from a rehearsal they would point at rolled-back rows: see `rehearse`.
        let placed = |value: i64| if mode == AppendMode::Commit { value } else { 0 };
        let mut recorded = Vec::with_capacity(n);
        for (i, row) in rows.into_iter().enumerate() {
            recorded.push(RecordedEvent {
                event_id: Some(event_ids[i]),
                aggregate_type: A::TYPE.to_owned(),
                aggregate_id: loaded.aggregate_id.clone(),
                sequence: row.try_get("sequence")?,
                event_type: std::mem::take(&mut types[i]),
                event_version: std::mem::take(&mut versions[i]),
                payload: std::mem::take(&mut payloads[i]),
                metadata: std::mem::take(&mut metadatas[i]),
                global_position: placed(row.try_get("global_position")?),
                transaction_id: placed(row.try_get("transaction_id")?),
                recorded_at: row.try_get("recorded_at")?,
            });
        }
        Ok(recorded)
    }

    /// The events of one aggregate from `from_sequence` to `to_sequence` (inclusive).
    pub async fn events_between(
        &self,
        aggregate_id: &str,
        from_sequence: i64,
        to_sequence: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let query = format!(
            "SELECT {RECORDED_EVENT_COLUMNS} FROM events \
             WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence BETWEEN $3 AND $4 ORDER BY sequence"
        );
        Ok(sqlx::query_as(&query)
            .bind(A::TYPE)
            .bind(aggregate_id)
            .bind(from_sequence)
            .bind(to_sequence)
            .fetch_all(&self.pool)
            .await?)
    }
}

fn to_aggregate_error<E: std::error::Error>(err: StoreError) -> AggregateError<E> {
    match err {
        StoreError::Conflict => AggregateError::AggregateConflict,
        StoreError::Serialization(e) => AggregateError::DeserializationError(Box::new(e)),
        StoreError::Database(e) => AggregateError::DatabaseConnectionError(Box::new(e)),
        other => AggregateError::UnexpectedError(Box::new(other)),
    }
}

/// cqrs-es's own trait, so `CqrsFramework` can run on this store too; the command bus uses
/// the inherent methods because it needs the log positions and the receipt.
impl<A> EventStore<A> for PgEventStore<A>
where
    A: Aggregate + Clone + 'static,
    A::Event: ClaimsUnique,
{
    type AC = LoadedAggregate<A>;

    async fn load_events(&self, aggregate_id: &str) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        let events = self.events_between(aggregate_id, 1, i64::MAX).await.map_err(to_aggregate_error)?;
        events
            .into_iter()
            .map(|e| {
                let metadata = e
                    .metadata
                    .as_object()
                    .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
                    .unwrap_or_default();
                let payload = self
                    .deserialize(aggregate_id, e.sequence, e.event_type, e.event_version, e.payload)
                    .map_err(to_aggregate_error)?;
                Ok(EventEnvelope { aggregate_id: e.aggregate_id, sequence: e.sequence as usize, payload, metadata })
            })
            .collect()
    }

    async fn load_aggregate(&self, aggregate_id: &str) -> Result<LoadedAggregate<A>, AggregateError<A::Error>> {
        self.load(aggregate_id).await.map_err(to_aggregate_error)
    }

    async fn commit(
        &self,
        events: Vec<A::Event>,
        context: LoadedAggregate<A>,
        metadata: HashMap<String, String>,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        let recorded = self.append(&context, &events, &metadata, None, None).await.map_err(to_aggregate_error)?;
        Ok(events
            .into_iter()
            .zip(recorded)
            .map(|(payload, r)| {
                let mut metadata = metadata.clone();
                metadata.insert(keys::EVENT_ID.to_owned(), r.event_id.map(|id| id.to_string()).unwrap_or_default());
                EventEnvelope { aggregate_id: r.aggregate_id, sequence: r.sequence as usize, payload, metadata }
            })
            .collect())
    }
}
