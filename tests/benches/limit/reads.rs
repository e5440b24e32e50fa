//! (filled in by the reads half of the limit bench)

use crate::figures::Report;

/// Measures the reads half and records its figures in `report`.
pub async fn run(_report: &mut Report) {}
