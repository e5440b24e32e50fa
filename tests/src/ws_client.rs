//! A websocket client for the API's tests and benchmarks: serve a router on a loopback port,
//! open a socket with a subprotocol, send JSON, and read what the server sends next (a JSON
//! message, a close frame, or nothing within a bound).

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// A client websocket.
pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Longest a handshake or a send may take.
const WITHIN: Duration = Duration::from_secs(10);

/// Serves `router` on a loopback port; returns its address (the server ends with the runtime).
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// Opens a socket to `path` offering `protocols`; returns it with the subprotocol the server
/// chose.
pub async fn connect(addr: SocketAddr, path: &str, protocols: &str) -> (Socket, Option<String>) {
    let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", protocols.parse().unwrap());
    let (socket, response) = tokio::time::timeout(WITHIN, tokio_tungstenite::connect_async(request))
        .await
        .expect("handshake in time")
        .expect("websocket handshake");
    let chosen = response.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (socket, chosen)
}

/// Opens a graphql-transport-ws socket to `path` (the server must choose that subprotocol).
pub async fn connect_transport_ws(addr: SocketAddr, path: &str) -> Socket {
    let (socket, chosen) = connect(addr, path, "graphql-transport-ws").await;
    assert_eq!(chosen.as_deref(), Some("graphql-transport-ws"), "subprotocol chosen by the server");
    socket
}

/// Sends `message` as a text frame.
pub async fn send(socket: &mut Socket, message: Value) {
    send_text(socket, &message.to_string()).await;
}

/// Sends `text` as a text frame.
pub async fn send_text(socket: &mut Socket, text: &str) {
    tokio::time::timeout(WITHIN, socket.send(Message::text(text))).await.expect("sent in time").unwrap();
}

/// What the server sent next.
#[derive(Debug)]
pub enum Received {
    /// A JSON text message.
    Json(Value),
    /// A close frame (code, reason), or the socket ended without one.
    Closed(Option<(u16, String)>),
    /// Nothing within the bound.
    Nothing,
}

/// The next JSON message or close within `within` (websocket-level pings are skipped).
pub async fn receive(socket: &mut Socket, within: Duration) -> Received {
    let deadline = Instant::now() + within;
    loop {
        let next = match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => return Received::Nothing,
            Ok(None) | Ok(Some(Err(_))) => return Received::Closed(None),
            Ok(Some(Ok(message))) => message,
        };
        match next {
            Message::Text(text) => return Received::Json(serde_json::from_str(text.as_str()).expect("JSON message")),
            Message::Close(frame) => {
                return Received::Closed(frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned())))
            }
            _ => continue,
        }
    }
}
