//! The envelope every event carries (DOMAIN.md, "The event envelope"): who asked, for which
//! tenant, under which trace, and what caused it. Values are parsed once at the edge so an
//! invalid trace id or tenant never reaches the log.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

/// Why an envelope value was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EnvelopeError {
    /// A trace id must be 32 lowercase hex digits and not all zero (W3C Trace Context).
    #[error("trace id must be 32 lowercase hex digits, not all zero: {0:?}")]
    InvalidTraceId(String),
    /// A `traceparent` header must be `00-<trace id>-<parent id>-<flags>`.
    #[error("malformed traceparent header: {0:?}")]
    InvalidTraceparent(String),
    /// Tenant ids are 1..=64 chars of `[a-z0-9-_]`.
    #[error("tenant id must be 1 to 64 characters of a-z, 0-9, '-' or '_': {0:?}")]
    InvalidTenantId(String),
    /// Actors are `kind:name`, e.g. `user:alice@example.com`, `worker:drift`.
    #[error("actor must be '<user|worker|control-plane|system>:<name>' (1 to 200 chars): {0:?}")]
    InvalidActor(String),
}

/// A W3C trace id: 32 lowercase hex digits, not all zero.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TraceId(String);

impl TraceId {
    /// Parses a trace id, refusing anything W3C Trace Context would refuse.
    pub fn parse(value: &str) -> Result<Self, EnvelopeError> {
        let ok = is_lower_hex_of(value, 16) && value.bytes().any(|b| b != b'0');
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(EnvelopeError::InvalidTraceId(value.to_owned()))
        }
    }

    /// Takes the trace id out of a W3C `traceparent` header value, refusing what W3C Trace
    /// Context (level 1, "traceparent Header Field Values") refuses: a version that is not two
    /// lowercase hex digits or is `ff`; a trace id that is not 32 lowercase hex digits or is
    /// all zero; a parent id that is not 16 lowercase hex digits or is all zero; flags that are
    /// not two lowercase hex digits; and for version `00`, anything after the flags. A future
    /// version may append fields after a `-` (the spec's forward compatibility), which are
    /// ignored.
    pub fn from_traceparent(header: &str) -> Result<Self, EnvelopeError> {
        let refused = || EnvelopeError::InvalidTraceparent(header.to_owned());
        let value = header.trim();
        let mut parts = value.splitn(5, '-');
        let (Some(version), Some(trace_id), Some(parent_id), Some(flags)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(refused());
        };
        let rest = parts.next();
        if !is_lower_hex_of(version, 1) || version == "ff" {
            return Err(refused());
        }
        if !is_lower_hex_of(parent_id, 8) || parent_id.bytes().all(|b| b == b'0') {
            return Err(refused());
        }
        if !is_lower_hex_of(flags, 1) {
            return Err(refused());
        }
        // Version 00 has exactly four fields; a later version may carry more after a `-`.
        if version == "00" && rest.is_some() {
            return Err(refused());
        }
        Self::parse(trace_id).map_err(|_| refused())
    }

    /// A new random trace id, for requests that arrive without one.
    pub fn from_uuid(id: Uuid) -> Self {
        // A v4/v7 uuid is never all zero, so its simple form is a valid trace id.
        Self(id.simple().to_string())
    }

    /// The id as the 32-character string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `value` is exactly `bytes` bytes written as lowercase hex (W3C Trace Context allows
/// no uppercase).
fn is_lower_hex_of(value: &str, bytes: usize) -> bool {
    let mut decoded = [0u8; 16];
    value.len() == 2 * bytes
        && bytes <= decoded.len()
        && !value.bytes().any(|b| b.is_ascii_uppercase())
        && hex::decode_to_slice(value, &mut decoded[..bytes]).is_ok()
}

impl TryFrom<String> for TraceId {
    type Error = EnvelopeError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<TraceId> for String {
    fn from(value: TraceId) -> Self {
        value.0
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tenant of the SaaS products the platform runs; the hard isolation boundary.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// Parses a tenant id.
    pub fn parse(value: &str) -> Result<Self, EnvelopeError> {
        let ok = !value.is_empty()
            && value.len() <= 64
            && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(EnvelopeError::InvalidTenantId(value.to_owned()))
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = EnvelopeError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<TenantId> for String {
    fn from(value: TenantId) -> Self {
        value.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who or what issued a command: `user:<name>`, `worker:<loop>`, `control-plane:<id>` or
/// `system:<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Actor(String);

impl Actor {
    const KINDS: [&'static str; 4] = ["user", "worker", "control-plane", "system"];

    /// Parses an actor of the form `kind:name`.
    pub fn parse(value: &str) -> Result<Self, EnvelopeError> {
        let ok = value.len() <= 200
            && value.split_once(':').is_some_and(|(kind, name)| {
                Self::KINDS.contains(&kind)
                    && !name.is_empty()
                    && name.chars().all(|c| !c.is_control() && !c.is_whitespace())
            });
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(EnvelopeError::InvalidActor(value.to_owned()))
        }
    }

    /// The platform itself, for facts no person or worker asked for.
    pub fn system(name: &str) -> Self {
        Self(format!("system:{name}"))
    }

    /// The actor as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Actor {
    type Error = EnvelopeError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Actor> for String {
    fn from(value: Actor) -> Self {
        value.0
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Metadata keys under which the envelope is stored beside each event's payload.
pub mod keys {
    /// UUID v7 of the event.
    pub const EVENT_ID: &str = "event_id";
    /// W3C trace id.
    pub const TRACE_ID: &str = "trace_id";
    /// The tenant of the aggregate the event belongs to; absent for platform-wide aggregates
    /// and shared ones. Never the caller's tenant (that is [`ACTING_TENANT_ID`]).
    pub const TENANT_ID: &str = "tenant_id";
    /// The tenant the caller acted for, when it acted for exactly one.
    pub const ACTING_TENANT_ID: &str = "acting_tenant_id";
    /// The role under which the actor sent the command (`PlatformAdmin`, `Worker`, ...).
    pub const ACTOR_ROLE: &str = "actor_role";
    /// Who issued the command.
    pub const ACTOR: &str = "actor";
    /// Groups the commands of one business flow.
    pub const CORRELATION_ID: &str = "correlation_id";
    /// The command or event that caused this event.
    pub const CAUSATION_ID: &str = "causation_id";
    /// The command's id (the idempotency key when the caller gave one).
    pub const COMMAND_ID: &str = "command_id";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_id_accepts_w3c_form_only() {
        assert!(TraceId::parse("4bf92f3577b34da6a3ce929d0e0e4736").is_ok());
        assert!(TraceId::parse("4BF92F3577B34DA6A3CE929D0E0E4736").is_err());
        assert!(TraceId::parse("00000000000000000000000000000000").is_err());
        assert!(TraceId::parse("4bf92f3577b34da6a3ce929d0e0e473").is_err());
        assert!(TraceId::parse("4bf92f3577b34da6a3ce929d0e0e473g").is_err());
    }

    #[test]
    fn traceparent_yields_its_trace_id() {
        let id = TraceId::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(id.as_str(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(TraceId::from_traceparent("garbage").is_err());
        assert!(TraceId::from_traceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_err());
    }

    #[test]
    fn traceparent_refuses_what_w3c_trace_context_refuses() {
        const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
        for header in [
            // Parent id all zero, short, long, uppercase, not hex.
            format!("00-{TRACE}-0000000000000000-01"),
            format!("00-{TRACE}-00f067aa0ba902b-01"),
            format!("00-{TRACE}-00f067aa0ba902b7a-01"),
            format!("00-{TRACE}-00F067AA0BA902B7-01"),
            format!("00-{TRACE}-00f067aa0ba902zz-01"),
            // Flags not two lowercase hex digits.
            format!("00-{TRACE}-00f067aa0ba902b7-1"),
            format!("00-{TRACE}-00f067aa0ba902b7-001"),
            format!("00-{TRACE}-00f067aa0ba902b7-0g"),
            format!("00-{TRACE}-00f067aa0ba902b7-0A"),
            // Version ff, or not two lowercase hex digits.
            format!("ff-{TRACE}-00f067aa0ba902b7-01"),
            format!("0-{TRACE}-00f067aa0ba902b7-01"),
            format!("0x-{TRACE}-00f067aa0ba902b7-01"),
            format!("0A-{TRACE}-00f067aa0ba902b7-01"),
            // Version 00 with extra fields.
            format!("00-{TRACE}-00f067aa0ba902b7-01-extra"),
            format!("00-{TRACE}-00f067aa0ba902b7-01-"),
            // Trace id all zero or uppercase; too few fields.
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01".to_owned(),
            format!("00-{}-00f067aa0ba902b7-01", TRACE.to_uppercase()),
            format!("00-{TRACE}-00f067aa0ba902b7"),
        ] {
            assert_eq!(
                TraceId::from_traceparent(&header),
                Err(EnvelopeError::InvalidTraceparent(header.clone())),
                "{header}"
            );
        }
        // A later version may append fields; they are ignored.
        let future = TraceId::from_traceparent(&format!("01-{TRACE}-00f067aa0ba902b7-09-what-ever")).unwrap();
        assert_eq!(future.as_str(), TRACE);
    }

    #[test]
    fn generated_trace_ids_are_valid() {
        let id = TraceId::from_uuid(Uuid::now_v7());
        assert!(TraceId::parse(id.as_str()).is_ok());
    }

    #[test]
    fn tenant_ids_are_lowercase_slugs() {
        assert!(TenantId::parse("contoso-eu_1").is_ok());
        assert!(TenantId::parse("").is_err());
        assert!(TenantId::parse("Contoso").is_err());
        assert!(TenantId::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn actors_name_their_kind() {
        assert!(Actor::parse("user:alice@example.com").is_ok());
        assert!(Actor::parse("worker:drift-detection").is_ok());
        assert!(Actor::parse("alice").is_err());
        assert!(Actor::parse("robot:x").is_err());
        assert!(Actor::parse("user:").is_err());
        assert!(Actor::parse("user:a b").is_err());
    }
}
