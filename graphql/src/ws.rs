//! graphql-transport-ws (the `graphql-ws` library's protocol,
//! <https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md>) on axum's websocket,
//! with async-graphql only executing the operations, through
//! [`crate::executor::GuardedSchema`]: every `subscribe` passes the same checkpoints (rate,
//! allow-list, nesting, roles) as an HTTP request, as the caller its `connection_init` named.
//!
//! The rule, as a client sees it:
//! - **Subprotocol**: a client offering `graphql-transport-ws` gets this loop (whatever else it
//!   offers). One offering only the legacy `graphql-ws` (subscriptions-transport-ws) is served
//!   by async-graphql's own implementation (`crate::http`).
//! - **`connection_init`** must arrive within [`WsConfig::init_timeout`], else close
//!   `4408 Connection initialisation timeout`. A second one (even while the first is being
//!   checked) closes `4429 Too many initialisation requests`. Its payload is the caller's
//!   identity (`crate::request_context::from_init_payload`); a refused one closes
//!   `4403` with the reason `<CODE>: Forbidden: <message>` (e.g. `UNAUTHENTICATED: ...`),
//!   cut to the 123 bytes a close frame holds.
//! - **Connections per actor**: at most [`WsConfig::max_connections_per_actor`] acknowledged
//!   connections of one actor at once, counted in this process. The surplus init is answered
//!   `1013 Try again later` (RFC 6455: the server is overloaded; graphql-ws's client retries it
//!   with backoff), not 4429, which the protocol keeps for a repeated init on one socket.
//! - **`subscribe`** before `connection_ack` closes `4401 Unauthorized`; with an id that is
//!   still active, `4409 Subscriber for <id> already exists`. Beyond
//!   [`WsConfig::max_subscriptions_per_connection`] active operations, the new one gets an
//!   `error` message coded `TOO_MANY_SUBSCRIPTIONS` and the connection stays open.
//! - **Results**: each result is a `next`, and `complete` follows the last (a query or
//!   mutation: one `next`, then `complete`). An operation refused before it ran (parse,
//!   validation, roles, rate, allow-list: a first response with errors, no data and no error
//!   bound to a field, and nothing after it) is one `error` message with the errors, and no
//!   `complete`, as the protocol says. A client's `complete` stops that operation; nothing
//!   more is sent for it (what was already queued may still arrive; clients ignore unknown
//!   ids) and no `complete` answers it.
//! - **Anything unparseable**, a message type the client may not send, a payload of the
//!   wrong shape, or a message over 256 KiB (the HTTP body limit, `crate::http`) closes `4400`
//!   with what was wrong.
//! - **Liveness**: `ping` is answered `pong` with the same payload, at any time. Once
//!   acknowledged, the server sends its own `ping` every [`WsConfig::keepalive`]; when nothing
//!   at all (a `pong` or any other frame) arrives within [`WsConfig::pong_timeout`] of a ping,
//!   the server closes `1001 Pong timeout` and drops the socket without waiting for the close
//!   handshake. Why 1001: the protocol names no code for this (its reference server simply
//!   terminates the TCP connection, which the client sees as 1006), and a dead peer will not
//!   read the frame anyway; what matters is what a live but slow client does with it.
//!   graphql-ws's client gives up for good on 1002/1011 and on 4400/4401/4409/4429/4500,
//!   and reconnects on 1001, 1006, 1012, 1013 and the other 4xxx. 1001 ("going away") is the
//!   standard code it reconnects on whose meaning fits "this server stops talking to you";
//!   4408 would be retried too but means a missing `connection_init`. The reason tells it
//!   apart from the shutdown close.
//! - **Shutdown**: when [`WsConfig::shutdown`] turns true (or its sender is dropped), every
//!   connection is closed `1001 Server shutting down`; [`Connections::closed`] lets the host
//!   wait for those frames to go out (axum's graceful shutdown does not wait for upgraded
//!   connections).
//!
//! Writes never make one operation wait for another: one writer task per connection owns the
//! socket's sink and drains two bounded queues, control frames first (acks, pongs, pings,
//! refusals, the close) and then results; each operation runs in a task of its own and waits
//! only for room in the results queue. A slow socket therefore backs up into the operations'
//! streams (which is how the live feed sees a lagging subscriber), never into the reading of
//! the client's messages. A peer that stops reading altogether until the control queue is
//! full is dropped without a close frame (there is no way to write one).
//!
//! Layout: this file holds the configuration and the connection registry;
//! `protocol` the messages (serde) and the close codes; `connection` the loop, the writer and
//! the operation tasks.

mod connection;
pub mod protocol;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

pub(crate) use connection::serve;

/// How graphql-transport-ws connections are run; [`WsConfig::default`] is what `serve` uses
/// unless told otherwise.
#[derive(Clone)]
pub struct WsConfig {
    /// How long a new socket may wait before its `connection_init` (then close 4408).
    pub init_timeout: Duration,
    /// How often the server pings an acknowledged connection; zero sends no pings (and so
    /// never times a connection out).
    pub keepalive: Duration,
    /// How long after a ping the server waits for any message before closing (1001).
    pub pong_timeout: Duration,
    /// Operations one connection may have active at once; one more gets an `error` message.
    pub max_subscriptions_per_connection: usize,
    /// Acknowledged connections one actor may hold at once in this process; one more is
    /// closed 1013.
    pub max_connections_per_actor: usize,
    /// Turns true when the server stops (a dropped sender counts as true): every connection is
    /// then closed 1001. `None`: connections are never closed for a shutdown.
    pub shutdown: Option<watch::Receiver<bool>>,
    /// The open connections of this server (clones share it): the per-actor limit counts in
    /// it, and the host waits on [`Connections::closed`] at shutdown.
    pub connections: Connections,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            init_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(15),
            pong_timeout: Duration::from_secs(10),
            max_subscriptions_per_connection: 100,
            max_connections_per_actor: 50,
            shutdown: None,
            connections: Connections::default(),
        }
    }
}

impl std::fmt::Debug for WsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsConfig")
            .field("init_timeout", &self.init_timeout)
            .field("keepalive", &self.keepalive)
            .field("pong_timeout", &self.pong_timeout)
            .field("max_subscriptions_per_connection", &self.max_subscriptions_per_connection)
            .field("max_connections_per_actor", &self.max_connections_per_actor)
            .field("shutdown", &self.shutdown.is_some())
            .field("open_connections", &self.connections.open())
            .finish()
    }
}

/// The graphql-transport-ws connections open in this process: how many in all (to wait for
/// them at shutdown) and how many acknowledged ones per actor (for the per-actor limit).
/// Cheap to clone; clones share the counts.
#[derive(Clone)]
pub struct Connections {
    inner: Arc<Registry>,
}

struct Registry {
    /// Acknowledged connections by actor; an actor with none has no entry.
    per_actor: Mutex<HashMap<String, usize>>,
    /// Open sockets, acknowledged or not.
    open: watch::Sender<usize>,
}

impl Default for Connections {
    fn default() -> Self {
        Self { inner: Arc::new(Registry { per_actor: Mutex::default(), open: watch::Sender::new(0) }) }
    }
}

impl Connections {
    /// Sockets open now.
    pub fn open(&self) -> usize {
        *self.inner.open.borrow()
    }

    /// Acknowledged connections of `actor` open now.
    pub fn of_actor(&self, actor: &str) -> usize {
        self.per_actor().get(actor).copied().unwrap_or(0)
    }

    /// Resolves once no socket is open (at once when none is).
    pub async fn closed(&self) {
        let mut open = self.inner.open.subscribe();
        // The sender lives in `self`: this cannot fail.
        let _ = open.wait_for(|n| *n == 0).await;
    }

    /// Counts one open socket until the guard drops.
    fn track(&self) -> OpenSocket {
        self.inner.open.send_modify(|n| *n += 1);
        OpenSocket { connections: self.clone() }
    }

    /// Counts one acknowledged connection of `actor` until the slot drops, unless the actor
    /// already holds `max`.
    fn admit(&self, actor: &str, max: usize) -> Option<ActorSlot> {
        let mut per_actor = self.per_actor();
        let held = per_actor.entry(actor.to_owned()).or_insert(0);
        if *held >= max {
            if *held == 0 {
                per_actor.remove(actor);
            }
            return None;
        }
        *held += 1;
        Some(ActorSlot { connections: self.clone(), actor: actor.to_owned() })
    }

    fn per_actor(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        // A panic while holding this lock leaves plain counts behind: still usable.
        self.inner.per_actor.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One open socket, counted in [`Connections::open`] while it lives.
struct OpenSocket {
    connections: Connections,
}

impl Drop for OpenSocket {
    fn drop(&mut self) {
        self.connections.inner.open.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// One acknowledged connection of an actor, counted while it lives.
struct ActorSlot {
    connections: Connections,
    actor: String,
}

impl Drop for ActorSlot {
    fn drop(&mut self) {
        let mut per_actor = self.connections.per_actor();
        if let Some(held) = per_actor.get_mut(&self.actor) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                per_actor.remove(&self.actor);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_actor_holds_at_most_its_limit_and_a_dropped_slot_frees_one() {
        let connections = Connections::default();
        let first = connections.admit("user:a", 2).expect("first");
        let _second = connections.admit("user:a", 2).expect("second");
        assert!(connections.admit("user:a", 2).is_none(), "third is refused");
        assert!(connections.admit("user:b", 2).is_some(), "another actor has its own count");
        drop(first);
        assert_eq!(connections.of_actor("user:a"), 1);
        assert!(connections.admit("user:a", 2).is_some(), "a freed slot is taken again");
        assert!(connections.admit("user:c", 0).is_none(), "a zero limit admits no one");
        assert_eq!(connections.of_actor("user:c"), 0);
    }

    #[tokio::test]
    async fn closed_resolves_when_the_last_socket_is_gone() {
        let connections = Connections::default();
        connections.closed().await;
        let socket = connections.track();
        assert_eq!(connections.open(), 1);
        let waiting = tokio::spawn({
            let connections = connections.clone();
            async move { connections.closed().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(socket);
        tokio::time::timeout(Duration::from_secs(1), waiting).await.expect("resolved").unwrap();
    }
}
