//! Subscription root: live events from this replica's [`LiveFeed`], resumable by cursor.
//!
//! Every subscription takes `after` (a log cursor, as every delivered event carries). It first
//! joins the feed (so nothing committed from then on is missed), then replays the matching
//! events in `(after, the feed's position when it joined]` from the log in pages, then goes on
//! with the feed's queue, skipping anything at or before the last event it delivered: no gap and
//! no duplicate at the seam. Without `after` it starts with what comes next. A subscriber that
//! falls too far behind is ended with an error coded `SUBSCRIBER_LAGGED` whose `resumeAfter`
//! extension is the cursor to subscribe again from; a database failure during the replay ends
//! it the same way (`code: INTERNAL`, same extension).

use std::collections::{BTreeSet, VecDeque};

use async_graphql::{Context, ErrorExtensions, Subscription, ID};
use commands::{LogPosition, RequestContext};
use futures::Stream;
use projections::live::{Filter, LiveEvent, LiveFeed, Subscription as FeedSubscription};

use crate::error::{ApiError, IntoGraphql};
use crate::query::request;
use crate::types::Event;
use crate::ApiState;

/// The subscription root.
pub struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    /// Events of the global log as they commit, optionally only those of one trace, one
    /// aggregate type or one aggregate; replays from `after` first (see the module doc).
    async fn events(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        trace_id: Option<String>,
        aggregate_type: Option<String>,
        aggregate_id: Option<ID>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Event>>> {
        let filter = Filter {
            trace_id,
            aggregate_types: aggregate_type.map(|t| vec![t]),
            aggregate_id: aggregate_id.map(|id| id.to_string()),
            ..Filter::default()
        };
        live(ctx, filter, after).await
    }

    /// Deprecated alias of `events(after, aggregateType)`.
    #[graphql(deprecation = "use `events`")]
    async fn log_events(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        aggregate_type: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Event>>> {
        let filter = Filter { aggregate_types: aggregate_type.map(|t| vec![t]), ..Filter::default() };
        live(ctx, filter, after).await
    }

    /// Health events (probe results, status changes, incidents) of the services watched in an
    /// environment, of one service, or of one tenant's workloads.
    async fn health_changed(
        &self,
        ctx: &Context<'_>,
        environment_id: Option<ID>,
        service_id: Option<ID>,
        tenant_id: Option<String>,
        after: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Event>>> {
        let filter = Filter {
            aggregate_types: Some(vec!["RuntimeHealth".into()]),
            environment_id: environment_id.map(|id| id.to_string()),
            service_id: service_id.map(|id| id.to_string()),
            tenant_id,
            ..Filter::default()
        };
        live(ctx, filter, after).await
    }

    /// Drift findings of an environment as they are detected, remediated, accepted or resolved.
    async fn drift_detected(
        &self,
        ctx: &Context<'_>,
        environment_id: Option<ID>,
        after: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Event>>> {
        let filter = Filter {
            aggregate_types: Some(vec!["DriftFinding".into()]),
            environment_id: environment_id.map(|id| id.to_string()),
            ..Filter::default()
        };
        live(ctx, filter, after).await
    }

    /// The progress of one deployment, or of every deployment of a service and/or into an
    /// environment: start, steps, gates, success, failure, rollback.
    async fn deployment_progress(
        &self,
        ctx: &Context<'_>,
        deployment_id: Option<ID>,
        service_id: Option<ID>,
        environment_id: Option<ID>,
        after: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Event>>> {
        let filter = Filter {
            aggregate_types: Some(vec!["RuntimeDeployment".into()]),
            aggregate_id: deployment_id.map(|id| id.to_string()),
            service_id: service_id.map(|id| id.to_string()),
            environment_id: environment_id.map(|id| id.to_string()),
            ..Filter::default()
        };
        live(ctx, filter, after).await
    }
}

/// Joins the feed with `filter` narrowed to what the caller may see, and returns the stream
/// that replays from `after` and then goes live.
async fn live(
    ctx: &Context<'_>,
    mut filter: Filter,
    after: Option<String>,
) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Event>>> {
    let req: &RequestContext = request(ctx)?;
    let after = match after {
        Some(cursor) => Some(
            LogPosition::from_cursor(&cursor)
                .ok_or_else(|| ApiError::InvalidInput(format!("malformed cursor {cursor:?}")))
                .gql()?,
        ),
        None => None,
    };
    filter.tenants = req.tenant_filter().map(|t| t.into_iter().collect::<BTreeSet<_>>());
    let feed = ctx.data_unchecked::<ApiState>().feed.clone();
    let subscription = feed.subscribe(filter.clone()).await;
    let joined = subscription.registered_at();
    let flow = Flow {
        feed,
        filter,
        replay_from: after.filter(|a| *a < joined),
        last: after.unwrap_or(joined),
        subscription,
        buffer: VecDeque::new(),
        done: false,
    };
    Ok(futures::stream::unfold(flow, Flow::next))
}

/// One subscriber's state: catching up from the log, then following the feed.
struct Flow {
    feed: LiveFeed,
    filter: Filter,
    subscription: FeedSubscription,
    /// Where the next replay page starts; `None` once the replay is over.
    replay_from: Option<LogPosition>,
    /// The last event delivered (or the starting point): nothing at or before it goes out.
    last: LogPosition,
    buffer: VecDeque<LiveEvent>,
    done: bool,
}

impl Flow {
    async fn next(mut self) -> Option<(async_graphql::Result<Event>, Self)> {
        loop {
            if self.done {
                return None;
            }
            if let Some(live) = self.buffer.pop_front() {
                self.last = live.event.position();
                return Some((Ok(Event((*live.event).clone())), self));
            }
            if let Some(from) = self.replay_from {
                match self.feed.replay_page(&self.filter, from, self.subscription.registered_at()).await {
                    Ok((events, next)) => {
                        self.buffer.extend(events);
                        self.replay_from = next;
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "subscription replay failed");
                        self.done = true;
                        return Some((Err(ended("INTERNAL", "the replay failed; subscribe again", self.last)), self));
                    }
                }
                continue;
            }
            match self.subscription.recv().await {
                Some(live) if live.event.position() <= self.last => continue,
                Some(live) => {
                    self.last = live.event.position();
                    return Some((Ok(Event((*live.event).clone())), self));
                }
                None => {
                    self.done = true;
                    if self.subscription.lagged() {
                        let message = "the subscriber fell too far behind; subscribe again with `after: resumeAfter`";
                        return Some((Err(ended("SUBSCRIBER_LAGGED", message, self.last)), self));
                    }
                    return None;
                }
            }
        }
    }
}

/// The error that ends a stream, with the cursor to resume from.
fn ended(code: &'static str, message: &str, last: LogPosition) -> async_graphql::Error {
    let resume = last.to_cursor();
    async_graphql::Error::new(message).extend_with(move |_, e| {
        e.set("code", code);
        e.set("resumeAfter", resume.clone());
    })
}
