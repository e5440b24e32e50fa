//! Integration tests: each test gets its own PostgreSQL database (see `tests::TestDb`).

mod bus;
mod graphql_api;
mod log_reader;
mod ownership;
mod projection_runner;
mod read_models;
mod read_queries;
mod rules;
mod schema_sdl;
mod store;
mod story;
