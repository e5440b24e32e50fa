//! One graphql-transport-ws connection (the rule is in the parent module's doc).
//!
//! Three kinds of task per socket:
//! - the **loop** ([`Connection::run`]): reads the client's messages, keeps the timers (init,
//!   keepalive, pong, shutdown), owns the connection's state and the table of active
//!   operations, and never waits for the socket: what it sends goes to the control queue with
//!   `try_send`;
//! - the **writer** ([`write`]): owns the sink, drains the control queue before the results
//!   queue, and writes the close frame last;
//! - one task per **operation** ([`operation`]): runs the GraphQL stream and waits for room in
//!   the results queue, so a slow socket slows the streams, not the loop or one another.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Data, Executor, Response, ServerError};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use commands::RequestContext;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, watch};
use tokio::task::{AbortHandle, JoinError, JoinSet};
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tracing::Instrument;

use super::protocol::{ClientMessage, Close, OperationId, ServerMessage, SubscribePayload};
use super::{ActorSlot, WsConfig};
use crate::error::ApiError;
use crate::executor::{to_server_error, GuardedSchema};
use crate::request_context::{self, Authentication};

/// Control frames (acks, pongs, pings, refusals, the close) waiting for the socket. A peer
/// that leaves this many unread is dropped.
const CONTROL_QUEUE: usize = 32;
/// Results of all the connection's operations waiting for the socket; when full, the
/// operations wait.
const RESULT_QUEUE: usize = 64;
/// How long the close frame may take to go out, and then how long the peer's answering close
/// is waited for, before the socket is dropped.
const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// The code of the `error` sent for an operation beyond the per-connection limit.
pub const TOO_MANY_SUBSCRIPTIONS: &str = "TOO_MANY_SUBSCRIPTIONS";

/// Serves one upgraded socket until it closes.
pub(crate) async fn serve(socket: WebSocket, schema: GuardedSchema, auth: Authentication, config: WsConfig) {
    let span = tracing::info_span!("graphql_ws", actor = tracing::field::Empty, trace_id = tracing::field::Empty);
    serve_socket(socket, schema, auth, config).instrument(span).await;
}

async fn serve_socket(socket: WebSocket, schema: GuardedSchema, auth: Authentication, config: WsConfig) {
    let _open = config.connections.track();
    let (sink, mut incoming) = socket.split();
    let (control, control_rx) = mpsc::channel(CONTROL_QUEUE);
    let (results, results_rx) = mpsc::channel(RESULT_QUEUE);
    let mut writer = tokio::spawn(write(sink, control_rx, results_rx).in_current_span());
    let mut connection = Connection {
        schema,
        auth,
        config,
        control,
        results,
        phase: Phase::AwaitingInit,
        active: HashMap::new(),
        tasks: JoinSet::new(),
        keepalive: None,
        pong_deadline: None,
    };
    let ending = connection.run(&mut incoming).await;
    let Connection { control, results, mut tasks, .. } = connection;
    // Nothing more is produced for the client.
    tasks.shutdown().await;
    drop(results);
    let closing = match ending {
        Ending::Close(close) => {
            tracing::debug!(code = close.code, reason = %close.reason, "closing the connection");
            control.try_send(Outgoing::Close(close)).is_ok()
        }
        Ending::Gone => false,
        Ending::Stuck => {
            tracing::debug!("the peer reads nothing; dropping the connection");
            writer.abort();
            false
        }
    };
    drop(control);
    // The close frame goes out (or the writer flushes what the peer's close asks for), then the
    // peer's own close is read, so the socket is not reset under the frame; all bounded.
    if tokio::time::timeout(CLOSE_LINGER, &mut writer).await.is_err() {
        writer.abort();
    }
    if closing {
        let _ = tokio::time::timeout(CLOSE_LINGER, async {
            while let Some(Ok(frame)) = incoming.next().await {
                if matches!(frame, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

/// What the writer is given.
enum Outgoing {
    Frame(Message),
    Close(Close),
}

/// Why the loop ended.
enum Ending {
    /// Say why in a close frame.
    Close(Close),
    /// The peer closed, or the socket failed: nothing more to say.
    Gone,
    /// The peer reads nothing: no frame can be written.
    Stuck,
}

/// The identity check of a `connection_init` under way.
type Init = Pin<Box<dyn Future<Output = Result<RequestContext, ApiError>> + Send>>;

enum Phase {
    /// No `connection_init` yet.
    AwaitingInit,
    /// The init payload is being checked.
    Initialising(Init),
    /// Acknowledged.
    Ready {
        /// The session data every operation runs with: the caller's `RequestContext`.
        data: Arc<Data>,
        trace_id: String,
        /// Counts this connection against the actor's limit while it lives.
        _slot: ActorSlot,
    },
}

/// An operation that has not ended, as far as the client knows.
struct Active {
    task: tokio::task::Id,
    abort: AbortHandle,
    /// Set by the task before it queues its last message (`complete` or `error`): from then
    /// on the id is free again, even if the task has not been reaped yet.
    done: Arc<AtomicBool>,
}

/// What woke the loop.
enum Step {
    Frame(Option<Result<Message, axum::Error>>),
    Initialised(Result<RequestContext, ApiError>),
    Joined(Result<(tokio::task::Id, ()), JoinError>),
    Ping,
    End(Ending),
}

struct Connection {
    schema: GuardedSchema,
    auth: Authentication,
    config: WsConfig,
    control: mpsc::Sender<Outgoing>,
    results: mpsc::Sender<Message>,
    phase: Phase,
    active: HashMap<OperationId, Active>,
    tasks: JoinSet<()>,
    keepalive: Option<Interval>,
    pong_deadline: Option<Instant>,
}

impl Connection {
    async fn run(&mut self, incoming: &mut SplitStream<WebSocket>) -> Ending {
        let init_deadline = Instant::now() + self.config.init_timeout;
        let mut shutdown = self.config.shutdown.clone();
        loop {
            let awaiting = matches!(self.phase, Phase::AwaitingInit);
            let initialising = matches!(self.phase, Phase::Initialising(_));
            let reaping = !self.tasks.is_empty();
            let pong_deadline = self.pong_deadline;
            // Timers a busy client could otherwise starve come before its messages; the pong
            // deadline after them, since any message meets it.
            let step = tokio::select! {
                biased;
                () = shut_down(&mut shutdown) => Step::End(Ending::Close(Close::shutting_down())),
                () = tokio::time::sleep_until(init_deadline), if awaiting => {
                    Step::End(Ending::Close(Close::init_timeout()))
                }
                frame = incoming.next() => Step::Frame(frame),
                () = until(pong_deadline) => Step::End(Ending::Close(Close::pong_timeout())),
                identity = initialised(&mut self.phase), if initialising => Step::Initialised(identity),
                Some(joined) = self.tasks.join_next_with_id(), if reaping => Step::Joined(joined),
                () = tick(&mut self.keepalive) => Step::Ping,
            };
            let outcome = match step {
                Step::Frame(frame) => self.on_frame(frame),
                Step::Initialised(identity) => self.on_initialised(identity),
                Step::Joined(joined) => self.on_joined(joined),
                Step::Ping => self.ping(),
                Step::End(ending) => Err(ending),
            };
            if let Err(ending) = outcome {
                return ending;
            }
        }
    }

    fn on_frame(&mut self, frame: Option<Result<Message, axum::Error>>) -> Result<(), Ending> {
        let message = match frame {
            None => return Err(Ending::Gone),
            Some(Err(e)) => return Err(Ending::Close(Close::bad_request(format!("Unreadable message: {e}")))),
            Some(Ok(message)) => message,
        };
        // Any frame shows the peer is alive.
        self.pong_deadline = None;
        match message {
            Message::Text(text) => self.on_message(text.as_str()),
            Message::Binary(bytes) => match std::str::from_utf8(&bytes) {
                Ok(text) => self.on_message(text),
                Err(_) => Err(Ending::Close(Close::bad_request("Invalid message received: not UTF-8 text"))),
            },
            Message::Ping(_) | Message::Pong(_) => Ok(()),
            Message::Close(_) => Err(Ending::Gone),
        }
    }

    fn on_message(&mut self, text: &str) -> Result<(), Ending> {
        let message = ClientMessage::parse(text).map_err(|why| Ending::Close(Close::bad_request(why)))?;
        match message {
            ClientMessage::ConnectionInit { payload } => {
                if !matches!(self.phase, Phase::AwaitingInit) {
                    return Err(Ending::Close(Close::too_many_inits()));
                }
                let auth = self.auth.clone();
                let payload = serde_json::Value::Object(payload.unwrap_or_default());
                let init = async move { request_context::from_init_payload(&auth, &payload).await };
                self.phase = Phase::Initialising(Box::pin(init));
                Ok(())
            }
            ClientMessage::Ping { payload } => self.send_control(&ServerMessage::Pong { payload }),
            ClientMessage::Pong { .. } => Ok(()),
            ClientMessage::Subscribe { id, payload } => self.subscribe(id, payload),
            ClientMessage::Complete { id } => {
                // An unknown or finished id is not an error: the client may race the server.
                if let Some(active) = self.active.remove(&id) {
                    active.abort.abort();
                }
                Ok(())
            }
        }
    }

    fn on_initialised(&mut self, identity: Result<RequestContext, ApiError>) -> Result<(), Ending> {
        let ctx = match identity {
            Ok(ctx) => ctx,
            Err(err) => {
                tracing::debug!(code = err.code(), error = %err, "connection_init refused");
                return Err(Ending::Close(Close::forbidden(err.code(), &err.to_string())));
            }
        };
        let actor = ctx.actor.to_string();
        let span = tracing::Span::current();
        span.record("actor", actor.as_str());
        span.record("trace_id", ctx.trace_id.as_str());
        let Some(slot) = self.config.connections.admit(&actor, self.config.max_connections_per_actor) else {
            tracing::info!(limit = self.config.max_connections_per_actor, "too many connections for this actor");
            return Err(Ending::Close(Close::too_many_connections()));
        };
        let trace_id = ctx.trace_id.to_string();
        let mut data = Data::default();
        data.insert(ctx);
        self.phase = Phase::Ready { data: Arc::new(data), trace_id, _slot: slot };
        let every = self.config.keepalive;
        self.keepalive = (!every.is_zero()).then(|| {
            let mut interval = tokio::time::interval_at(Instant::now() + every, every);
            interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
            interval
        });
        self.send_control(&ServerMessage::ConnectionAck)
    }

    fn subscribe(&mut self, id: OperationId, payload: SubscribePayload) -> Result<(), Ending> {
        let Phase::Ready { data, trace_id, .. } = &self.phase else {
            return Err(Ending::Close(Close::unauthorized()));
        };
        self.active.retain(|_, active| !active.done.load(Ordering::SeqCst));
        if self.active.contains_key(&id) {
            return Err(Ending::Close(Close::subscriber_exists(&id)));
        }
        let request = payload.into_request().map_err(|why| Ending::Close(Close::bad_request(why)))?;
        let limit = self.config.max_subscriptions_per_connection;
        if self.active.len() >= limit {
            let refused = ApiError::Refused {
                code: TOO_MANY_SUBSCRIPTIONS,
                message: format!("a connection runs at most {limit} operations at once; complete one first"),
            };
            let errors = [to_server_error(&refused)];
            return self.send_control(&ServerMessage::Error { id: id.as_str(), payload: &errors });
        }
        let done = Arc::new(AtomicBool::new(false));
        let task = operation(
            self.schema.clone(),
            request,
            Arc::clone(data),
            trace_id.clone(),
            id.clone(),
            self.results.clone(),
            Arc::clone(&done),
        );
        let abort = self.tasks.spawn(task.instrument(tracing::debug_span!("operation", id = %id)));
        self.active.insert(id, Active { task: abort.id(), abort, done });
        Ok(())
    }

    /// Forgets a finished operation task; one that panicked gets an `error` for its id.
    fn on_joined(&mut self, joined: Result<(tokio::task::Id, ()), JoinError>) -> Result<(), Ending> {
        let task = match &joined {
            Ok((task, ())) => *task,
            Err(err) => err.id(),
        };
        let Some(id) = self.active.iter().find(|(_, active)| active.task == task).map(|(id, _)| id.clone()) else {
            return Ok(());
        };
        self.active.remove(&id);
        match joined {
            Err(err) if err.is_panic() => {
                let trace_id = match &self.phase {
                    Phase::Ready { trace_id, .. } => trace_id.as_str(),
                    _ => "",
                };
                let errors = [to_server_error(&ApiError::internal(trace_id, "a websocket operation panicked"))];
                self.send_control(&ServerMessage::Error { id: id.as_str(), payload: &errors })
            }
            _ => Ok(()),
        }
    }

    fn ping(&mut self) -> Result<(), Ending> {
        self.send_control(&ServerMessage::Ping)?;
        if self.pong_deadline.is_none() {
            self.pong_deadline = Some(Instant::now() + self.config.pong_timeout);
        }
        Ok(())
    }

    /// Queues a control message without waiting: a full queue means the peer reads nothing.
    fn send_control(&self, message: &ServerMessage<'_>) -> Result<(), Ending> {
        let text = message.to_text().map_err(|e| {
            tracing::error!(error = %e, "a control message did not serialize");
            Ending::Gone
        })?;
        match self.control.try_send(Outgoing::Frame(Message::Text(text.into()))) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(Ending::Stuck),
            Err(TrySendError::Closed(_)) => Err(Ending::Gone),
        }
    }
}

/// Resolves when the server stops (the flag turns true or its sender is gone); never without a
/// flag.
async fn shut_down(shutdown: &mut Option<watch::Receiver<bool>>) {
    match shutdown {
        Some(flag) => {
            let _ = flag.wait_for(|stop| *stop).await;
        }
        None => std::future::pending().await,
    }
}

/// Resolves at `deadline`; never without one.
async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The next keepalive tick; never without keepalive.
async fn tick(keepalive: &mut Option<Interval>) {
    match keepalive {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// The outcome of the identity check under way; never without one.
async fn initialised(phase: &mut Phase) -> Result<RequestContext, ApiError> {
    match phase {
        Phase::Initialising(init) => init.await,
        _ => std::future::pending().await,
    }
}

/// Runs one operation: its results as `next`, then `complete`; or, refused before it ran,
/// one `error`.
async fn operation(
    schema: GuardedSchema,
    request: async_graphql::Request,
    data: Arc<Data>,
    trace_id: String,
    id: OperationId,
    out: mpsc::Sender<Message>,
    done: Arc<AtomicBool>,
) {
    let id = id.as_str();
    let mut stream = Executor::execute_stream(&schema, request, Some(data));
    // A first response that looks refused is held until the stream says whether it was the
    // only one.
    let mut held: Option<Response> = None;
    let mut first = true;
    while let Some(response) = stream.next().await {
        if std::mem::take(&mut first) && crate::http::refused_before_execution(&response) {
            held = Some(response);
            continue;
        }
        if let Some(earlier) = held.take() {
            if !send(&out, &ServerMessage::Next { id, payload: &earlier }, &trace_id).await {
                return;
            }
        }
        if !send(&out, &ServerMessage::Next { id, payload: &response }, &trace_id).await {
            return;
        }
    }
    done.store(true, Ordering::SeqCst);
    let last = match &held {
        Some(refused) => ServerMessage::Error { id, payload: &refused.errors },
        None => ServerMessage::Complete { id },
    };
    send(&out, &last, &trace_id).await;
}

/// Queues `message`, waiting for room; false once the writer is gone. A message that does not
/// serialize is replaced by an `INTERNAL` error for its operation.
async fn send(out: &mpsc::Sender<Message>, message: &ServerMessage<'_>, trace_id: &str) -> bool {
    let text = match message.to_text() {
        Ok(text) => text,
        Err(e) => {
            let id = match message {
                ServerMessage::Next { id, .. } | ServerMessage::Error { id, .. } | ServerMessage::Complete { id } => id,
                _ => "",
            };
            let errors: [ServerError; 1] = [to_server_error(&ApiError::internal(trace_id, e))];
            match (ServerMessage::Error { id, payload: &errors }).to_text() {
                Ok(text) => text,
                Err(_) => return false,
            }
        }
    };
    out.send(Message::Text(text.into())).await.is_ok()
}

/// Owns the sink: control frames first, then results; the close frame ends it.
async fn write(
    mut sink: SplitSink<WebSocket, Message>,
    mut control: mpsc::Receiver<Outgoing>,
    mut results: mpsc::Receiver<Message>,
) {
    loop {
        let next = tokio::select! {
            biased;
            Some(outgoing) = control.recv() => outgoing,
            Some(frame) = results.recv() => Outgoing::Frame(frame),
            else => break,
        };
        match next {
            Outgoing::Frame(frame) => {
                if sink.feed(frame).await.is_err() {
                    return;
                }
                // Flush once the queues are drained: a burst goes out in few writes.
                if control.is_empty() && results.is_empty() && sink.flush().await.is_err() {
                    return;
                }
            }
            Outgoing::Close(close) => {
                let frame = CloseFrame { code: close.code, reason: close.reason.into() };
                let _ = sink.send(Message::Close(Some(frame))).await;
                return;
            }
        }
    }
    // The loop ended without a close of ours (the peer closed): flush what its close asks for.
    let _ = sink.close().await;
}
