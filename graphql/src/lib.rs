//! The GraphQL API: schema, resolvers, and the axum routes that serve them.
//!
//! Only this crate knows async-graphql types. Every request is turned into a
//! `commands::RequestContext` in one place ([`request_context`]); resolvers read the context,
//! never headers, and change state only through the command bus.
//!
//! Layout:
//! - [`request_context`]: bearer token (or, in development, headers) / websocket init
//!   payload -> `RequestContext`.
//! - [`guard`]: the role guard over every root field (the table is `commands::access`).
//! - [`nesting`]: the bracket-depth bound, checked before any recursive parser runs.
//! - [`expansion`]: the bound on selections once fragments are expanded (linear to compute).
//! - [`executor`]: `GuardedSchema`, the checkpoints every document passes (rate, allow-list,
//!   nesting, parse, roles, timeout), for HTTP and websocket alike.
//! - [`error`]: the one API error type, with a stable `extensions.code` per variant.
//! - [`types`]: output and input types (events, environments, command results, cursors).
//! - [`query`], [`mutation`], [`subscription`]: the roots; [`causal`]: `causalChain`;
//!   [`diff`]: `runtimeDiff`.
//! - [`parse_cache`]: parsed documents of repeated queries.
//! - [`http`]: GraphQL over HTTP (`POST`/`GET /graphql`), graphql-transport-ws on `/graphql`
//!   and `/graphql/ws`, GraphiQL.
//! - [`export`]: `GET /audit/export`, the audit log of a time range streamed as NDJSON or CSV.
//! - [`ws`]: our graphql-transport-ws connection loop (close codes, keepalive, limits,
//!   shutdown); async-graphql only executes the operations.

pub mod causal;
pub mod command;
pub mod contexts;
pub mod diff;
pub mod error;
pub mod executor;
pub mod expansion;
pub mod export;
pub mod guard;
pub mod http;
pub mod mutation;
pub mod nesting;
pub mod parse_cache;
pub mod projection_status;
pub mod query;
pub mod request_context;
pub mod subscription;
pub mod types;
pub mod worker_status;
pub mod ws;

use async_graphql::Schema;
use commands::CommandBus;
use sqlx::PgPool;

pub use http::{router, router_with, ApiConfig, Connections, WsConfig};

/// The schema type served by this crate.
pub type ApiSchema = Schema<query::QueryRoot, mutation::MutationRoot, subscription::SubscriptionRoot>;

/// Deepest query accepted: deeper ones are refused before they run.
pub const MAX_DEPTH: usize = 16;
/// Most complex query accepted (fields weighted by page sizes).
pub const MAX_COMPLEXITY: usize = 5_000;

/// What resolvers share: the bus for changes, the pool for reads, the projection runners for
/// status and read-your-writes.
#[derive(Clone)]
pub struct ApiState {
    /// The single entry point for changes.
    pub bus: CommandBus,
    /// Read access to the log and the read models.
    pub pool: PgPool,
    /// The projections this process runs (their checkpoints answer `minPosition`).
    pub runners: std::sync::Arc<Vec<projections::ProjectionRunner>>,
    /// This replica's live feed, which subscriptions join.
    pub feed: projections::live::LiveFeed,
    /// The workers (control loops) this replica runs, for their status.
    pub reactors: std::sync::Arc<Vec<workers::ReactorRunner>>,
    /// The clock-driven control loops this replica runs, for their status.
    pub loops: std::sync::Arc<Vec<workers::LoopRunner>>,
    /// The intake of observed state (reports, probe samples).
    pub intake: workers::Intake,
    /// Where integration events go (`None`: this server runs without a broker); used to
    /// publish a parked event again.
    pub publisher: Option<std::sync::Arc<dyn integration::Publisher>>,
}

/// Builds the schema with its limits and introspection on.
pub fn schema(state: ApiState) -> ApiSchema {
    schema_with(state, true)
}

/// Builds the schema with its limits; `introspection: false` refuses `__schema` and `__type`.
pub fn schema_with(state: ApiState, introspection: bool) -> ApiSchema {
    let builder =
        Schema::build(query::QueryRoot::default(), mutation::MutationRoot::default(), subscription::SubscriptionRoot)
            // Batches the catalog's per-service placements: one query per page, not per entry.
            .data(contexts::read_models::placement_loader(state.pool.clone()))
            .data(state)
            .limit_depth(MAX_DEPTH)
            .limit_complexity(MAX_COMPLEXITY);
    if introspection {
        builder.finish()
    } else {
        builder.disable_introspection().finish()
    }
}

/// The schema in SDL, as committed in `graphql/schema.graphql`.
pub fn sdl() -> String {
    Schema::build(query::QueryRoot::default(), mutation::MutationRoot::default(), subscription::SubscriptionRoot)
        .finish()
        .sdl()
}
