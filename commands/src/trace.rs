//! The command's W3C trace id as its span's OpenTelemetry trace id.
//!
//! A portal sends `traceparent`; the edge keeps its trace id in the [`RequestContext`] and
//! stamps it on every event. With [`continue_trace`], the spans exported over OTLP (when the
//! server exports them) carry that same id, so one trace runs from the portal through the bus,
//! the store and whatever is done inside the command's span, and an event's `trace_id` finds
//! its spans.
//!
//! [`RequestContext`]: crate::RequestContext

use domain::envelope::TraceId;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Makes `span` (not yet entered) continue the trace `trace_id`: its OpenTelemetry parent is a
/// remote span of that trace. A no-op when the span is filtered out, and next to nothing when no
/// OpenTelemetry layer is installed (`set_parent` then finds none and returns).
pub fn continue_trace(span: &tracing::Span, trace_id: &TraceId) {
    if span.is_disabled() {
        return;
    }
    let Some(parent) = remote_parent(trace_id) else { return };
    // Errors say there is no OpenTelemetry layer or the span already started: nothing to join.
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(parent));
}

/// A remote, sampled span context in trace `trace_id`.
///
/// The span id is random: the caller's own span id (the `traceparent`'s parent id) is not kept
/// in the context, so the command span hangs under a parent the backend may not have; the trace
/// id, which is what joins the portal, the events and the spans, is exact. Sampled, because the
/// caller's sampling flag is not kept either and dropping a command's spans would hide it.
fn remote_parent(trace_id: &TraceId) -> Option<SpanContext> {
    // A `TraceId` is 32 lowercase hex digits, never all zero: this parse does not fail.
    let trace_id = opentelemetry::trace::TraceId::from_hex(trace_id.as_str()).ok()?;
    let span_id = SpanId::from_bytes(rand::random_range(1..=u64::MAX).to_be_bytes());
    Some(SpanContext::new(trace_id, span_id, TraceFlags::SAMPLED, true, TraceState::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_remote_parent_carries_the_commands_trace_id() {
        let id = TraceId::parse("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        let parent = remote_parent(&id).unwrap();
        assert_eq!(parent.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(parent.is_valid() && parent.is_remote() && parent.is_sampled());
    }
}
