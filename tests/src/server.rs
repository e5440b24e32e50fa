//! The release server as a child process, for tests and benchmarks that must measure what
//! users run: `runtime-platform serve` built in release mode, on loopback ports, over a given
//! database, in development mode (identity from headers), killed when dropped.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long the server may take to answer `/readyz` with 200.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// Writes one line to stderr bypassing the test harness's capture, so the CI log shows the
/// build time even when the test passes without `--nocapture`.
fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "server: {line}");
}

/// Runs `cargo build --release` for the server binary and returns the binary's path (read from
/// cargo's JSON messages, so `CARGO_TARGET_DIR` and `build.target-dir` are honoured).
pub fn build_release_binary() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let started = Instant::now();
    // Diagnostics and progress go to our stderr as usual; stdout carries one JSON message a line.
    let output = Command::new(cargo)
        .current_dir(root)
        .args(["build", "--release", "-p", "infra", "--bin", "runtime-platform"])
        .arg("--message-format=json-render-diagnostics")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo build --release");
    assert!(output.status.success(), "cargo build --release -p infra --bin runtime-platform failed: {}", output.status);
    report(&format!("cargo build --release -p infra --bin runtime-platform took {:.1?}", started.elapsed()));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "runtime-platform")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo reported no runtime-platform executable")
}

/// A free loopback port (bound, read, released).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

/// The `runtime-platform serve` child process; killed (and reaped) on every exit path.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>/graphql`.
    pub graphql: String,
    /// `http://127.0.0.1:<ops port>/readyz`.
    pub readyz: String,
    /// `http://127.0.0.1:<ops port>/metrics`.
    pub metrics: String,
    /// The API listener's address.
    pub api: std::net::SocketAddr,
}

impl Server {
    /// Starts `binary serve` over `database_url` in development mode (no `APP_*` variable but
    /// the listeners and none of `APP_AUTH_*`; no `OTEL_*` variable), on two free loopback ports.
    pub fn start(binary: &PathBuf, database_url: &str) -> Self {
        Self::start_with(binary, database_url, &[])
    }

    /// Like [`Server::start`], with extra environment variables (e.g. `APP_*` limits, `OTEL_*`,
    /// `RUST_LOG`), which win over the defaults.
    pub fn start_with(binary: &PathBuf, database_url: &str, env: &[(&str, &str)]) -> Self {
        let (api, ops) = (free_port(), free_port());
        let mut command = Command::new(binary);
        command.arg("serve");
        // The test's own settings only: an `OTEL_*` variable of the machine would make every
        // server export its spans somewhere.
        for (key, _) in std::env::vars_os() {
            let name = key.to_string_lossy();
            if name.starts_with("APP_") || name.starts_with("OTEL_") {
                command.env_remove(key);
            }
        }
        command
            .env("DATABASE_URL", database_url)
            .env("APP_LISTEN", format!("127.0.0.1:{api}"))
            .env("APP_OPS_LISTEN", format!("127.0.0.1:{ops}"))
            .env("RUST_LOG", "warn");
        // After the defaults, so a caller can change them (e.g. `RUST_LOG`).
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command
            .stdin(Stdio::null())
            // Inherited: a stack overflow's "has overflowed its stack" lands in the test's log.
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start runtime-platform serve");
        Self {
            child,
            graphql: format!("http://127.0.0.1:{api}/graphql"),
            readyz: format!("http://127.0.0.1:{ops}/readyz"),
            metrics: format!("http://127.0.0.1:{ops}/metrics"),
            api: std::net::SocketAddr::from(([127, 0, 0, 1], api)),
        }
    }

    /// The process id (replica names are `host:pid:suffix`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -TERM`: asks the process to stop gracefully (as Kubernetes and systemd do).
    pub fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("run kill");
        assert!(status.success(), "kill -TERM {} failed: {status}", self.child.id());
    }

    /// `kill -9`: the process ends at once, without releasing anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `None` while the process runs, else how it ended.
    /// The exit status, once the process ended.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(None) => None,
            Ok(Some(status)) => Some(status.to_string()),
            Err(e) => Some(format!("unknown ({e})")),
        }
    }

    /// Polls `/readyz` until it answers 200, failing if the process ends or [`READY_WITHIN`]
    /// passes.
    /// Waits until `/readyz` answers 200 (panics after 30 s or if the process ends).
    pub async fn wait_ready(&mut self, client: &reqwest::Client) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                panic!("runtime-platform serve ended before it was ready: {status}");
            }
            let ready = client.get(&self.readyz).timeout(Duration::from_secs(2)).send().await;
            if ready.is_ok_and(|r| r.status() == reqwest::StatusCode::OK) {
                report(&format!("server ready after {:.1?}", started.elapsed()));
                return;
            }
            assert!(started.elapsed() < READY_WITHIN, "runtime-platform serve was not ready within {READY_WITHIN:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The process's peak resident set size so far, in KiB (`VmHWM`), if the OS reports it.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Its resident set size now, in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
