//! The running service: the axum app, and the projection and reactor runners beside it.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use commands::CommandBus;
use projections::live::LiveFeed;
use projections::{ProjectionError, ProjectionRunner};
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use workers::{
    ConfigurationSyncLoop, DegradedRollbackReactor, DeploymentGateLoop, DriftDetectionLoop, GateAnalysis, HealthProbeLoop, Intake, LoopRunner, ProbeSettings, ReactorError, ReactorRunner,
    RemediationReactor, ScalingLoop, ScalingSettings, SecretRotationLoop, SupersessionReactor,
};

use crate::database;

/// Everything one process serves: the bus, the read side and the API.
#[derive(Clone)]
pub struct Platform {
    /// Database pool shared by the bus, the projectors and the resolvers.
    pub pool: PgPool,
    /// The command bus.
    pub bus: CommandBus,
    /// One runner per projection.
    pub runners: Vec<ProjectionRunner>,
    /// One runner per reactor (workers answering events with commands).
    pub reactors: Vec<ReactorRunner>,
    /// The live feed subscriptions join (one reader of the log for this replica).
    pub feed: LiveFeed,
    /// One runner per clock-driven control loop (deployment gate, health probe, drift
    /// detection).
    pub loops: Vec<LoopRunner>,
    /// The intake of observed state, shared by the API and the probe worker.
    pub intake: Intake,
    /// Where integration events go, when a broker is connected
    /// ([`Platform::connect_integration`]).
    pub publisher: Option<Arc<dyn integration::Publisher>>,
    /// The intake of the Control Plane's commands, when a command source is connected.
    pub command_intake: Option<integration::CommandIntake>,
    /// How long every worker's lease lasts without renewal (workers wired later get it too).
    pub lease_ttl: std::time::Duration,
}

/// How the clock-driven loops run (tests shorten them).
#[derive(Debug, Clone, Default)]
pub struct LoopSettings {
    /// The deployment gate's analysis.
    pub gate: GateAnalysis,
    /// The health probe worker's pace.
    pub probe: ProbeSettings,
    /// The pause between two drift detection rounds (a state report starts one at once), and
    /// between two configuration sync (default 5 s) and secret rotation (default 30 s) rounds.
    pub drift_interval: Option<std::time::Duration>,
    /// The scaling worker's pace and tolerances.
    pub scaling: ScalingSettings,
    /// How long every loop's lease lasts without renewal (default `workers::lease::DEFAULT_TTL`).
    pub lease_ttl: Option<std::time::Duration>,
}

/// The command intake's name in `APP_WORKERS_OFF`.
pub const COMMAND_INTAKE: &str = "command-intake";

/// A worker named in configuration that this platform does not have.
#[derive(Debug, thiserror::Error)]
#[error("no worker is called {name:?}; the workers are {known}")]
pub struct UnknownWorker {
    /// The name given.
    pub name: String,
    /// The workers there are, comma-separated.
    pub known: String,
}

impl Platform {
    /// Wires the bus, every projection, every reactor and every loop over `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self::with_loops(pool, LoopSettings::default())
    }

    /// [`Platform::new`] with the loops paced by `settings`.
    pub fn with_loops(pool: PgPool, settings: LoopSettings) -> Self {
        // The recorder first: a gauge set before it is installed (a loop's first lease, which
        // is set once per epoch) would be lost.
        crate::telemetry::metrics_handle();
        let bus = CommandBus::new(pool.clone());
        let runners = projections::registry::all_projectors(bus.routes())
            .into_iter()
            .map(|projector| ProjectionRunner::new(pool.clone(), projector))
            .collect();
        let replica = workers::reactor::replica_name();
        let ttl = settings.lease_ttl.unwrap_or(workers::lease::DEFAULT_TTL);
        let reactor = |r: Arc<dyn workers::Reactor>| ReactorRunner::for_replica(pool.clone(), bus.clone(), r, &replica, ttl);
        let reactors = vec![
            reactor(Arc::new(SupersessionReactor)),
            reactor(Arc::new(RemediationReactor)),
            reactor(Arc::new(DegradedRollbackReactor::default())),
        ];
        let feed = LiveFeed::new(pool.clone(), bus.routes());
        let intake = Intake::new(bus.clone());
        let job = |j: Arc<dyn workers::Periodic>| LoopRunner::for_replica(pool.clone(), bus.clone(), j, &replica, ttl);
        let loops = vec![
            job(Arc::new(DeploymentGateLoop::new(intake.observations().clone(), settings.gate))),
            job(Arc::new(HealthProbeLoop::new(intake.clone(), settings.probe))),
            job(Arc::new(DriftDetectionLoop::new(
                intake.observations().clone(),
                settings.drift_interval.unwrap_or(std::time::Duration::from_secs(5)),
                intake.state_reported(),
            ))),
            job(Arc::new(ConfigurationSyncLoop::new(
                intake.observations().clone(),
                settings.drift_interval.unwrap_or(std::time::Duration::from_secs(5)),
            ))),
            job(Arc::new(SecretRotationLoop::new(
                intake.observations().clone(),
                settings.drift_interval.unwrap_or(std::time::Duration::from_secs(30)),
            ))),
            job(Arc::new(ScalingLoop::new(intake.observations().clone(), settings.scaling))),
        ];
        Self {
            pool,
            bus,
            runners,
            reactors,
            feed,
            loops,
            intake,
            publisher: None,
            command_intake: None,
            lease_ttl: ttl,
        }
    }

    /// Connects the integration edge: the relay (a reactor: checkpoint, lease, status) publishes
    /// every event through `publisher`, and, with a `source`, the command intake takes the
    /// Control Plane's commands from it. Call before [`Platform::start_reactors`].
    pub fn connect_integration(
        &mut self,
        publisher: Arc<dyn integration::Publisher>,
        source: Option<Arc<dyn integration::CommandSource>>,
        relay: integration::RelaySettings,
        intake: integration::IntakeSettings,
    ) {
        let batch = relay.batch_size;
        let relay = Arc::new(integration::IntegrationRelay::new(publisher.clone(), self.pool.clone(), relay));
        let replica = workers::reactor::replica_name();
        let runner = ReactorRunner::for_replica(self.pool.clone(), self.bus.clone(), relay, &replica, self.lease_ttl)
            .with_batch_size(batch);
        self.reactors.push(runner);
        self.command_intake = source.map(|source| {
            integration::CommandIntake::new(source, publisher.clone(), self.bus.clone(), self.pool.clone(), intake)
        });
        self.publisher = Some(publisher);
    }

    /// The API in development mode (identity from headers) with the default limits: what
    /// tests and benchmarks drive.
    pub fn app(&self) -> Router {
        self.api(graphql::ApiConfig::development())
    }

    /// The API listener's routes: GraphQL (HTTP and websocket) and GraphiQL, under `config`.
    pub fn api(&self, config: graphql::ApiConfig) -> Router {
        self.api_with(config, graphql::WsConfig::default())
    }

    /// The API listener's routes with the websocket settings `ws` (limits, keepalive, and the
    /// shutdown signal that closes every socket with 1001).
    pub fn api_with(&self, config: graphql::ApiConfig, ws: graphql::WsConfig) -> Router {
        graphql::router_with(self.state(), config, ws)
    }

    /// What resolvers share, over this platform.
    pub fn state(&self) -> graphql::ApiState {
        graphql::ApiState {
            bus: self.bus.clone(),
            pool: self.pool.clone(),
            runners: Arc::new(self.runners.clone()),
            feed: self.feed.clone(),
            reactors: Arc::new(self.reactors.clone()),
            loops: Arc::new(self.loops.clone()),
            intake: self.intake.clone(),
            publisher: self.publisher.clone(),
        }
    }

    /// Leaves the workers named in `names` out of this replica (configuration: a loop may be
    /// switched off, e.g. while an incident is investigated). An unknown name is an error, so a
    /// typo never leaves a loop running that was meant to be off.
    pub fn switch_off_workers(&mut self, names: &[String]) -> Result<(), UnknownWorker> {
        let known: Vec<&str> = self
            .reactors
            .iter()
            .map(|r| r.name())
            .chain(self.loops.iter().map(|l| l.name()))
            .chain(self.command_intake.as_ref().map(|_| COMMAND_INTAKE))
            .collect();
        if let Some(unknown) = names.iter().find(|n| !known.contains(&n.as_str())) {
            return Err(UnknownWorker { name: unknown.clone(), known: known.join(", ") });
        }
        self.reactors.retain(|r| !names.iter().any(|n| n == r.name()));
        self.loops.retain(|l| !names.iter().any(|n| n == l.name()));
        if names.iter().any(|n| n == COMMAND_INTAKE) {
            self.command_intake = None;
        }
        Ok(())
    }

    /// The operations listener's routes: `/healthz` (the process answers), `/readyz`
    /// (database reachable and every migration applied) and `/metrics` (Prometheus). Served on
    /// their own address so that API callers, whatever their role, never see them.
    pub fn ops(&self) -> Router {
        let probes = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(readyz))
            .with_state(self.pool.clone());
        let handle = crate::telemetry::metrics_handle();
        let (runners, feed, pool) = (self.runners.clone(), self.feed.clone(), self.pool.clone());
        let metrics = Router::new().route(
            "/metrics",
            get(move || {
                let (handle, runners, feed, pool) = (handle.clone(), runners.clone(), feed.clone(), pool.clone());
                async move { crate::telemetry::render(&handle, &pool, &runners, &feed).await }
            }),
        );
        probes.merge(metrics)
    }

    /// The runner of the projection called `name`.
    pub fn runner(&self, name: &str) -> Option<&ProjectionRunner> {
        self.runners.iter().find(|r| r.name() == name)
    }

    /// Prepares every projection (rebuilding those whose version changed) and runs each in
    /// the background until `shutdown` turns true.
    pub async fn start_projections(
        &self,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Vec<JoinHandle<()>>, ProjectionError> {
        let mut handles = Vec::with_capacity(self.runners.len());
        for runner in &self.runners {
            runner.prepare().await?;
            let runner = runner.clone();
            let wake = self.bus.subscribe_commits();
            let shutdown = shutdown.clone();
            handles.push(tokio::spawn(runner.run(wake, shutdown)));
        }
        Ok(handles)
    }

    /// Runs the live feed in the background until `shutdown` turns true.
    pub fn start_feed(&self, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(self.feed.clone().run(self.bus.subscribe_commits(), shutdown))
    }

    /// Registers every reactor's checkpoint and every loop's row, and runs each in the
    /// background until `shutdown` turns true.
    pub async fn start_reactors(&self, shutdown: watch::Receiver<bool>) -> Result<Vec<JoinHandle<()>>, ReactorError> {
        let mut handles = Vec::with_capacity(self.reactors.len() + self.loops.len());
        for reactor in &self.reactors {
            reactor.prepare().await?;
            handles.push(tokio::spawn(reactor.clone().run(self.bus.subscribe_commits(), shutdown.clone())));
        }
        for runner in &self.loops {
            runner.prepare().await?;
            handles.push(tokio::spawn(runner.clone().run(shutdown.clone())));
        }
        if let Some(intake) = &self.command_intake {
            handles.push(tokio::spawn(intake.clone().run(shutdown.clone())));
        }
        Ok(handles)
    }
}

async fn readyz(State(pool): State<PgPool>) -> impl IntoResponse {
    match database::check_ready(&pool).await {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({ "status": "ready" }))),
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "not ready", "reason": err.to_string() })),
        ),
    }
}
