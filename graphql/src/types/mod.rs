//! Output and input types of the schema.

pub mod catalog;
pub mod command_result;
pub mod configuration;
pub mod cursor;
pub mod environment;
pub mod event;
pub mod health;
pub mod read_models;
pub mod scaling;
pub mod tenancy;

pub use command_result::CommandResult;
pub use cursor::{LogCursor, SequenceCursor};
pub use environment::Environment;
pub use event::Event;

/// Default page size of every connection.
pub const DEFAULT_PAGE: usize = 20;
/// Largest page any connection returns.
pub const MAX_PAGE: usize = 200;

/// What a page costs against the complexity limit: its rows (as asked, within the allowed
/// range) times what each row selects, so forty aliased 100-row pages cannot pass as cheap.
pub fn page_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let rows = first.map_or(DEFAULT_PAGE, |n| n.clamp(1, MAX_PAGE as i32) as usize);
    rows.saturating_mul(child_complexity).saturating_add(1)
}

/// The page size a client asked for, bounded; `last`/`before` paging is not offered.
pub fn page_size(first: Option<i32>) -> Result<usize, crate::error::ApiError> {
    match first {
        None => Ok(DEFAULT_PAGE),
        Some(n) if n >= 0 && (n as usize) <= MAX_PAGE => Ok(n as usize),
        Some(n) => {
            Err(crate::error::ApiError::InvalidInput(format!("first must be between 0 and {MAX_PAGE}, got {n}")))
        }
    }
}
