//! Subscription root, served over graphql-transport-ws on `/graphql/ws`.

use std::collections::VecDeque;
use std::time::Duration;

use async_graphql::{Context, Subscription};
use commands::{LogPosition, RecordedEvent};
use futures::Stream;

use crate::error::{ApiError, IntoGraphql};
use crate::query::request;
use crate::types::{Event, LogCursor};
use crate::ApiState;

/// The subscription root.
pub struct SubscriptionRoot;

/// How often a live stream looks for events written by other processes.
const POLL: Duration = Duration::from_millis(500);

#[Subscription]
impl SubscriptionRoot {
    /// Live events of the global log after `after` (a log cursor; from the start when absent),
    /// optionally of one aggregate type, in log order and without gaps: the same reader the
    /// projections use.
    async fn log_events(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        aggregate_type: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = Event>> {
        use async_graphql::connection::CursorType;
        let req = request(ctx)?.clone();
        let state = ctx.data_unchecked::<ApiState>().clone();
        let start = match after {
            Some(a) => {
                LogCursor::decode_cursor(&a)
                    .map_err(|_| ApiError::InvalidInput(format!("malformed cursor {a:?}")))
                    .gql()?
                    .0
            }
            None => LogPosition::START,
        };
        let wake = state.bus.subscribe_commits();
        let init = (start, VecDeque::<RecordedEvent>::new(), wake);
        Ok(futures::stream::unfold(init, move |(mut position, mut buffer, mut wake)| {
            let state = state.clone();
            let req = req.clone();
            let aggregate_type = aggregate_type.clone();
            async move {
                loop {
                    if let Some(event) = buffer.pop_front() {
                        return Some((Event(event), (position, buffer, wake)));
                    }
                    let batch = match state.pool.acquire().await {
                        Ok(mut conn) => projections::reader::read_after(&mut conn, position, 200).await,
                        Err(e) => Err(e),
                    };
                    match batch {
                        Ok(events) if !events.is_empty() => {
                            position = events.last().map(RecordedEvent::position).unwrap_or(position);
                            buffer.extend(events.into_iter().filter(|e| {
                                aggregate_type.as_deref().is_none_or(|t| t == e.aggregate_type)
                                    && req.can_see(e.envelope(domain::envelope::keys::TENANT_ID))
                            }));
                        }
                        Ok(_) => {
                            tokio::select! {
                                _ = wake.changed() => {}
                                _ = tokio::time::sleep(POLL) => {}
                            }
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "log subscription read failed; ending the stream");
                            return None;
                        }
                    }
                }
            }
        }))
    }
}
