//! One module per bounded context: its queries and mutations, merged into the roots.

pub mod catalog;
pub mod configuration;
pub mod environments;
pub mod health;
pub mod integration;
pub mod observed;
pub mod read_models;
pub mod scaling;
pub mod tenancy;
