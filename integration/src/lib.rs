//! The platform's edges to the rest of the factory.
//!
//! - Events out: [`relay::IntegrationRelay`] follows the log (the outbox) and publishes every
//!   committed event as an [`envelope::IntegrationEnvelope`], at least once, in order per
//!   aggregate; what the broker will not take is parked ([`parking`]).
//! - Commands in: [`command_intake::CommandIntake`] receives the Control Plane's commands with
//!   peek-lock and settles each by its outcome; refusals are kept ([`rejected`]) and answered.
//! - Both behind ports ([`port`]); [`servicebus`] adapts them to Azure Service Bus, and
//!   [`config`] reads which adapter runs from the environment.

pub mod command_intake;
pub mod config;
pub mod dispatch;
pub mod envelope;
pub mod error;
pub mod parking;
pub mod port;
pub mod rejected;
pub mod relay;
pub mod servicebus;

pub use command_intake::{CommandIntake, IntakeSettings, Settlement};
pub use error::IntegrationError;
pub use port::{CommandSource, Delivery, OutboundMessage, PublishError, Publisher};
pub use relay::{IntegrationRelay, RelaySettings, RetryPolicy};
