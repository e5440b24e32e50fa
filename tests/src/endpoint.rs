//! A workload's readiness endpoint for the control loops' tests: `GET /ready` on a loopback
//! port answers 200 while healthy and 503 once turned unhealthy.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::http::StatusCode;

/// The running endpoint.
pub struct Endpoint {
    /// Its loopback port (the contract's probe port).
    pub port: u16,
    /// Whether `/ready` answers 200 (true) or 503.
    pub healthy: Arc<AtomicBool>,
}

impl Endpoint {
    /// Turns it healthy or unhealthy.
    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::SeqCst);
    }
}

/// Starts a healthy endpoint on a free loopback port; it runs until the test's runtime ends.
pub async fn start() -> Endpoint {
    let healthy = Arc::new(AtomicBool::new(true));
    let flag = healthy.clone();
    let app = axum::Router::new().route(
        "/ready",
        axum::routing::get(move || {
            let flag = flag.clone();
            async move {
                if flag.load(Ordering::SeqCst) {
                    (StatusCode::OK, "ready")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "draining")
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
    let port = listener.local_addr().expect("local address").port();
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve the endpoint") });
    Endpoint { port, healthy }
}
