//! (filled in by the writes half of the limit bench)

use crate::figures::Report;

/// Measures the writes half and records its figures in `report`.
pub async fn run(_report: &mut Report) {}
