//! A private PostgreSQL cluster for `serve` without `DATABASE_URL`, and the tests' fallback.
//!
//! [`LocalPostgres::start`] finds the installed server binaries, runs `initdb` on a fresh data
//! directory, starts the server with `pg_ctl` (or reuses the one already running from that
//! directory), creates the database and hands back its URL. [`LocalPostgres::stop`] stops the
//! server unless another process still uses it.
//!
//! Layout: everything lives in the data directory (`<data_dir>/server.log` is the server log).
//! The server listens on `127.0.0.1:<port>` only and opens no Unix socket.
//!
//! Invariants:
//! - Authentication is `trust` for the superuser `postgres`: acceptable only because the server
//!   listens on loopback alone. It is a development convenience; production sets `DATABASE_URL`.
//! - PostgreSQL refuses to run as root, so as root every `initdb`/`pg_ctl` runs as `postgres` (or
//!   `nobody`), with the uid and gid set by the spawn itself, never as root.
//! - One server per data directory: PostgreSQL's own `postmaster.pid` lock guarantees it. Each
//!   process using the cluster holds a shared `flock` on the data directory, and `stop` stops the
//!   server only when it can take the lock exclusively, that is, when nobody else uses it.

use std::ffi::OsString;
use std::fs::{self, File, TryLockError};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};
use tokio::process::Command;

/// Where Debian and Ubuntu install server binaries: `<VERSIONS>/<major>/bin`, not on `PATH`.
const VERSIONS: &str = "/usr/lib/postgresql";
/// How long to wait for a server someone else is starting to accept connections.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Options for the private cluster.
#[derive(Debug, Clone)]
pub struct LocalPostgresOptions {
    /// The cluster's data directory; a relative path is taken from the current directory.
    pub data_dir: PathBuf,
    /// The TCP port the cluster listens on (on `127.0.0.1` only).
    pub port: u16,
    /// The database to create (if missing) and connect to.
    pub database: String,
}

impl Default for LocalPostgresOptions {
    fn default() -> Self {
        Self { data_dir: PathBuf::from(".data/postgres"), port: 54329, database: "runtime_platform".to_owned() }
    }
}

/// A running private cluster. Dropping it leaves the server running; call [`LocalPostgres::stop`].
#[derive(Debug)]
pub struct LocalPostgres {
    /// `postgres://postgres@127.0.0.1:{port}/{database}`.
    pub url: String,
    /// Absolute path of the data directory.
    pub data_dir: PathBuf,
    /// The port the server listens on (a server already running keeps the port it has).
    pub port: u16,
    bin_dir: PathBuf,
    /// The unprivileged user the server runs as when we are root.
    user: Option<nix::unistd::User>,
    /// A shared `flock` on the data directory, held while this process uses the cluster.
    lock: File,
}

/// Errors from starting or stopping the private cluster.
#[derive(Debug, thiserror::Error)]
pub enum LocalPostgresError {
    #[error("PostgreSQL is not installed (no pg_ctl and initdb on PATH, PG_BIN_DIR or {VERSIONS}/*/bin): install it (apt-get install postgresql) or set DATABASE_URL")]
    NotInstalled,
    #[error("running as root, and neither a `postgres` nor a `nobody` user exists to run PostgreSQL as")]
    NoUnprivilegedUser,
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("private PostgreSQL cluster: {0}")]
    Database(#[from] sqlx::Error),
}

type Result<T, E = LocalPostgresError> = std::result::Result<T, E>;

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> LocalPostgresError + '_ {
    move |source| LocalPostgresError::Io { path: path.to_path_buf(), source }
}

impl LocalPostgres {
    /// Starts (or reuses) the cluster and makes sure the database exists.
    pub async fn start(options: &LocalPostgresOptions) -> Result<LocalPostgres> {
        let data_dir = std::path::absolute(&options.data_dir).map_err(io_error(&options.data_dir))?;
        let (pg_bin_dir, path) = (std::env::var_os("PG_BIN_DIR"), std::env::var_os("PATH"));
        let bin_dir = find_bin_dir(&data_dir, pg_bin_dir, path, Path::new(VERSIONS))?;
        let user = if nix::unistd::geteuid().is_root() {
            let user = ["postgres", "nobody"].into_iter().find_map(|name| nix::unistd::User::from_name(name).ok()?);
            Some(user.ok_or(LocalPostgresError::NoUnprivilegedUser)?)
        } else {
            None
        };
        fs::create_dir_all(&data_dir).map_err(io_error(&data_dir))?;
        if let Some(user) = &user {
            hand_over(&data_dir, user)?;
        }
        let lock = File::open(&data_dir).map_err(io_error(&data_dir))?;
        // Waits only while another process holds it exclusively, i.e. is stopping the server.
        lock.lock_shared().map_err(io_error(&data_dir))?;
        let mut cluster = LocalPostgres { url: String::new(), data_dir, port: options.port, bin_dir, user, lock };

        if !cluster.data_dir.join("PG_VERSION").exists() {
            tracing::info!(data_dir = %cluster.data_dir.display(), "initialising a private PostgreSQL cluster");
            let args = ["--auth=trust", "--username=postgres", "--encoding=UTF8", "--no-locale"];
            cluster.run("initdb", &args).await?;
        }
        if let Some(port) = cluster.running_port().await? {
            if port != options.port {
                tracing::warn!(requested = options.port, port, "the private PostgreSQL cluster runs on another port");
            }
            cluster.port = port;
            tracing::info!(data_dir = %cluster.data_dir.display(), port, "reusing the running private PostgreSQL cluster");
        } else {
            tracing::info!(data_dir = %cluster.data_dir.display(), port = cluster.port, "starting the private PostgreSQL cluster");
            // pg_ctl hands `-o` to /bin/sh, hence the quotes around the empty socket directory list.
            let server =
                format!("-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories=''", cluster.port);
            if let Err(LocalPostgresError::Command { command, detail }) =
                cluster.run("pg_ctl", &["-l", "server.log", "-w", "-o", &server, "start"]).await
            {
                let log = fs::read_to_string(cluster.data_dir.join("server.log")).unwrap_or_default();
                let tail = log.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>();
                let detail = format!("{detail}; server log: {}", tail.join(" | "));
                return Err(LocalPostgresError::Command { command, detail });
            }
        }
        create_database(cluster.port, &options.database).await?;
        cluster.url = format!("postgres://postgres@127.0.0.1:{}/{}", cluster.port, options.database);
        Ok(cluster)
    }

    /// Stops the server (fast mode: open connections are closed) unless another process still
    /// uses the cluster, in which case it keeps running and the last user stops it.
    pub async fn stop(self) -> Result<()> {
        // `flock` converts our shared lock; it fails while any other process holds one.
        match self.lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                tracing::info!(stop = %self.stop_command(), "another process uses the private PostgreSQL cluster: leaving it running");
                return Ok(());
            }
            Err(TryLockError::Error(source)) => return Err(LocalPostgresError::Io { path: self.data_dir, source }),
        }
        if self.running_port().await?.is_some() {
            self.run("pg_ctl", &["-m", "fast", "stop"]).await?;
            tracing::info!(data_dir = %self.data_dir.display(), "private PostgreSQL cluster stopped");
        }
        Ok(())
    }

    /// The shell command that stops the cluster by hand.
    pub fn stop_command(&self) -> String {
        let pg_ctl = format!("{} -D {} stop", self.bin_dir.join("pg_ctl").display(), self.data_dir.display());
        match &self.user {
            Some(user) => format!("runuser -u {} -- {pg_ctl}", user.name),
            None => pg_ctl,
        }
    }

    /// The port of the server running from the data directory, if one runs.
    async fn running_port(&self) -> Result<Option<u16>> {
        let status = self.output("pg_ctl", &["status"]).await?;
        if status.status.code() == Some(3) {
            return Ok(None); // Not running (a stale postmaster.pid is removed by the next start).
        }
        let pid_file = self.data_dir.join("postmaster.pid");
        // Line 4 of postmaster.pid is the port.
        let port = fs::read_to_string(&pid_file).ok().and_then(|pid| pid.lines().nth(3)?.trim().parse().ok());
        match (status.status.success(), port) {
            (true, Some(port)) => Ok(Some(port)),
            _ => Err(failed("pg_ctl status", &status)),
        }
    }

    /// Runs `program` from the PostgreSQL bin directory on the data directory; fails unless it succeeds.
    async fn run(&self, program: &str, args: &[&str]) -> Result<()> {
        let output = self.output(program, args).await?;
        output.status.success().then_some(()).ok_or_else(|| failed(program, &output))
    }

    /// Runs `program -D <data_dir> args...` in the data directory, as the cluster's user.
    async fn output(&self, program: &str, args: &[&str]) -> Result<Output> {
        let mut command = Command::new(self.bin_dir.join(program));
        command.arg("-D").arg(&self.data_dir).args(args).current_dir(&self.data_dir).stdin(Stdio::null());
        if let Some(user) = &self.user {
            // std drops the supplementary groups too when it changes the uid.
            command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        }
        let output = command.output().await;
        output.map_err(|e| LocalPostgresError::Command { command: program.to_owned(), detail: e.to_string() })
    }
}

fn failed(command: &str, output: &Output) -> LocalPostgresError {
    let text = format!("{}{}", String::from_utf8_lossy(&output.stderr), String::from_utf8_lossy(&output.stdout));
    let detail = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" | ");
    LocalPostgresError::Command { command: command.to_owned(), detail: format!("{} {detail}", output.status) }
}

/// The directory of the server binaries, searched for `pg_ctl` in `PG_BIN_DIR`, then the version
/// that created the data directory (no other major version can open it), then `PATH`, then the
/// newest `<versions>/<major>/bin`. A symlink on `PATH` leads to the real directory.
fn find_bin_dir(
    data_dir: &Path,
    pg_bin_dir: Option<OsString>,
    path: Option<OsString>,
    versions: &Path,
) -> Result<PathBuf> {
    let mut installed: Vec<(f64, PathBuf)> = fs::read_dir(versions)
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            Some((entry.file_name().to_str()?.parse().ok()?, entry.path().join("bin")))
        })
        .collect();
    installed.sort_by(|a, b| b.0.total_cmp(&a.0));
    let made_by = fs::read_to_string(data_dir.join("PG_VERSION")).ok().map(|v| versions.join(v.trim()).join("bin"));
    let path = path.unwrap_or_default();
    let search = pg_bin_dir.map(PathBuf::from).into_iter().chain(made_by).chain(std::env::split_paths(&path));
    let search = std::env::join_paths(search.chain(installed.into_iter().map(|(_, dir)| dir)))
        .map_err(|_| LocalPostgresError::NotInstalled)?;
    let pg_ctl = which::which_in("pg_ctl", Some(search), "/").map_err(|_| LocalPostgresError::NotInstalled)?;
    let pg_ctl = fs::canonicalize(&pg_ctl).map_err(io_error(&pg_ctl))?;
    let dir = pg_ctl.parent().expect("a file has a parent").to_path_buf();
    if dir.join("initdb").is_file() {
        Ok(dir)
    } else {
        Err(LocalPostgresError::NotInstalled)
    }
}

/// Lets the cluster's `user` own the data directory and reach it: adds o+x (traverse, not list)
/// to ancestors that lack it, as under `/root`.
fn hand_over(data_dir: &Path, user: &nix::unistd::User) -> Result<()> {
    for dir in data_dir.ancestors().skip(1) {
        let mode = fs::metadata(dir).map_err(io_error(dir))?.permissions().mode();
        if mode & 0o001 == 0 {
            tracing::info!(dir = %dir.display(), "adding o+x so that PostgreSQL's user can reach its data directory");
            fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o001)).map_err(io_error(dir))?;
        }
    }
    std::os::unix::fs::chown(data_dir, Some(user.uid.as_raw()), Some(user.gid.as_raw())).map_err(io_error(data_dir))
}

/// Creates `name` unless it exists, waiting for a server that another process is still starting.
async fn create_database(port: u16, name: &str) -> Result<()> {
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    let mut conn = loop {
        match PgConnection::connect(&url).await {
            Ok(conn) => break conn,
            Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(200)).await,
            Err(e) => return Err(e.into()),
        }
    };
    let create = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
    match sqlx::query(&create).execute(&mut conn).await {
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => Ok(()), // duplicate_database
        Err(e) => Err(e.into()),
        Ok(_) => {
            tracing::info!(database = name, "created database");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("local-postgres-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn without_binaries_the_error_says_what_to_do() {
        let dir = scratch("none");
        let found = find_bin_dir(&dir, Some(dir.clone().into()), Some(dir.clone().into()), &dir.join("versions"));
        assert!(matches!(found, Err(LocalPostgresError::NotInstalled)));
        let message = LocalPostgresError::NotInstalled.to_string();
        assert!(message.contains("DATABASE_URL") && message.contains("apt-get install postgresql"));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn binaries_of_the_data_directory_version_win_over_newer_ones() {
        let dir = scratch("versions");
        for version in ["9.6", "12", "15"] {
            let bin = dir.join("versions").join(version).join("bin");
            fs::create_dir_all(&bin).unwrap();
            for tool in ["pg_ctl", "initdb"] {
                fs::write(bin.join(tool), "#!/bin/sh\n").unwrap();
                fs::set_permissions(bin.join(tool), fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
        let versions = fs::canonicalize(dir.join("versions")).unwrap();
        fs::write(dir.join("PG_VERSION"), "12\n").unwrap();
        assert_eq!(find_bin_dir(&dir, None, None, &versions).unwrap(), versions.join("12/bin"));
        let pg_bin_dir = versions.join("9.6/bin");
        assert_eq!(find_bin_dir(&dir, Some(pg_bin_dir.clone().into()), None, &versions).unwrap(), pg_bin_dir);
        fs::remove_file(dir.join("PG_VERSION")).unwrap();
        assert_eq!(find_bin_dir(&dir, None, None, &versions).unwrap(), versions.join("15/bin"));
        let _ = fs::remove_dir_all(&dir);
    }

    /// The tests' fallback path end to end: a fresh cluster, reused by a second user, stopped
    /// only by the last one. Skipped where PostgreSQL is not installed.
    #[tokio::test]
    async fn starts_reuses_and_stops_a_fresh_cluster() {
        let dir = scratch("cluster");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let options = LocalPostgresOptions { data_dir: dir.join("pg"), port, database: "it's".into() };
        let first = match LocalPostgres::start(&options).await {
            Err(LocalPostgresError::NotInstalled) => return,
            started => started.unwrap(),
        };
        assert_eq!(first.url, format!("postgres://postgres@127.0.0.1:{port}/it's"));
        let second = LocalPostgres::start(&options).await.unwrap();
        PgConnection::connect(&format!("postgres://postgres@127.0.0.1:{port}/it%27s")).await.unwrap();
        first.stop().await.unwrap(); // `second` still holds the lock: keeps running.
        assert!(PgConnection::connect(&second.url.replace("it's", "postgres")).await.is_ok());
        second.stop().await.unwrap();
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
        let _ = fs::remove_dir_all(&dir);
    }
}
