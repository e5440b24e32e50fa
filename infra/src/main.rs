//! `runtime-platform`: the control plane's server and maintenance commands.

use std::time::Instant;

use anyhow::Context as _;
use clap::Parser;
use infra::config::{Cli, Command, DatabaseArgs};
use infra::database;
use infra::local_postgres::{LocalPostgres, LocalPostgresOptions};
use infra::server::Platform;
use sqlx::PgPool;
use tokio::sync::watch;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let telemetry = infra::telemetry::init_tracing(std::io::stdout);
    let cli = Cli::parse();
    if matches!(cli.command, Command::Serve(_)) {
        telemetry.report();
    }
    let result = run(cli.command).await;
    // On every way out, errors included: the spans of the last moments are the interesting ones.
    telemetry.shutdown().await;
    result
}

/// Runs one CLI command.
async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => {
            let api_config = infra::auth::api_config(&args.auth, &args.limits).await?;
            if api_config.auth.is_development() && !args.listen.ip().is_loopback() {
                anyhow::bail!(
                    "refusing to serve {} without authentication: development mode (identity from headers) \
                     binds to loopback only; set APP_AUTH_ISSUER (OIDC, e.g. Entra ID) or APP_AUTH_SIGNING_KEY",
                    args.listen
                );
            }
            // Listen for the signal before building anything: a signal that arrives while the
            // schema is being built must still stop both listeners.
            let signalled = shutdown_listener();
            let (pool, cluster) = open_database(&args.database).await?;
            let served = serve(&args, api_config, pool, signalled).await;
            // The private cluster stops also when serving failed part-way (e.g. a taken port).
            if let Some(cluster) = cluster {
                cluster.stop().await.context("stopping the private PostgreSQL cluster")?;
            }
            served?;
        }
        Command::Token(args) => {
            println!("{}", infra::auth::mint(&args)?);
        }
        Command::Migrate(args) => {
            open_database(&args).await?;
            println!("migrations applied");
        }
        Command::Rebuild(args) => {
            let (pool, _cluster) = open_database(&args.database).await?;
            let platform = Platform::new(pool);
            let names: Vec<&str> = platform.runners.iter().map(|r| r.name()).collect();
            let selected: Vec<_> = match &args.projection {
                Some(name) => vec![platform
                    .runner(name)
                    .with_context(|| format!("unknown projection {name:?}; known: {}", names.join(", ")))?],
                None => platform.runners.iter().collect(),
            };
            let log_events: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&platform.pool).await?;
            for runner in selected {
                let total = runner.log_size().await?;
                let bar = indicatif::ProgressBar::new(total).with_message(runner.name().to_owned());
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{msg:>14} [{bar:40}] {pos}/{len} events {per_sec} eta {eta}",
                    )
                    .expect("valid progress template")
                    .progress_chars("=> "),
                );
                let started = Instant::now();
                let progress = bar.clone();
                let events = runner
                    .rebuild_swapping(&move |n| progress.set_position(n))
                    .await
                    .with_context(|| format!("rebuilding {}", runner.name()))?;
                bar.finish_and_clear();
                let seconds = started.elapsed().as_secs_f64();
                // A projector reads only the events it wants: the rate is over the whole log.
                println!(
                    "{}: rebuilt in {seconds:.2}s, {events} of {log_events} log events applied \
                     ({:.0} log events/s), swapped in",
                    runner.name(),
                    log_events as f64 / seconds.max(1e-9)
                );
            }
        }
    }
    Ok(())
}

/// Serves the API and the operations listener until `signalled` turns true, then stops the
/// projection and reactor runners between batches and closes the pool.
async fn serve(
    args: &infra::config::ServeArgs,
    api_config: infra::ApiConfig,
    pool: PgPool,
    signalled: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let settings = infra::server::LoopSettings {
        lease_ttl: Some(std::time::Duration::from_secs(args.worker_lease_seconds)),
        ..Default::default()
    };
    let mut platform = Platform::with_loops(pool, settings);
    match args.servicebus.config().settings().context("APP_SERVICEBUS_*")? {
        None => tracing::info!(
            "no Service Bus configured (APP_SERVICEBUS_NAMESPACE): events are not relayed and no commands are taken \
             from a queue"
        ),
        Some(settings) => {
            let http = settings.http_client().context("the Service Bus HTTP client")?;
            let publisher = integration::servicebus::ServiceBusPublisher::new(&settings, http.clone())
                .context("the Service Bus publisher")?;
            let source = match &settings.queue {
                Some(queue) => Some(std::sync::Arc::new(
                    integration::servicebus::ServiceBusCommandSource::new(&settings, queue, http)
                        .context("the Service Bus command source")?,
                ) as std::sync::Arc<dyn integration::CommandSource>),
                None => None,
            };
            tracing::info!(
                events = %integration::Publisher::destination(&publisher),
                commands = %source.as_ref().map(|s| s.origin()).unwrap_or_else(|| "none".to_owned()),
                authentication = ?settings.authentication,
                "Service Bus connected: every committed event is relayed; commands are taken from the queue"
            );
            platform.connect_integration(
                std::sync::Arc::new(publisher),
                source,
                integration::RelaySettings::default(),
                integration::IntakeSettings::default(),
            );
        }
    }
    platform.switch_off_workers(&args.workers_off).context("APP_WORKERS_OFF")?;
    let (stop, shutdown) = watch::channel(false);
    let mut runners = platform.start_projections(shutdown.clone()).await.context("starting the projections")?;
    runners.extend(platform.start_reactors(shutdown.clone()).await.context("starting the reactors")?);
    runners.push(platform.start_feed(shutdown));
    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let ops_listener = tokio::net::TcpListener::bind(args.ops_listen)
        .await
        .with_context(|| format!("binding the operations listener {}", args.ops_listen))?;
    if api_config.auth.is_development() {
        tracing::warn!(
            "DEVELOPMENT MODE: no authentication configured; callers are who their x-actor / x-roles / \
             x-tenant-id headers say (default: PlatformAdmin). Loopback only. Set APP_AUTH_ISSUER or \
             APP_AUTH_SIGNING_KEY for anything else."
        );
    }
    tracing::info!(
        address = %listener.local_addr()?,
        ops = %ops_listener.local_addr()?,
        "serving GraphQL on /graphql (GraphiQL: GET /graphql); /metrics, /healthz, /readyz on the ops address"
    );
    let until = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let ops_server = axum::serve(ops_listener, platform.ops()).with_graceful_shutdown(until(signalled.clone()));
    let ops = tokio::spawn(async move { ops_server.await });
    // Websockets are upgraded out of axum's reach: they get the signal themselves (and close
    // with 1001), and `serve` waits a moment for them after the listener stops.
    let ws = infra::WsConfig { shutdown: Some(signalled.clone()), ..Default::default() };
    let sockets = ws.connections.clone();
    let served = axum::serve(listener, platform.api_with(api_config, ws))
        .with_graceful_shutdown(until(signalled))
        .await
        .context("serving HTTP");
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), sockets.closed()).await;
    let _ = stop.send(true);
    ops.abort();
    for runner in runners {
        let _ = runner.await;
    }
    platform.pool.close().await;
    served
}

/// A flag that turns true on the first Ctrl-C or SIGTERM.
fn shutdown_listener() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = tx.send(true);
    });
    rx
}

/// Resolves on Ctrl-C or SIGTERM (what Kubernetes and systemd send), so in-flight requests
/// finish and the projection runners stop between batches instead of being killed mid-way.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops the server gracefully");
                std::future::pending::<()>().await
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
}

/// Connects to `DATABASE_URL`, or starts the private cluster (returned, for `serve` to stop it
/// when it stops; `migrate` and `rebuild` leave it running); then migrates.
async fn open_database(args: &DatabaseArgs) -> anyhow::Result<(PgPool, Option<LocalPostgres>)> {
    let (url, cluster) = match &args.database_url {
        Some(url) => (url.clone(), None),
        None => {
            let options =
                LocalPostgresOptions { data_dir: args.data_dir.clone(), port: args.pg_port, ..Default::default() };
            let cluster = LocalPostgres::start(&options).await.context("starting the private PostgreSQL cluster")?;
            tracing::info!(
                url = %cluster.url,
                stop = %cluster.stop_command(),
                "using the private PostgreSQL cluster: `serve` stops it when it stops; `migrate` and `rebuild` leave it running"
            );
            (cluster.url.clone(), Some(cluster))
        }
    };
    let pool = database::connect(&url, args.max_connections).await.context("connecting to PostgreSQL")?;
    database::migrate(&pool).await.context("applying migrations")?;
    Ok((pool, cluster))
}
