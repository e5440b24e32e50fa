//! Integration tests: each test gets its own PostgreSQL database (see `tests::TestDb`).

mod api_limits;
mod audit_export;
mod bus;
mod causal;
mod fuzz;
mod graphql_api;
mod http_transport;
mod idempotency;
mod isolation;
mod live;
mod log_reader;
mod ownership;
mod plans;
mod projection_runner;
mod read_models;
mod read_paging;
mod read_queries;
mod release_server;
mod rules;
mod schema_sdl;
mod store;
mod supersession;
mod story;
mod ws_protocol;
