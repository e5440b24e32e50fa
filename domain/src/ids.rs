//! Identities of the aggregates of every context, so contexts can refer to each other's
//! aggregates without depending on each other's modules. Each is a non-nil UUID; new ones
//! are UUID v7 (time-ordered, index friendly). `EnvironmentId` lives with its context and is
//! re-exported here.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use crate::rejection::{Rejection, RejectionKind};

pub use crate::environments::EnvironmentId;

/// An id that is not a non-nil UUID.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{kind} must be a non-nil uuid: {value:?}")]
pub struct IdError {
    /// Which id, e.g. `service id`.
    pub kind: &'static str,
    /// The refused text.
    pub value: String,
}

impl Rejection for IdError {
    fn kind(&self) -> RejectionKind {
        RejectionKind::InvalidInput
    }
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $label:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Uuid);

        impl $name {
            /// Parses any UUID text form; the nil UUID is refused (a forgotten default).
            pub fn parse(value: &str) -> Result<Self, IdError> {
                Uuid::parse_str(value)
                    .ok()
                    .filter(|id| !id.is_nil())
                    .map(Self)
                    .ok_or_else(|| IdError { kind: $label, value: value.to_owned() })
            }

            /// A fresh time-ordered id (UUID v7).
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0.to_string()
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::parse(value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

uuid_id!(
    /// A `RuntimeService` (catalog entry).
    ServiceId, "service id"
);
uuid_id!(
    /// A `RuntimeDeployment` (one rollout).
    DeploymentId, "deployment id"
);
uuid_id!(
    /// A `RuntimeConfiguration` (versioned settings of a service in an environment).
    ConfigurationId, "configuration id"
);
uuid_id!(
    /// A `SecretBinding` (a Key Vault reference bound to a workload).
    SecretBindingId, "secret binding id"
);
uuid_id!(
    /// A `RuntimeTenantBinding` (a tenant's boundary in an environment).
    TenantBindingId, "tenant binding id"
);
uuid_id!(
    /// A `ScalingPolicy`.
    ScalingPolicyId, "scaling policy id"
);
uuid_id!(
    /// A `RuntimeHealth` (health of a service in an environment).
    HealthId, "health id"
);
uuid_id!(
    /// A `DriftFinding`.
    DriftFindingId, "drift finding id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_refuse_nil_and_garbage_and_round_trip() {
        assert!(ServiceId::parse("00000000-0000-0000-0000-000000000000").is_err());
        assert!(DeploymentId::parse("nope").is_err());
        let id = DriftFindingId::generate();
        assert_eq!(DriftFindingId::parse(&id.to_string()).unwrap(), id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<DriftFindingId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<HealthId>("\"00000000-0000-0000-0000-000000000000\"").is_err());
    }
}
