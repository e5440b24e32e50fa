//! The command bus: the one entry point for every change.
//!
//! A command arrives with the caller's [`RequestContext`] and [`CommandOptions`]; the bus
//! stamps the envelope (trace id, tenant, actor, correlation, causation, event ids), routes the
//! command to its aggregate's store, runs the aggregate's pure decision, and appends the
//! events in one statement.
//!
//! Contention: commands without a pinned `expected_version` on one aggregate are serialized in
//! this process (a striped async lock keyed by aggregate), so they never conflict with each
//! other; a conflict with another replica is retried on a fresh load, with jittered backoff,
//! until it succeeds, the state refuses it, or [`DEFAULT_RETRY_BUDGET`] is spent. A pinned
//! command takes no lock and fails fast on a mismatch.
//!
//! Idempotency: a key makes a command take effect once, also when copies race: the receipt
//! (with a fingerprint of the input) is written in the same statement as the events, and a
//! duplicate gets the first result back. A keyed create without an explicit id derives its id
//! from the key ([`crate::idempotency::derived_id`]), so its copies target one aggregate.
//!
//! Dry runs: with [`CommandOptions::dry_run`] the command goes through every step above (roles,
//! load, tenant checks, the decision, the claims, the receipt) and its statement is rehearsed
//! in a transaction that is rolled back ([`crate::store::PgEventStore::rehearse`]): the
//! outcome holds the events a real run would write and the version it would reach, and nothing
//! is kept, cached, announced or counted.
//!
//! Plans: while the tables are young, the bus refreshes their statistics at every doubling of
//! its commits (see [`CommandBus::execute`] and ARCHITECTURE.md), so no generic plan made on a
//! near-empty table outlives the table's growth.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use domain::claims::ClaimsUnique;
use domain::envelope::{keys, TenantId};
use domain::ownership::TenantOwned;
use domain::rejection::{Rejection, RejectionKind};
use sqlx::PgPool;
use tokio::sync::watch;
use tracing::{info_span, Instrument};
use uuid::Uuid;

use crate::access::{self, Operation, Role};
use crate::context::RequestContext;
use crate::error::{CommandError, StoreError};
use crate::fence::Fence;
use crate::log::{LogPosition, RecordedEvent};
use crate::store::{sql, LoadedAggregate, PgEventStore, ReceiptRequest};

/// How long an unpinned command keeps retrying after losing races to other replicas, by default.
pub const DEFAULT_RETRY_BUDGET: Duration = Duration::from_secs(10);
/// Stripes of the per-aggregate lock: memory is fixed; two aggregates share a stripe with
/// probability 1/1024, which only makes one wait for the other.
const LOCK_STRIPES: usize = 1024;
/// The bus refreshes the command path's statistics at every power of two of its commits from
/// this one up to [`ANALYZE_UNTIL`], of the tables whose statistics count fewer rows than that;
/// past that the tables are far too big for any plan of the command path to prefer a
/// sequential scan, and autovacuum keeps the statistics.
const ANALYZE_FROM: u64 = 64;
const ANALYZE_UNTIL: u64 = 1 << 16;
/// Longest idempotency key accepted.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 200;

/// A command's stable name, stored in the envelope and in idempotency receipts.
pub trait CommandName {
    /// E.g. `RequestEnvironment`.
    fn command_name(&self) -> &'static str;
}

/// An aggregate the bus can route commands to: it knows where its store and services live.
pub trait Routed: Aggregate + Clone + TenantOwned + 'static
where
    Self::Event: ClaimsUnique,
    Self::Error: Rejection,
    Self::Command: Clone + CommandName + Send + Sync,
{
    /// The route of this aggregate type in the bus.
    fn route(bus: &CommandBus) -> &Route<Self>;
}

/// Store and services of one aggregate type.
pub struct Route<A: Aggregate> {
    /// Where its events live.
    pub store: PgEventStore<A>,
    /// Facts its decisions look up (cross-aggregate rules).
    pub services: A::Services,
}

/// What the caller may say about one command beyond the command itself.
#[derive(Debug, Clone, Default)]
pub struct CommandOptions {
    /// Makes the command take effect once per key (per tenant scope).
    pub idempotency_key: Option<String>,
    /// Refuse (without retrying) unless the aggregate is at exactly this version.
    pub expected_version: Option<u64>,
    /// Groups the commands of one business flow; defaults to the trace id.
    pub correlation_id: Option<String>,
    /// The event or command that caused this one; defaults to the command's own id.
    pub causation_id: Option<String>,
    /// Fingerprint of the command's input as the caller sent it
    /// ([`crate::idempotency::input_hash`]), stored with the idempotency receipt: the same key
    /// with another input is refused. `None`: only the command type and aggregate are compared.
    pub input_hash: Option<String>,
    /// Decide and check everything as a real run would, database constraints included, and
    /// keep nothing: no event, snapshot, claim or receipt is written, no projection moves.
    /// A duplicate of a committed idempotency key still gets the first result back.
    pub dry_run: bool,
}

/// What a command did.
#[derive(Debug, Clone)]
pub struct CommandOutcome {
    /// Aggregate type.
    pub aggregate_type: &'static str,
    /// Aggregate id.
    pub aggregate_id: String,
    /// The aggregate's version after the command.
    pub version: u64,
    /// The events written (the original ones when the command was a duplicate) or, in a dry
    /// run, the events a real run would write (their `global_position` and `transaction_id`
    /// are 0: they were never kept).
    pub events: Vec<RecordedEvent>,
    /// Trace id the events carry.
    pub trace_id: String,
    /// True when an idempotency key matched an earlier command and nothing new was written.
    pub deduplicated: bool,
    /// True when the command was a dry run ([`CommandOptions::dry_run`]): nothing was written.
    pub dry_run: bool,
}

impl CommandOutcome {
    /// The log position of the last event written: a read-your-writes token. None when
    /// nothing was written, e.g. by a dry run (but for a duplicate, whose events are real).
    pub fn position(&self) -> Option<LogPosition> {
        if self.dry_run && !self.deduplicated {
            return None;
        }
        self.events.last().map(RecordedEvent::position)
    }
}

/// The command bus. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct CommandBus {
    inner: std::sync::Arc<Inner>,
    /// The lease every command of this handle is issued under ([`CommandBus::fenced`]).
    fence: Option<std::sync::Arc<Fence>>,
}

struct Inner {
    pool: PgPool,
    retry_budget: Duration,
    committed: watch::Sender<LogPosition>,
    routes: crate::routes::Routes,
    /// The per-aggregate locks of unpinned commands.
    stripes: Box<[tokio::sync::Mutex<()>]>,
    stripe_hasher: std::collections::hash_map::RandomState,
    /// Commits of this bus, for the statistics refresh; and whether one is running.
    commits: AtomicU64,
    analyzing: std::sync::Arc<AtomicBool>,
}

impl CommandBus {
    /// A bus over `pool` with the default routes.
    pub fn new(pool: PgPool) -> Self {
        Self::with_routes(pool.clone(), crate::routes::Routes::new(pool))
    }

    /// A bus with explicitly built routes (tests that tune snapshots or services).
    pub fn with_routes(pool: PgPool, routes: crate::routes::Routes) -> Self {
        let (committed, _) = watch::channel(LogPosition::START);
        Self {
            inner: std::sync::Arc::new(Inner {
                pool,
                retry_budget: DEFAULT_RETRY_BUDGET,
                committed,
                routes,
                stripes: (0..LOCK_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
                stripe_hasher: Default::default(),
                commits: AtomicU64::new(0),
                analyzing: Default::default(),
            }),
            fence: None,
        }
    }

    /// This bus, with every command issued under `fence`: the append checks that the worker
    /// still holds that lease, and refuses the command ([`CommandError::Fenced`]) when it does
    /// not. The handle shares everything else with this one.
    pub fn fenced(&self, fence: Fence) -> CommandBus {
        CommandBus { inner: self.inner.clone(), fence: Some(std::sync::Arc::new(fence)) }
    }

    /// The lock stripe of one aggregate.
    fn stripe(&self, aggregate_type: &str, aggregate_id: &str) -> &tokio::sync::Mutex<()> {
        let hash = self.inner.stripe_hasher.hash_one((aggregate_type, aggregate_id));
        &self.inner.stripes[hash as usize % LOCK_STRIPES]
    }

    /// Counts a commit; at each power of two while the tables are young, refreshes their
    /// statistics in the background (one at a time). `ANALYZE` invalidates the plans cached on
    /// every connection, so a generic plan made while a table held a page or two (where a
    /// sequential scan is the cheapest read) is replaced before the table doubles.
    fn count_commit(&self) {
        let n = self.inner.commits.fetch_add(1, Ordering::Relaxed) + 1;
        if !(ANALYZE_FROM..=ANALYZE_UNTIL).contains(&n) || !n.is_power_of_two() {
            return;
        }
        if self.inner.analyzing.swap(true, Ordering::AcqRel) {
            return;
        }
        let (pool, analyzing) = (self.inner.pool.clone(), self.inner.analyzing.clone());
        tokio::spawn(async move {
            // A process started over a grown database counts its commits from zero again:
            // only the tables its statistics still count as young are refreshed (measured: after
            // a restart over 1M aggregates, each ANALYZE of the four took 1 to 3.5 s and cost a
            // quarter of the update rate while it ran).
            let refreshed = match sqlx::query_scalar::<_, String>(sql::YOUNG_TABLES)
                .bind(ANALYZE_UNTIL as f32)
                .fetch_all(&pool)
                .await
            {
                Ok(young) if young.is_empty() => Ok(()),
                Ok(young) => sqlx::query(&format!("ANALYZE {}", young.join(", "))).execute(&pool).await.map(drop),
                Err(err) => Err(err),
            };
            if let Err(err) = refreshed {
                tracing::warn!(%err, commits = n, "refreshing the command path's statistics failed");
            } else {
                tracing::debug!(commits = n, "refreshed the command path's statistics");
            }
            analyzing.store(false, Ordering::Release);
        });
    }

    /// The routes (stores and services) of every aggregate type.
    pub fn routes(&self) -> &crate::routes::Routes {
        &self.inner.routes
    }

    /// The pool the bus writes to.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// Wakes whenever this process commits events (projectors and subscriptions wait on it
    /// instead of polling hard; they still poll slowly for writes of other processes).
    pub fn subscribe_commits(&self) -> watch::Receiver<LogPosition> {
        self.inner.committed.subscribe()
    }

    /// Runs one command against aggregate `aggregate_id` of type `A`.
    pub async fn execute<A>(
        &self,
        ctx: &RequestContext,
        aggregate_id: &str,
        command: A::Command,
        options: CommandOptions,
    ) -> Result<CommandOutcome, CommandError>
    where
        A: Routed,
        A::Event: ClaimsUnique,
        A::Error: Rejection,
        A::Command: Clone + CommandName + Send + Sync,
    {
        let span = info_span!(
            "command",
            trace_id = %ctx.trace_id,
            aggregate_type = A::TYPE,
            aggregate_id,
            command = command.command_name(),
            actor = %ctx.actor,
        );
        // Exported spans of this command and everything inside it carry the caller's trace id.
        crate::trace::continue_trace(&span, &ctx.trace_id);
        let started = std::time::Instant::now();
        let dry_run = options.dry_run;
        let result = self.execute_inner::<A>(ctx, aggregate_id, command, options).instrument(span).await;
        // Every way out of `execute_inner` is marked here, so none can forget it.
        let result = result.map(|outcome| CommandOutcome { dry_run, ..outcome });
        let outcome = match &result {
            Ok(o) if o.deduplicated => "deduplicated",
            Ok(_) if dry_run => "rehearsed",
            Ok(_) => "committed",
            Err(e) => e.code(),
        };
        metrics::counter!("commands_total", "aggregate" => A::TYPE, "outcome" => outcome).increment(1);
        metrics::histogram!("command_duration_seconds", "aggregate" => A::TYPE).record(started.elapsed().as_secs_f64());
        result
    }

    async fn execute_inner<A>(
        &self,
        ctx: &RequestContext,
        aggregate_id: &str,
        command: A::Command,
        options: CommandOptions,
    ) -> Result<CommandOutcome, CommandError>
    where
        A: Routed,
        A::Event: ClaimsUnique,
        A::Error: Rejection,
        A::Command: Clone + CommandName + Send + Sync,
    {
        if aggregate_id.is_empty() || aggregate_id.len() > 200 {
            return Err(CommandError::InvalidInput("aggregate id must be 1 to 200 characters".into()));
        }
        let receipt = match &options.idempotency_key {
            Some(key) if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN => {
                return Err(CommandError::InvalidInput(format!(
                    "idempotency key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} characters"
                )))
            }
            Some(key) => Some(ReceiptRequest {
                scope: crate::idempotency::receipt_scope(ctx),
                key: key.clone(),
                command_type: command.command_name().to_owned(),
                input_hash: options.input_hash.clone(),
            }),
            None => None,
        };
        // Roles first: a command the caller's roles may not send is refused before any read.
        let operation = Operation::Command(A::TYPE, command.command_name());
        let Some(role) = access::acting_role(&ctx.roles, operation) else {
            return Err(CommandError::Forbidden(format!(
                "{} may not be sent by {}",
                command.command_name(),
                describe_roles(ctx)
            )));
        };
        let route = A::route(self);
        let base_metadata = self.envelope(ctx, role, &command, &options);
        // Unpinned commands on one aggregate take turns in this process: each decides on the
        // state its predecessor left, so they never lose a race to each other. A pinned
        // command is about one exact version and must fail fast; it takes no turn.
        let _turn = match options.expected_version {
            None => Some(self.stripe(A::TYPE, aggregate_id).lock().await),
            Some(_) => None,
        };
        let started = Instant::now();
        let mut attempt = 0u32;
        let mut bypass_cache = false;
        loop {
            attempt += 1;
            let mut loaded: LoadedAggregate<A> = if bypass_cache {
                route.store.load(aggregate_id).await?
            } else {
                route.store.load_for_command(aggregate_id).await?
            };
            if let Some(expected) = options.expected_version {
                if expected != loaded.version {
                    if loaded.from_cache() {
                        // The cache may be behind another replica: ask the database.
                        route.store.forget(aggregate_id);
                        bypass_cache = true;
                        continue;
                    }
                    return Err(self.conflict::<A>(
                        aggregate_id,
                        format!("expected version {expected}, found {}", loaded.version),
                    ));
                }
            }
            // Tenant isolation: another tenant's aggregate does not exist for this caller, and a
            // platform-wide or shared one may be seen but not changed by a tenant-scoped caller.
            let owner_before = loaded.aggregate.owner_tenant().cloned();
            if loaded.version > 0 {
                let owner = owner_before.as_ref().map(TenantId::as_str);
                if !ctx.can_see(owner) {
                    return Err(CommandError::NotFound {
                        aggregate_type: A::TYPE,
                        aggregate_id: aggregate_id.to_owned(),
                    });
                }
                if !ctx.may_write(owner) {
                    return Err(CommandError::Forbidden(format!(
                        "{} {aggregate_id} belongs to no tenant of this request; it may be read, not changed",
                        A::TYPE
                    )));
                }
            }
            let sink = EventSink::<A>::default();
            let decided = loaded.aggregate.handle(command.clone(), &route.services, &sink).await;
            if let Err(err) = decided {
                if loaded.from_cache() {
                    // Never refuse on possibly stale state: decide again on a fresh load.
                    route.store.forget(aggregate_id);
                    bypass_cache = true;
                    continue;
                }
                // A duplicate of a committed command usually fails its own precondition now.
                if let Some(receipt) = &receipt {
                    if let Some(outcome) = self.replay_receipt::<A>(receipt, aggregate_id, ctx).await? {
                        return Ok(outcome);
                    }
                }
                return Err(match err.kind() {
                    RejectionKind::NotFound => {
                        CommandError::NotFound { aggregate_type: A::TYPE, aggregate_id: aggregate_id.to_owned() }
                    }
                    kind => CommandError::Rejected { kind, message: err.to_string() },
                });
            }
            let events = sink.collect().await;
            // The events belong to the aggregate's tenant (decided by its state after the
            // decision, so a create is stamped with the tenant it creates for), never to the
            // caller's: ownership is immutable once the aggregate exists.
            let owner = loaded.aggregate.owner_tenant().cloned();
            if loaded.version > 0 && owner != owner_before {
                route.store.forget(aggregate_id);
                return Err(CommandError::Rejected {
                    kind: RejectionKind::InvariantViolated,
                    message: format!("the tenant of {} {aggregate_id} cannot change", A::TYPE),
                });
            }
            // A create may not make an aggregate outside the caller's tenants either.
            if !ctx.may_write(owner.as_ref().map(TenantId::as_str)) {
                route.store.forget(aggregate_id);
                return Err(CommandError::Forbidden(match &owner {
                    Some(owner) => format!("this request may not act for tenant {owner}"),
                    None => format!("a tenant-scoped request may not create a platform-wide or shared {}", A::TYPE),
                }));
            }
            let mut metadata = base_metadata.clone();
            if let Some(owner) = &owner {
                metadata.insert(keys::TENANT_ID.to_owned(), owner.to_string());
            }
            // A dry run differs from a real one here only: its statement is rolled back.
            let appended = if options.dry_run {
                route.store.rehearse(&loaded, &events, &metadata, receipt.as_ref(), self.fence.as_deref()).await
            } else {
                route.store.append(&loaded, &events, &metadata, receipt.as_ref(), self.fence.as_deref()).await
            };
            match appended {
                Ok(recorded) => {
                    // Nothing of a dry run was committed: no wake-up for followers, no commit
                    // to count toward the statistics refresh.
                    if !options.dry_run {
                        if let Some(last) = recorded.last() {
                            let position = last.position();
                            self.inner.committed.send_if_modified(|p| {
                                let newer = position > *p;
                                if newer {
                                    *p = position;
                                }
                                newer
                            });
                        }
                        self.count_commit();
                    }
                    let version = loaded.version + events.len() as u64;
                    tracing::debug!(version, attempt, dry_run = options.dry_run, "command committed or rehearsed");
                    return Ok(CommandOutcome {
                        aggregate_type: A::TYPE,
                        aggregate_id: aggregate_id.to_owned(),
                        version,
                        events: recorded,
                        trace_id: ctx.trace_id.to_string(),
                        deduplicated: false,
                        // Set by `execute` for every outcome.
                        dry_run: false,
                    });
                }
                Err(StoreError::DuplicateReceipt) => {
                    let receipt = receipt.as_ref().expect("a receipt conflict needs a receipt");
                    return match self.replay_receipt::<A>(receipt, aggregate_id, ctx).await? {
                        Some(outcome) => Ok(outcome),
                        None => Err(self.conflict::<A>(aggregate_id, "idempotency receipt vanished".into())),
                    };
                }
                Err(StoreError::Conflict) => {
                    if let Some(receipt) = &receipt {
                        if let Some(outcome) = self.replay_receipt::<A>(receipt, aggregate_id, ctx).await? {
                            return Ok(outcome);
                        }
                    }
                    if options.expected_version.is_some() || started.elapsed() >= self.inner.retry_budget {
                        return Err(self.conflict::<A>(
                            aggregate_id,
                            format!("lost the race {attempt} times in {:?}", started.elapsed()),
                        ));
                    }
                    // Jitter so that racing writers do not collide again in lockstep.
                    let backoff = rand::random_range(0..(2u64 << attempt.min(6)));
                    tokio::time::sleep(Duration::from_millis(backoff)).await;
                    tracing::debug!(attempt, "concurrency conflict, retrying with a fresh load");
                }
                Err(StoreError::ClaimTaken { scope, key }) => {
                    if let Some(receipt) = &receipt {
                        if let Some(outcome) = self.replay_receipt::<A>(receipt, aggregate_id, ctx).await? {
                            return Ok(outcome);
                        }
                    }
                    return Err(CommandError::Rejected {
                        kind: RejectionKind::AlreadyExists,
                        message: format!("{scope} {key:?} is already taken"),
                    });
                }
                Err(StoreError::Fenced(fence)) => {
                    tracing::warn!(%fence, "a deposed worker's command was refused");
                    return Err(CommandError::Fenced(fence));
                }
                Err(other) => {
                    tracing::error!(error = %other, "append failed");
                    return Err(other.into());
                }
            }
        }
    }

    fn conflict<A: Aggregate>(&self, aggregate_id: &str, detail: String) -> CommandError {
        CommandError::Conflict { aggregate_type: A::TYPE, aggregate_id: aggregate_id.to_owned(), detail }
    }

    /// The envelope every event of this command carries, but for `tenant_id`, which is the
    /// owning aggregate's and is added once the decision is known.
    fn envelope<C: CommandName>(
        &self,
        ctx: &RequestContext,
        role: Role,
        command: &C,
        options: &CommandOptions,
    ) -> HashMap<String, String> {
        let command_id = Uuid::now_v7().to_string();
        let mut metadata = HashMap::with_capacity(10);
        metadata.insert(keys::TRACE_ID.to_owned(), ctx.trace_id.to_string());
        if let Some(tenant) = &ctx.tenant {
            metadata.insert(keys::ACTING_TENANT_ID.to_owned(), tenant.to_string());
        }
        metadata.insert(keys::ACTOR.to_owned(), ctx.actor.to_string());
        metadata.insert(keys::ACTOR_ROLE.to_owned(), role.as_str().to_owned());
        metadata.insert(
            keys::CORRELATION_ID.to_owned(),
            options.correlation_id.clone().unwrap_or_else(|| ctx.trace_id.to_string()),
        );
        metadata
            .insert(keys::CAUSATION_ID.to_owned(), options.causation_id.clone().unwrap_or_else(|| command_id.clone()));
        metadata.insert(keys::COMMAND_ID.to_owned(), command_id);
        metadata.insert("command_type".to_owned(), command.command_name().to_owned());
        if let Some(key) = &options.idempotency_key {
            metadata.insert("idempotency_key".to_owned(), key.clone());
        }
        metadata
    }

    /// The result of the earlier command with this idempotency key, if there was one.
    async fn replay_receipt<A>(
        &self,
        receipt: &ReceiptRequest,
        aggregate_id: &str,
        ctx: &RequestContext,
    ) -> Result<Option<CommandOutcome>, CommandError>
    where
        A: Routed,
        A::Event: ClaimsUnique,
        A::Error: Rejection,
        A::Command: Clone + CommandName + Send + Sync,
    {
        let row: Option<(String, String, String, i64, i64, Option<String>)> = sqlx::query_as(sql::RECEIPT)
            .bind(&receipt.scope)
            .bind(&receipt.key)
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(StoreError::from)?;
        let Some((aggregate_type, stored_id, command_type, first, last, stored_hash)) = row else {
            return Ok(None);
        };
        if aggregate_type != A::TYPE || stored_id != aggregate_id || command_type != receipt.command_type {
            return Err(CommandError::IdempotencyKeyReused {
                key: receipt.key.clone(),
                previous: format!("{command_type} on {aggregate_type} {stored_id}"),
            });
        }
        // Receipts from before fingerprints (NULL), or callers that give none, skip this check.
        if let (Some(stored), Some(given)) = (&stored_hash, &receipt.input_hash) {
            if stored != given {
                return Err(CommandError::IdempotencyKeyReused {
                    key: receipt.key.clone(),
                    previous: format!("{command_type} on {aggregate_type} {stored_id} with other input"),
                });
            }
        }
        let events = A::route(self).store.events_between(aggregate_id, first, last).await?;
        let trace_id = events
            .first()
            .and_then(|e| e.envelope(keys::TRACE_ID).map(str::to_owned))
            .unwrap_or_else(|| ctx.trace_id.to_string());
        tracing::info!(key = %receipt.key, "duplicate command: returning the original result");
        Ok(Some(CommandOutcome {
            aggregate_type: A::TYPE,
            aggregate_id: aggregate_id.to_owned(),
            version: last as u64,
            events,
            trace_id,
            deduplicated: true,
            // Set by `execute` for every outcome.
            dry_run: false,
        }))
    }
}

/// The caller's roles, for refusal messages.
fn describe_roles(ctx: &RequestContext) -> String {
    if ctx.roles.is_empty() {
        return "a caller with no role".to_owned();
    }
    let names: Vec<&str> = ctx.roles.iter().map(|r| r.as_str()).collect();
    format!("role {}", names.join(", "))
}
