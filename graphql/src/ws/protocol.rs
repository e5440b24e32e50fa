//! The messages of graphql-transport-ws and the close codes this server uses, as
//! PROTOCOL.md defines them. Parsing is strict: a message that is not one the client may send,
//! with the fields and payload shapes the protocol gives it, is refused (the caller closes
//! 4400 with the returned text).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The subprotocol served by this module.
pub const SUBPROTOCOL: &str = "graphql-transport-ws";
/// The legacy subprotocol (subscriptions-transport-ws), served by async-graphql.
pub const LEGACY_SUBPROTOCOL: &str = "graphql-ws";

/// Longest close reason in bytes: a close frame's payload is at most 125 bytes, two of them
/// the code.
pub const MAX_CLOSE_REASON: usize = 123;

/// A JSON object, the only payload shape the protocol allows besides its absence.
pub type JsonObject = Map<String, Value>;

/// A message from the client.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Asks to open the connection; the payload carries the caller's identity.
    ConnectionInit {
        /// Absent, null or an object.
        #[serde(default)]
        payload: Option<JsonObject>,
    },
    /// Asks for a `pong`.
    Ping {
        /// Echoed in the `pong`.
        #[serde(default)]
        payload: Option<JsonObject>,
    },
    /// Answers a ping (or is a unidirectional heartbeat).
    Pong {
        /// Checked for its shape, otherwise ignored.
        #[serde(default, rename = "payload")]
        _payload: Option<JsonObject>,
    },
    /// Starts an operation.
    Subscribe {
        /// The operation's id on this connection.
        id: OperationId,
        /// The GraphQL request.
        payload: SubscribePayload,
    },
    /// Stops an operation.
    Complete {
        /// The operation's id.
        id: OperationId,
    },
}

impl ClientMessage {
    /// Parses one text frame; `Err` is the reason for closing 4400.
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("Invalid message received: {e}"))
    }
}

/// An operation id: a non-empty string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct OperationId(String);

impl OperationId {
    /// The id as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for OperationId {
    type Error = &'static str;

    fn try_from(id: String) -> Result<Self, Self::Error> {
        if id.is_empty() {
            return Err("an operation id is a non-empty string");
        }
        Ok(Self(id))
    }
}

impl std::fmt::Display for OperationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The GraphQL request of a `subscribe`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribePayload {
    /// The document (may be empty when a persisted query's hash is in `extensions`).
    pub query: String,
    /// Which operation of the document to run.
    #[serde(default)]
    pub operation_name: Option<String>,
    /// The variables.
    #[serde(default)]
    pub variables: Option<JsonObject>,
    /// Request extensions (e.g. `persistedQuery`).
    #[serde(default)]
    pub extensions: Option<JsonObject>,
}

impl SubscribePayload {
    /// The request async-graphql runs; `Err` is the reason for closing 4400.
    pub fn into_request(self) -> Result<async_graphql::Request, String> {
        let request = serde_json::json!({
            "query": self.query,
            "operationName": self.operation_name,
            "variables": self.variables.unwrap_or_default(),
            "extensions": self.extensions.unwrap_or_default(),
        });
        serde_json::from_value(request).map_err(|e| format!("Invalid subscribe payload: {e}"))
    }
}

/// A message from the server.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage<'a> {
    /// The connection is open.
    ConnectionAck,
    /// Asks for a `pong` (keepalive).
    Ping,
    /// Answers a `ping`.
    Pong {
        /// The ping's payload, when it had one.
        #[serde(skip_serializing_if = "Option::is_none")]
        payload: Option<JsonObject>,
    },
    /// One result of an operation.
    Next {
        /// The operation.
        id: &'a str,
        /// The result.
        payload: &'a async_graphql::Response,
    },
    /// The operation failed as a whole; nothing follows for it.
    Error {
        /// The operation.
        id: &'a str,
        /// Why.
        payload: &'a [async_graphql::ServerError],
    },
    /// The operation has no more results.
    Complete {
        /// The operation.
        id: &'a str,
    },
}

impl ServerMessage<'_> {
    /// The message as the text of a frame.
    pub fn to_text(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

/// Why the server closes a connection: the code and the reason of the close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    /// The close code.
    pub code: u16,
    /// At most [`MAX_CLOSE_REASON`] bytes.
    pub reason: String,
}

/// The close codes, with where each comes from.
pub mod code {
    /// RFC 6455 "going away": server shutdown, and a peer that stopped answering pings.
    pub const GOING_AWAY: u16 = 1001;
    /// RFC 6455 "try again later": the actor holds as many connections as it may.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// graphql-transport-ws: an invalid message.
    pub const BAD_REQUEST: u16 = 4400;
    /// graphql-transport-ws: `subscribe` before `connection_ack`.
    pub const UNAUTHORIZED: u16 = 4401;
    /// graphql-transport-ws: the `connection_init` was refused.
    pub const FORBIDDEN: u16 = 4403;
    /// graphql-transport-ws: no `connection_init` in time.
    pub const CONNECTION_INITIALISATION_TIMEOUT: u16 = 4408;
    /// graphql-transport-ws: a `subscribe` with an id that is still active.
    pub const SUBSCRIBER_ALREADY_EXISTS: u16 = 4409;
    /// graphql-transport-ws: a second `connection_init`.
    pub const TOO_MANY_INITIALISATION_REQUESTS: u16 = 4429;
}

impl Close {
    /// A close with `reason` cut to [`MAX_CLOSE_REASON`] bytes on a character boundary.
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        let mut reason = reason.into();
        if reason.len() > MAX_CLOSE_REASON {
            let mut end = MAX_CLOSE_REASON;
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason.truncate(end);
        }
        Self { code, reason }
    }

    /// 4400 with what was wrong.
    pub fn bad_request(why: impl Into<String>) -> Self {
        Self::new(code::BAD_REQUEST, why)
    }

    /// 4401: an operation before the connection was acknowledged.
    pub fn unauthorized() -> Self {
        Self::new(code::UNAUTHORIZED, "Unauthorized")
    }

    /// 4403: the init was refused; the reason starts with the error's stable code.
    pub fn forbidden(error_code: &str, message: &str) -> Self {
        Self::new(code::FORBIDDEN, format!("{error_code}: Forbidden: {message}"))
    }

    /// 4408: no init in time.
    pub fn init_timeout() -> Self {
        Self::new(code::CONNECTION_INITIALISATION_TIMEOUT, "Connection initialisation timeout")
    }

    /// 4409: the id is taken by an active operation.
    pub fn subscriber_exists(id: &OperationId) -> Self {
        Self::new(code::SUBSCRIBER_ALREADY_EXISTS, format!("Subscriber for {id} already exists"))
    }

    /// 4429: a second init.
    pub fn too_many_inits() -> Self {
        Self::new(code::TOO_MANY_INITIALISATION_REQUESTS, "Too many initialisation requests")
    }

    /// 1013: the actor holds its limit of connections.
    pub fn too_many_connections() -> Self {
        Self::new(code::TRY_AGAIN_LATER, "Try again later: too many connections for this caller")
    }

    /// 1001: no answer to a ping in time.
    pub fn pong_timeout() -> Self {
        Self::new(code::GOING_AWAY, "Pong timeout")
    }

    /// 1001: the server stops.
    pub fn shutting_down() -> Self {
        Self::new(code::GOING_AWAY, "Server shutting down")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ClientMessage, String> {
        ClientMessage::parse(text)
    }

    #[test]
    fn parses_each_message_a_client_may_send() {
        assert!(matches!(parse(r#"{"type":"connection_init"}"#), Ok(ClientMessage::ConnectionInit { payload: None })));
        assert!(matches!(
            parse(r#"{"type":"connection_init","payload":null}"#),
            Ok(ClientMessage::ConnectionInit { payload: None })
        ));
        assert!(matches!(
            parse(r#"{"type":"connection_init","payload":{"x-actor":"user:a"}}"#),
            Ok(ClientMessage::ConnectionInit { payload: Some(p) }) if p["x-actor"] == "user:a"
        ));
        assert!(matches!(parse(r#"{"type":"ping","payload":{"n":1}}"#), Ok(ClientMessage::Ping { payload: Some(_) })));
        assert!(matches!(parse(r#"{"type":"pong"}"#), Ok(ClientMessage::Pong { .. })));
        match parse(r#"{"type":"subscribe","id":"1","payload":{"query":"{ a }","variables":null}}"#) {
            Ok(ClientMessage::Subscribe { id, payload }) => {
                assert_eq!(id.as_str(), "1");
                let request = payload.into_request().unwrap();
                assert_eq!(request.query, "{ a }");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse(r#"{"id":"1","type":"complete"}"#), Ok(ClientMessage::Complete { .. })));
    }

    #[test]
    fn refuses_what_the_protocol_does_not_allow() {
        for text in [
            "not json",
            "[]",
            r#"{"payload":{}}"#,
            r#"{"type":"nope"}"#,
            r#"{"type":"connection_ack"}"#,
            r#"{"type":"next","id":"1","payload":{}}"#,
            r#"{"type":"connection_init","payload":"token"}"#,
            r#"{"type":"ping","payload":[1]}"#,
            r#"{"type":"subscribe","id":"1","payload":{}}"#,
            r#"{"type":"subscribe","id":"","payload":{"query":"{ a }"}}"#,
            r#"{"type":"subscribe","id":1,"payload":{"query":"{ a }"}}"#,
            r#"{"type":"subscribe","id":"1","payload":{"query":"{ a }","variables":[1]}}"#,
            r#"{"type":"complete"}"#,
        ] {
            let refused = parse(text);
            assert!(refused.is_err(), "{text} was accepted: {refused:?}");
        }
    }

    #[test]
    fn server_messages_are_what_the_protocol_says() {
        assert_eq!(ServerMessage::ConnectionAck.to_text().unwrap(), r#"{"type":"connection_ack"}"#);
        assert_eq!(ServerMessage::Ping.to_text().unwrap(), r#"{"type":"ping"}"#);
        assert_eq!(ServerMessage::Pong { payload: None }.to_text().unwrap(), r#"{"type":"pong"}"#);
        let payload: JsonObject = serde_json::from_str(r#"{"n":1}"#).unwrap();
        assert_eq!(
            ServerMessage::Pong { payload: Some(payload) }.to_text().unwrap(),
            r#"{"type":"pong","payload":{"n":1}}"#
        );
        assert_eq!(ServerMessage::Complete { id: "7" }.to_text().unwrap(), r#"{"type":"complete","id":"7"}"#);
        let response =
            async_graphql::Response::new(async_graphql::Value::from_json(serde_json::json!({"a": 1})).unwrap());
        assert_eq!(
            ServerMessage::Next { id: "7", payload: &response }.to_text().unwrap(),
            r#"{"type":"next","id":"7","payload":{"data":{"a":1}}}"#
        );
        let errors = [async_graphql::ServerError::new("bad", None)];
        assert_eq!(
            ServerMessage::Error { id: "7", payload: &errors }.to_text().unwrap(),
            r#"{"type":"error","id":"7","payload":[{"message":"bad"}]}"#
        );
    }

    #[test]
    fn close_reasons_fit_a_close_frame() {
        let id = OperationId::try_from("é".repeat(100)).unwrap();
        let close = Close::subscriber_exists(&id);
        assert_eq!(close.code, code::SUBSCRIBER_ALREADY_EXISTS);
        assert!(close.reason.len() <= MAX_CLOSE_REASON, "{}", close.reason.len());
        assert!(close.reason.starts_with("Subscriber for é"));
        let forbidden = Close::forbidden("UNAUTHENTICATED", "no token");
        assert_eq!(forbidden.reason, "UNAUTHENTICATED: Forbidden: no token");
    }
}
