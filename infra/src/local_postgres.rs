//! A private PostgreSQL cluster for running the server without `DATABASE_URL`.
//!
//! When `serve` starts and no `DATABASE_URL` is configured, [`LocalPostgres::start`]
//! finds the PostgreSQL binaries installed on the machine, initialises a cluster
//! under a local data directory (default `./.data/postgres`) if there is none yet,
//! starts it (or reuses it when a previous start left it running), creates the
//! database and hands back a connection URL.
//!
//! Layout, for a data directory `<parent>/<name>`:
//!
//! * `<parent>/<name>/` — the cluster (data survives restarts);
//! * `<parent>/<name>.log` — the server log (`pg_ctl -l`);
//! * `<parent>/<name>-socket/` — the Unix socket directory (falls back to a
//!   directory under the system temp dir when that path is too long for a socket).
//!
//! Security: the cluster is initialised with `--auth=trust`, so any local
//! connection may log in as the superuser `postgres` without a password. This is
//! acceptable only because the server listens on `127.0.0.1` alone (never on a
//! public interface) and the socket directory is private to the cluster owner;
//! it is a development/single-machine convenience, not a production setup — use
//! `DATABASE_URL` for that.
//!
//! `initdb` and `pg_ctl` refuse to run as root. When the current effective user
//! is root, they are run as an unprivileged user (`postgres` if that system user
//! exists, else `nobody`) through `runuser` (or `su` when `runuser` is missing),
//! and the data directory, socket directory and log file are handed to that user.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::Command;

/// Where Debian/Ubuntu install versioned PostgreSQL binaries (`<root>/<version>/bin`).
const VERSIONED_ROOT: &str = "/usr/lib/postgresql";
/// The superuser created by `initdb --username`.
const SUPERUSER: &str = "postgres";
/// How long to wait for a server to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// `sun_path` is 108 bytes on Linux, including the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;

/// Options for the private cluster.
#[derive(Debug, Clone)]
pub struct LocalPostgresOptions {
    /// The cluster's data directory; relative paths are resolved against the
    /// current directory.
    pub data_dir: PathBuf,
    /// The TCP port the cluster listens on (on `127.0.0.1` only).
    pub port: u16,
    /// The database to create (if missing) and connect to.
    pub database: String,
}

impl Default for LocalPostgresOptions {
    fn default() -> Self {
        Self { data_dir: PathBuf::from("./.data/postgres"), port: 54329, database: "runtime_platform".to_owned() }
    }
}

/// A running private cluster.
///
/// Dropping it does not stop the server: leaving the cluster running is fine
/// and makes the next start instant. Call [`LocalPostgres::stop`] to stop it.
#[derive(Debug)]
pub struct LocalPostgres {
    /// Connection URL: `postgres://postgres@127.0.0.1:{port}/{database}`.
    pub url: String,
    /// Absolute path of the data directory.
    pub data_dir: PathBuf,
    /// The port the server actually listens on.
    pub port: u16,
    bin_dir: PathBuf,
    socket_dir: PathBuf,
    log_file: PathBuf,
    runner: Runner,
}

/// Errors from starting or stopping the private cluster.
#[derive(Debug, thiserror::Error)]
pub enum LocalPostgresError {
    /// No PostgreSQL server binaries were found.
    #[error(
        "PostgreSQL is not installed: install it (apt-get install postgresql) or set DATABASE_URL to an existing database"
    )]
    NotInstalled,
    /// An external command could not be run or failed.
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    /// The data directory cannot be used.
    #[error("PostgreSQL data directory {}: {message}", path.display())]
    DataDir { path: PathBuf, message: String },
    /// A file system operation on a known path failed.
    #[error("{action} {}: {source}", path.display())]
    Path { action: &'static str, path: PathBuf, source: std::io::Error },
    /// Any other I/O error.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

type Result<T, E = LocalPostgresError> = std::result::Result<T, E>;

impl LocalPostgres {
    /// Starts (or reuses) the cluster and makes sure the database exists.
    pub async fn start(options: &LocalPostgresOptions) -> Result<LocalPostgres> {
        validate_database_name(&options.database)?;
        let env_bin = std::env::var_os("PG_BIN_DIR");
        let env_path = std::env::var_os("PATH");
        let mut bin_dir = find_bin_dir(env_bin.as_deref(), env_path.as_deref(), Path::new(VERSIONED_ROOT))
            .ok_or(LocalPostgresError::NotInstalled)?;
        if let Some(dir) = env_bin.as_deref().filter(|d| !d.is_empty()) {
            if !has_server_binaries(Path::new(dir)) {
                tracing::warn!(
                    pg_bin_dir = %Path::new(dir).display(),
                    "PG_BIN_DIR has no pg_ctl/initdb; using {} instead",
                    bin_dir.display()
                );
            }
        }

        let data_dir = absolute_data_dir(&options.data_dir)?;
        let parent = data_dir.parent().expect("absolute_data_dir always has a parent").to_path_buf();
        let name =
            data_dir.file_name().expect("absolute_data_dir always has a file name").to_string_lossy().into_owned();

        // A data directory created by another major version cannot be started by
        // these binaries: prefer the matching installed version when there is one.
        bin_dir = matching_bin_dir(bin_dir, &data_dir).await?;

        let socket_dir = socket_dir_for(&parent, &name, options.port);
        let log_file = parent.join(format!("{name}.log"));
        let runner = Runner::detect().await?;
        prepare_filesystem(&runner, &data_dir, &socket_dir, &log_file).await?;

        let mut cluster =
            LocalPostgres { url: String::new(), data_dir, port: options.port, bin_dir, socket_dir, log_file, runner };

        if !cluster.data_dir.join("PG_VERSION").is_file() {
            cluster.initdb().await?;
        }

        match cluster.running_port().await? {
            Some(port) => {
                if port != options.port {
                    tracing::warn!(
                        requested = options.port,
                        actual = port,
                        "the private PostgreSQL cluster is already running on another port; using it"
                    );
                }
                cluster.port = port;
                tracing::info!(
                    data_dir = %cluster.data_dir.display(),
                    port,
                    "reusing the running private PostgreSQL cluster"
                );
            }
            None => cluster.pg_ctl_start().await?,
        }

        cluster.create_database(&options.database).await?;
        cluster.url = format!("postgres://{SUPERUSER}@127.0.0.1:{}/{}", cluster.port, options.database);
        tracing::info!(url = %cluster.url, "private PostgreSQL cluster is ready");
        Ok(cluster)
    }

    /// Stops the cluster (fast mode). The server does NOT call this on exit by
    /// default: leaving it running is fine and makes the next start instant.
    ///
    /// Stopping a cluster that is not running is not an error.
    pub async fn stop(&self) -> Result<()> {
        if !self.data_dir.join("postmaster.pid").exists() {
            tracing::info!(data_dir = %self.data_dir.display(), "private PostgreSQL cluster is not running");
            return Ok(());
        }
        let args: Vec<OsString> =
            vec!["-D".into(), self.data_dir.clone().into(), "-m".into(), "fast".into(), "-w".into(), "stop".into()];
        let output = self.runner.output(&self.bin_dir.join("pg_ctl"), &args).await?;
        if !output.status.success() {
            // The server may have gone away between the check and the command.
            if !self.data_dir.join("postmaster.pid").exists() {
                return Ok(());
            }
            return Err(command_failed(&output.display, &output, None));
        }
        tracing::info!(data_dir = %self.data_dir.display(), "private PostgreSQL cluster stopped");
        Ok(())
    }

    async fn initdb(&self) -> Result<()> {
        tracing::info!(
            data_dir = %self.data_dir.display(),
            bin_dir = %self.bin_dir.display(),
            "initialising a private PostgreSQL cluster"
        );
        let args: Vec<OsString> = vec![
            "-D".into(),
            self.data_dir.clone().into(),
            "--auth=trust".into(),
            format!("--username={SUPERUSER}").into(),
            "--encoding=UTF8".into(),
            "--no-locale".into(),
        ];
        let output = self.runner.output(&self.bin_dir.join("initdb"), &args).await?;
        if !output.status.success() {
            return Err(command_failed(&output.display, &output, None));
        }
        Ok(())
    }

    /// Returns the port of a server already running from this data directory,
    /// waiting for it to finish starting up; `None` when no server is running.
    async fn running_port(&self) -> Result<Option<u16>> {
        let pid_file = self.data_dir.join("postmaster.pid");
        if !pid_file.exists() {
            return Ok(None);
        }
        let args: Vec<OsString> = vec!["-D".into(), self.data_dir.clone().into(), "status".into()];
        let output = self.runner.output(&self.bin_dir.join("pg_ctl"), &args).await?;
        match output.status.code() {
            Some(0) => {}
            // 3: not running (stale postmaster.pid, which the server removes itself).
            Some(3) => return Ok(None),
            _ => return Err(command_failed(&output.display, &output, None)),
        }
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let contents = match fs::read_to_string(&pid_file) {
                Ok(contents) => contents,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(source) => return Err(LocalPostgresError::Path { action: "cannot read", path: pid_file, source }),
            };
            let info = parse_postmaster_pid(&contents);
            match info.pid.map(process_state).unwrap_or(ProcessState::Unknown) {
                // The server died without cleaning up (e.g. killed): starting
                // normally lets PostgreSQL remove the stale pid file.
                ProcessState::Gone => return Ok(None),
                // Killed but not reaped yet: PostgreSQL would still see the pid
                // as alive and refuse to start, so wait for it to disappear.
                ProcessState::Zombie => {}
                // The pid was reused by an unrelated process (e.g. after a
                // container restart): the pid file is stale.
                ProcessState::Other => {
                    tracing::warn!(pid_file = %pid_file.display(), "removing stale postmaster.pid (its pid belongs to another process)");
                    fs::remove_file(&pid_file).map_err(|source| LocalPostgresError::Path {
                        action: "cannot remove",
                        path: pid_file.clone(),
                        source,
                    })?;
                    return Ok(None);
                }
                // Starting up: wait until ready and accepting connections.
                // Shutting down: wait for the pid file to go away, then start.
                ProcessState::Postgres | ProcessState::Unknown => {
                    if let (Some("ready"), Some(port)) = (info.status.as_deref(), info.port) {
                        if accepts_connections(port).await {
                            return Ok(Some(port));
                        }
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(LocalPostgresError::DataDir {
                    path: self.data_dir.clone(),
                    message: format!(
                        "a server is running from it but did not become ready within {}s (see {})",
                        READY_TIMEOUT.as_secs(),
                        self.log_file.display()
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn pg_ctl_start(&self) -> Result<()> {
        tracing::info!(
            data_dir = %self.data_dir.display(),
            port = self.port,
            log = %self.log_file.display(),
            "starting the private PostgreSQL cluster"
        );
        // `-o` is appended to a /bin/sh command line by pg_ctl, hence the quoting.
        let server_options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c {}",
            self.port,
            shell_quote(&format!("unix_socket_directories={}", self.socket_dir.to_string_lossy()))
        );
        let args: Vec<OsString> = vec![
            "-D".into(),
            self.data_dir.clone().into(),
            "-l".into(),
            self.log_file.clone().into(),
            "-w".into(),
            "-t".into(),
            READY_TIMEOUT.as_secs().to_string().into(),
            "-o".into(),
            server_options.into(),
            "start".into(),
        ];
        let output = self.runner.output(&self.bin_dir.join("pg_ctl"), &args).await?;
        if !output.status.success() {
            return Err(command_failed(&output.display, &output, Some(&self.log_file)));
        }
        Ok(())
    }

    async fn create_database(&self, name: &str) -> Result<()> {
        let createdb = [self.bin_dir.join("createdb")]
            .into_iter()
            .chain(which("createdb"))
            .find(|p| is_executable(p))
            .ok_or_else(|| LocalPostgresError::Command {
                command: "createdb".to_owned(),
                detail: format!(
                    "not found in {} or on PATH; create the database `{name}` yourself",
                    self.bin_dir.display()
                ),
            })?;
        let args: Vec<OsString> = vec![
            "-h".into(),
            "127.0.0.1".into(),
            "-p".into(),
            self.port.to_string().into(),
            "-U".into(),
            SUPERUSER.into(),
            name.into(),
        ];
        // createdb does not mind root; it connects over TCP with trust auth.
        let output = Runner::direct().output(&createdb, &args).await?;
        if output.status.success() {
            tracing::info!(database = name, "created database");
            return Ok(());
        }
        if String::from_utf8_lossy(&output.stderr).contains("already exists") {
            return Ok(());
        }
        Err(command_failed(&output.display, &output, None))
    }
}

/// Finds the directory holding `pg_ctl` and `initdb`: `pg_bin_dir` (the
/// `PG_BIN_DIR` variable) if it has them, then the entries of `path` (the `PATH`
/// variable, following symlinks to the real bin directory so the sibling tools
/// are found too), then the highest version under `versions_root/*/bin`.
fn find_bin_dir(pg_bin_dir: Option<&OsStr>, path: Option<&OsStr>, versions_root: &Path) -> Option<PathBuf> {
    if let Some(dir) = pg_bin_dir.filter(|d| !d.is_empty()) {
        let dir = Path::new(dir);
        if has_server_binaries(dir) {
            return Some(fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()));
        }
    }
    if let Some(path) = path {
        for dir in std::env::split_paths(path) {
            if dir.as_os_str().is_empty() {
                continue;
            }
            let pg_ctl = dir.join("pg_ctl");
            if !is_executable(&pg_ctl) {
                continue;
            }
            if let Some(real_dir) = fs::canonicalize(&pg_ctl).ok().and_then(|p| p.parent().map(Path::to_path_buf)) {
                if has_server_binaries(&real_dir) {
                    return Some(real_dir);
                }
            }
            if has_server_binaries(&dir) {
                return Some(dir);
            }
        }
    }
    versioned_bin_dirs(versions_root).pop().map(|(_, dir)| dir)
}

/// `<root>/<version>/bin` directories with server binaries, lowest version first.
fn versioned_bin_dirs(root: &Path) -> Vec<(Vec<u32>, PathBuf)> {
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    let mut found: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = parse_version(&entry.file_name().to_string_lossy())?;
            let bin = entry.path().join("bin");
            has_server_binaries(&bin).then_some((version, bin))
        })
        .collect();
    found.sort();
    found
}

/// Parses `15`, `9.6`, `16.2` into numeric components.
fn parse_version(s: &str) -> Option<Vec<u32>> {
    let parts: Option<Vec<u32>> = s.split('.').map(|p| p.parse().ok()).collect();
    parts.filter(|p| !p.is_empty())
}

/// The major version as PostgreSQL writes it in `PG_VERSION`: `15`, or `9.6`
/// for versions before 10.
fn major_version(version: &str) -> Option<String> {
    let parts = parse_version(version)?;
    match parts.as_slice() {
        [major, minor, ..] if *major < 10 => Some(format!("{major}.{minor}")),
        [major, ..] => Some(major.to_string()),
        [] => None,
    }
}

/// Extracts the version from `pg_ctl (PostgreSQL) 15.13 (Debian 15.13-0+deb12u1)`.
fn parse_pg_ctl_version(output: &str) -> Option<String> {
    let rest = output.split("(PostgreSQL)").nth(1)?.trim_start();
    let version: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    major_version(version.trim_end_matches('.'))
}

fn has_server_binaries(dir: &Path) -> bool {
    is_executable(&dir.join("pg_ctl")) && is_executable(&dir.join("initdb"))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// Finds `program` on `PATH` (plus the sbin directories, which are often
/// missing from a non-root `PATH`).
fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

/// If the data directory was created by another major version than `bin_dir`'s,
/// switch to the matching installed version, or fail with a clear message.
async fn matching_bin_dir(bin_dir: PathBuf, data_dir: &Path) -> Result<PathBuf> {
    let Ok(data_version) = fs::read_to_string(data_dir.join("PG_VERSION")) else {
        return Ok(bin_dir);
    };
    let data_version = data_version.trim().to_owned();
    let output = Runner::direct().output(&bin_dir.join("pg_ctl"), &["--version".into()]).await?;
    let Some(bin_version) = parse_pg_ctl_version(&String::from_utf8_lossy(&output.stdout)) else {
        return Ok(bin_dir);
    };
    if bin_version == data_version {
        return Ok(bin_dir);
    }
    let matching = Path::new(VERSIONED_ROOT).join(&data_version).join("bin");
    if has_server_binaries(&matching) {
        tracing::info!(
            data_version = %data_version,
            bin_dir = %matching.display(),
            "using the PostgreSQL version that created the data directory"
        );
        return Ok(matching);
    }
    Err(LocalPostgresError::DataDir {
        path: data_dir.to_path_buf(),
        message: format!(
            "it was created by PostgreSQL {data_version} but only PostgreSQL {bin_version} was found in {}; install PostgreSQL {data_version}, set PG_BIN_DIR to its bin directory, or move the directory away to start afresh",
            bin_dir.display()
        ),
    })
}

/// Makes `data_dir` absolute (against the current directory) and resolves
/// symlinks in its parent, creating the parent if needed.
fn absolute_data_dir(data_dir: &Path) -> Result<PathBuf> {
    let joined = if data_dir.is_absolute() { data_dir.to_path_buf() } else { std::env::current_dir()?.join(data_dir) };
    // Drop `.` components; keep `..` for canonicalize to resolve.
    let normalized: PathBuf = joined.components().filter(|c| !matches!(c, std::path::Component::CurDir)).collect();
    let (Some(parent), Some(name)) = (normalized.parent(), normalized.file_name()) else {
        return Err(LocalPostgresError::DataDir {
            path: data_dir.to_path_buf(),
            message: "not a usable directory path".to_owned(),
        });
    };
    fs::create_dir_all(parent).map_err(|source| LocalPostgresError::Path {
        action: "cannot create",
        path: parent.to_path_buf(),
        source,
    })?;
    let parent = fs::canonicalize(parent).map_err(|source| LocalPostgresError::Path {
        action: "cannot resolve",
        path: parent.to_path_buf(),
        source,
    })?;
    Ok(parent.join(name))
}

/// `<parent>/<name>-socket`, or a directory under the temp dir when that path
/// would be too long for a Unix socket (`/.s.PGSQL.<port>` is appended).
fn socket_dir_for(parent: &Path, name: &str, port: u16) -> PathBuf {
    let preferred = parent.join(format!("{name}-socket"));
    let socket_len = preferred.as_os_str().len() + format!("/.s.PGSQL.{port}").len();
    if socket_len <= MAX_SOCKET_PATH {
        preferred
    } else {
        std::env::temp_dir().join(format!("runtime-platform-pg-{port}"))
    }
}

/// Creates the directories and log file and, when running as root, hands them
/// to the unprivileged cluster owner.
async fn prepare_filesystem(runner: &Runner, data_dir: &Path, socket_dir: &Path, log_file: &Path) -> Result<()> {
    let path_err = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| LocalPostgresError::Path { action, path, source }
    };

    if data_dir.exists() {
        if !data_dir.is_dir() {
            return Err(LocalPostgresError::DataDir {
                path: data_dir.to_path_buf(),
                message: "exists and is not a directory".to_owned(),
            });
        }
        let initialised = data_dir.join("PG_VERSION").is_file();
        let empty = fs::read_dir(data_dir).map_err(path_err("cannot read", data_dir))?.next().is_none();
        if !initialised && !empty {
            return Err(LocalPostgresError::DataDir {
                path: data_dir.to_path_buf(),
                message: "exists, is not empty and is not a PostgreSQL data directory; remove it or choose another data directory".to_owned(),
            });
        }
    } else {
        fs::create_dir_all(data_dir).map_err(path_err("cannot create", data_dir))?;
    }
    fs::create_dir_all(socket_dir).map_err(path_err("cannot create", socket_dir))?;
    if !log_file.exists() {
        fs::File::create(log_file).map_err(path_err("cannot create", log_file))?;
    }
    // PostgreSQL requires the data directory to be private (0700 or 0750).
    let mode = fs::metadata(data_dir).map_err(path_err("cannot read", data_dir))?.permissions().mode();
    if mode & 0o027 != 0 {
        fs::set_permissions(data_dir, fs::Permissions::from_mode(0o700))
            .map_err(path_err("cannot change permissions of", data_dir))?;
    }
    fs::set_permissions(socket_dir, fs::Permissions::from_mode(0o700))
        .map_err(path_err("cannot change permissions of", socket_dir))?;

    let Some(owner) = &runner.user else {
        return Ok(());
    };

    // Running as root: the cluster runs as `owner`, who must be able to reach
    // the data directory. The parent chain (up to `/`) may be private, e.g.
    // under /root, so we add o+x (traverse only, not list or read) to every
    // ancestor that lacks it, rather than fail.
    for dir in [data_dir, socket_dir].iter().flat_map(|p| p.ancestors().skip(1)) {
        let meta = fs::metadata(dir).map_err(path_err("cannot read", dir))?;
        let mode = meta.permissions().mode();
        if mode & 0o001 == 0 {
            tracing::info!(dir = %dir.display(), "adding o+x so the PostgreSQL user can reach its data directory");
            fs::set_permissions(dir, fs::Permissions::from_mode((mode & 0o7777) | 0o001))
                .map_err(path_err("cannot change permissions of", dir))?;
        }
    }

    for (path, recursive) in [(data_dir, true), (socket_dir, false), (log_file, false)] {
        let meta = fs::metadata(path).map_err(path_err("cannot read", path))?;
        if meta.uid() != owner.uid || meta.gid() != owner.gid {
            let mut args: Vec<OsString> = Vec::new();
            if recursive {
                args.push("-R".into());
            }
            args.push(format!("{}:{}", owner.uid, owner.gid).into());
            args.push(path.into());
            let output = Runner::direct().output(&which("chown").unwrap_or_else(|| "chown".into()), &args).await?;
            if !output.status.success() {
                return Err(command_failed(&output.display, &output, None));
            }
        }
    }
    Ok(())
}

fn validate_database_name(name: &str) -> Result<()> {
    let problem = if name.is_empty() {
        Some("is empty")
    } else if name.len() > 63 {
        Some("is longer than 63 bytes")
    } else if name.starts_with('-') {
        Some("starts with '-'")
    } else if name.contains('\0') || name.contains('/') {
        Some("contains '/' or a NUL byte")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(LocalPostgresError::Command {
            command: "createdb".to_owned(),
            detail: format!("database name {name:?} {problem}"),
        }),
        None => Ok(()),
    }
}

/// What `/proc` says about the process named in `postmaster.pid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProcessState {
    Gone,
    Zombie,
    Postgres,
    Other,
    /// No `/proc` to look at: trust `pg_ctl status`.
    Unknown,
}

fn process_state(pid: u32) -> ProcessState {
    if !Path::new("/proc/self/stat").exists() {
        return ProcessState::Unknown;
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => parse_proc_stat(&stat),
        Err(_) => ProcessState::Gone,
    }
}

/// `/proc/<pid>/stat` is `<pid> (<comm>) <state> ...`.
fn parse_proc_stat(stat: &str) -> ProcessState {
    let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
        return ProcessState::Unknown;
    };
    let comm = &stat[open + 1..close];
    let state = stat[close + 1..].trim_start().chars().next();
    match state {
        Some('Z') | Some('X') | Some('x') => ProcessState::Zombie,
        _ if comm == "postgres" || comm == "postmaster" => ProcessState::Postgres,
        _ => ProcessState::Other,
    }
}

/// Whether something accepts TCP connections on `127.0.0.1:port`.
async fn accepts_connections(port: u16) -> bool {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    tokio::task::spawn_blocking(move || std::net::TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_ok())
        .await
        .unwrap_or(false)
}

/// Fields of `postmaster.pid` we care about.
#[derive(Debug, Default, PartialEq, Eq)]
struct PostmasterPid {
    pid: Option<u32>,
    port: Option<u16>,
    status: Option<String>,
}

/// Lines: 1 pid, 2 data dir, 3 start time, 4 port, 5 socket dir,
/// 6 listen address, 7 shared memory key, 8 status (`starting`, `ready`, ...).
fn parse_postmaster_pid(contents: &str) -> PostmasterPid {
    let lines: Vec<&str> = contents.lines().map(str::trim).collect();
    PostmasterPid {
        pid: lines.first().and_then(|l| l.parse().ok()),
        port: lines.get(3).and_then(|l| l.parse().ok()),
        status: lines.get(7).filter(|l| !l.is_empty()).map(|l| (*l).to_owned()),
    }
}

/// Single-quotes `s` for /bin/sh.
fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c)) {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Joins the non-empty lines of `text` into one line.
fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" | ")
}

fn command_failed(display: &str, output: &CommandOutput, log_file: Option<&Path>) -> LocalPostgresError {
    let mut detail =
        one_line(&format!("{}\n{}", String::from_utf8_lossy(&output.stderr), String::from_utf8_lossy(&output.stdout)));
    if detail.is_empty() {
        detail = format!("exited with {}", output.status);
    }
    if let Some(log_file) = log_file {
        let tail = fs::read_to_string(log_file)
            .map(|log| {
                let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
                lines[lines.len().saturating_sub(5)..].join(" | ")
            })
            .unwrap_or_default();
        if tail.is_empty() {
            detail = format!("{detail} (see {})", log_file.display());
        } else {
            detail = format!("{detail}; last lines of {}: {tail}", log_file.display());
        }
    }
    LocalPostgresError::Command { command: display.to_owned(), detail }
}

/// The unprivileged user that owns the cluster when we run as root.
#[derive(Debug, Clone)]
struct ClusterUser {
    name: String,
    uid: u32,
    gid: u32,
    /// `runuser` if available, else `su`.
    switch: SwitchUser,
}

#[derive(Debug, Clone)]
enum SwitchUser {
    Runuser(PathBuf),
    Su(PathBuf),
}

struct CommandOutput {
    display: String,
    status: std::process::ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Runs commands either directly or, when we are root, as the cluster user.
#[derive(Debug, Clone)]
struct Runner {
    user: Option<ClusterUser>,
}

impl Runner {
    fn direct() -> Self {
        Self { user: None }
    }

    /// Root runs the cluster as `postgres` (or `nobody`); others run it as themselves.
    async fn detect() -> Result<Self> {
        let root = match id(&["-u"]).await {
            Some(uid) => uid == 0,
            None => std::env::var("USER").is_ok_and(|u| u == "root"),
        };
        if !root {
            return Ok(Self::direct());
        }
        let switch = if let Some(runuser) = which("runuser") {
            SwitchUser::Runuser(runuser)
        } else if let Some(su) = which("su") {
            SwitchUser::Su(su)
        } else {
            return Err(LocalPostgresError::Command {
                command: "runuser".to_owned(),
                detail:
                    "running as root, but neither runuser nor su is available to run PostgreSQL as an unprivileged user"
                        .to_owned(),
            });
        };
        for name in ["postgres", "nobody"] {
            if let (Some(uid), Some(gid)) = (id(&["-u", name]).await, id(&["-g", name]).await) {
                tracing::info!(
                    user = name,
                    "running as root: the private PostgreSQL cluster runs as an unprivileged user"
                );
                return Ok(Self { user: Some(ClusterUser { name: name.to_owned(), uid, gid, switch }) });
            }
        }
        Err(LocalPostgresError::Command {
            command: "id postgres".to_owned(),
            detail: "running as root, but neither a `postgres` nor a `nobody` user exists to run PostgreSQL".to_owned(),
        })
    }

    async fn output(&self, program: &Path, args: &[OsString]) -> Result<CommandOutput> {
        let shown = std::iter::once(program.as_os_str())
            .chain(args.iter().map(OsString::as_os_str))
            .map(|a| shell_quote(&a.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ");
        let mut command = match &self.user {
            None => {
                let mut c = Command::new(program);
                c.args(args);
                c
            }
            Some(user) => match &user.switch {
                SwitchUser::Runuser(runuser) => {
                    let mut c = Command::new(runuser);
                    c.arg("-u").arg(&user.name).arg("--").arg(program).args(args);
                    c
                }
                SwitchUser::Su(su) => {
                    let mut c = Command::new(su);
                    c.arg("-s").arg("/bin/sh").arg(&user.name).arg("-c").arg(&shown);
                    c
                }
            },
        };
        // The unprivileged user may not be able to enter our current directory.
        command
            .current_dir("/")
            .env("LC_ALL", "C")
            .env_remove("PGSSLMODE")
            .env_remove("PGSERVICE")
            .env_remove("PGOPTIONS")
            .env_remove("PGTARGETSESSIONATTRS")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(false);
        let output = command.output().await.map_err(|e| LocalPostgresError::Command {
            command: shown.clone(),
            detail: format!("could not run it: {e}"),
        })?;
        tracing::debug!(command = %shown, status = %output.status, "ran PostgreSQL helper");
        Ok(CommandOutput { display: shown, status: output.status, stdout: output.stdout, stderr: output.stderr })
    }
}

/// Runs `id <args>` and parses the number it prints.
async fn id(args: &[&str]) -> Option<u32> {
    let output = Command::new("id").args(args).stdin(Stdio::null()).stderr(Stdio::null()).output().await.ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8_lossy(&output.stdout).trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn scratch_dir() -> PathBuf {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "local-postgres-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn fake_bin(dir: &Path, names: &[&str]) {
        fs::create_dir_all(dir).unwrap();
        for name in names {
            let path = dir.join(name);
            fs::write(&path, "#!/bin/sh\n").unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    #[test]
    fn nothing_found_is_not_installed() {
        let root = scratch_dir();
        let empty = root.join("empty");
        fs::create_dir_all(&empty).unwrap();
        let missing_root = root.join("no-such-versions-root");
        assert_eq!(find_bin_dir(None, None, &missing_root), None);
        assert_eq!(find_bin_dir(Some(OsStr::new("/nonexistent")), Some(empty.as_os_str()), &missing_root), None);
        assert_eq!(find_bin_dir(Some(OsStr::new("")), Some(OsStr::new("")), &empty), None);
        // Only initdb, no pg_ctl: not enough.
        fake_bin(&root.join("half"), &["initdb"]);
        assert_eq!(find_bin_dir(None, Some(root.join("half").as_os_str()), &missing_root), None);
        let message = LocalPostgresError::NotInstalled.to_string();
        assert!(!message.contains('\n'));
        assert!(message.contains("DATABASE_URL"));
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn pg_bin_dir_wins_then_path_then_highest_version() {
        let root = scratch_dir();
        let versions = root.join("versions");
        fake_bin(&versions.join("9.6/bin"), &["pg_ctl", "initdb"]);
        fake_bin(&versions.join("12/bin"), &["pg_ctl", "initdb"]);
        fake_bin(&versions.join("15/bin"), &["pg_ctl", "initdb"]);
        fake_bin(&versions.join("17/bin"), &["psql"]); // client only: ignored
        fs::create_dir_all(versions.join("not-a-version/bin")).unwrap();
        let versions = fs::canonicalize(&versions).unwrap();

        assert_eq!(find_bin_dir(None, None, &versions), Some(versions.join("15/bin")));

        let custom = root.join("custom");
        fake_bin(&custom, &["pg_ctl", "initdb"]);
        let custom = fs::canonicalize(&custom).unwrap();
        assert_eq!(find_bin_dir(Some(custom.as_os_str()), None, &versions), Some(custom.clone()));
        // PG_BIN_DIR without binaries falls through to the next source.
        assert_eq!(find_bin_dir(Some(OsStr::new("/nonexistent")), None, &versions), Some(versions.join("15/bin")));

        // PATH entry with symlinks resolves to the real bin dir.
        let links = root.join("links");
        fs::create_dir_all(&links).unwrap();
        std::os::unix::fs::symlink(versions.join("12/bin/pg_ctl"), links.join("pg_ctl")).unwrap();
        std::os::unix::fs::symlink(versions.join("12/bin/initdb"), links.join("initdb")).unwrap();
        let path = std::env::join_paths([root.join("nothing-here"), links.clone()]).unwrap();
        assert_eq!(find_bin_dir(None, Some(&path), &versions), Some(versions.join("12/bin")));
        // PG_BIN_DIR beats PATH.
        assert_eq!(find_bin_dir(Some(custom.as_os_str()), Some(&path), &versions), Some(custom));
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("15"), Some(vec![15]));
        assert_eq!(parse_version("9.6"), Some(vec![9, 6]));
        assert_eq!(parse_version("x"), None);
        assert!(parse_version("9.6") < parse_version("12"));
        assert_eq!(parse_pg_ctl_version("pg_ctl (PostgreSQL) 15.13 (Debian 15.13-0+deb12u1)\n"), Some("15".to_owned()));
        assert_eq!(parse_pg_ctl_version("pg_ctl (PostgreSQL) 9.6.24\n"), Some("9.6".to_owned()));
        assert_eq!(parse_pg_ctl_version("pg_ctl (PostgreSQL) 17devel\n"), Some("17".to_owned()));
    }

    #[test]
    fn postmaster_pid() {
        let contents = "1234\n/data\n1700000000\n54329\n/run/sock\n127.0.0.1\n  5432001    12\nready   \n";
        assert_eq!(
            parse_postmaster_pid(contents),
            PostmasterPid { pid: Some(1234), port: Some(54329), status: Some("ready".to_owned()) }
        );
        assert_eq!(parse_postmaster_pid("1234\n/data\n").status, None);
    }

    #[test]
    fn proc_stat() {
        assert_eq!(parse_proc_stat("11483 (postgres) S 1 11482 11482 0 -1"), ProcessState::Postgres);
        assert_eq!(parse_proc_stat("11587 (postgres) Z 1 0 0"), ProcessState::Zombie);
        assert_eq!(parse_proc_stat("50 (my (odd) app) R 1 0"), ProcessState::Other);
        assert_eq!(process_state(std::process::id()), ProcessState::Other);
        assert_eq!(process_state(u32::MAX - 1), ProcessState::Gone);
    }

    #[test]
    fn quoting_and_lines() {
        assert_eq!(shell_quote("/usr/lib/postgresql/15/bin/pg_ctl"), "/usr/lib/postgresql/15/bin/pg_ctl");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(one_line("a\n\n  b \n"), "a | b");
    }

    #[test]
    fn socket_dir_falls_back_when_too_long() {
        let short = socket_dir_for(Path::new("/work/.data"), "postgres", 54329);
        assert_eq!(short, PathBuf::from("/work/.data/postgres-socket"));
        let long_parent = PathBuf::from(format!("/{}", "x".repeat(120)));
        let long = socket_dir_for(&long_parent, "postgres", 54329);
        assert!(long.starts_with(std::env::temp_dir()));
    }

    #[test]
    fn database_names() {
        assert!(validate_database_name("runtime_platform").is_ok());
        assert!(validate_database_name("").is_err());
        assert!(validate_database_name("-x").is_err());
        assert!(validate_database_name(&"a".repeat(64)).is_err());
    }

    #[test]
    fn default_options() {
        let options = LocalPostgresOptions::default();
        assert_eq!(options.data_dir, PathBuf::from("./.data/postgres"));
        assert_eq!(options.port, 54329);
        assert_eq!(options.database, "runtime_platform");
    }
}
