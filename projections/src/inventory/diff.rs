//! `runtimeDiff`: which workloads differ between two instants and how, read from the temporal
//! inventory with index probes, never a replay.
//!
//! A workload differs between instants `p < q` only if one of its periods starts or ends in
//! `(p, q]`: with no such boundary the same period (or none) covers both. So the diff looks at
//! the workloads with a boundary in the window (the *candidates*), in key order (environment,
//! service, tenant, byte order), and for each reads the period at each instant with one
//! backward probe of the key-ordered index. It stops as soon as it has the page it was asked
//! for. There are two ways to find the candidates in key order, and the cheaper one is chosen
//! per call:
//! - [`DiffCandidates::Boundaries`]: the boundaries inside the window, from the indexes on
//!   `valid_from` and `valid_to`, sorted. Its cost grows with the boundaries in the window, so
//!   it serves a narrow window (few changes) whatever the size of the inventory.
//! - [`DiffCandidates::KeyWalk`]: a walk along the key-ordered index (one per filter: by
//!   environment or by tenant), each step one descent to the next key with a boundary in the
//!   window. Its cost grows with the keys walked until the page is full, so it serves a wide
//!   window (many changes), where most keys are candidates and a page comes after a few
//!   hundred steps.
//!
//! Every statement keeps one plan whatever its parameters and the table's statistics (the
//! server prepares generic plans): the walk's boundary test is a range containment that no
//! index serves, and the transaction switches off the sorts and bitmap scans that a
//! "few rows" estimate would prefer to an ordered scan stopping at its first match.

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use super::{push_after, push_filters, InventoryPage};
use crate::error::ProjectionError;

/// Below this many boundaries at each end of the window (periods starting in it, periods
/// ending in it), [`DiffCandidates::Auto`] sorts the boundaries (reading at most twice this
/// many index entries); at or above it, it walks the keys.
pub const BOUNDARY_LIMIT: i64 = 500;

/// The most candidates one statement reads; a page of mostly unchanged candidates takes
/// several statements, each four times the last, up to this.
const MAX_BATCH: i64 = 1_000;

/// What ran for one workload at one instant, as `runtimeDiff` compares it, with the events
/// that set each value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadState {
    /// The deployment whose artifact ran.
    pub deployment_id: String,
    /// Artifact version.
    pub version: String,
    /// Image digest.
    pub digest: String,
    /// Compute kind from the service's contract when the artifact was placed.
    pub compute_kind: Option<String>,
    /// The environment's compute target of that kind when the artifact was placed.
    pub compute_target: Option<String>,
    /// Active configuration version.
    pub configuration_version: Option<i32>,
    /// Replicas of the autoscaler's last decision.
    pub replicas: Option<i32>,
    /// The event that started the run this state belongs to.
    pub started_event_id: Option<Uuid>,
    /// The event that put this version in place (and so its placement).
    pub version_event_id: Option<Uuid>,
    /// The event that activated this configuration version.
    pub configuration_event_id: Option<Uuid>,
    /// The event that set these replicas.
    pub replicas_event_id: Option<Uuid>,
}

impl WorkloadState {
    /// True when a user would call the two states different: version or digest, placement,
    /// configuration version or replicas (another deployment of the same artifact is not).
    pub fn differs_from(&self, other: &WorkloadState) -> bool {
        (&self.version, &self.digest, &self.compute_kind, &self.compute_target)
            != (&other.version, &other.digest, &other.compute_kind, &other.compute_target)
            || (self.configuration_version, self.replicas) != (other.configuration_version, other.replicas)
    }
}

/// One workload that differs between two instants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffEntry {
    /// Where.
    pub environment_id: String,
    /// Which service.
    pub service_id: String,
    /// For which tenant; `''` for a shared workload.
    pub tenant_id: String,
    /// What ran at `from` (`None`: nothing).
    pub before: Option<WorkloadState>,
    /// What ran at `to` (`None`: nothing).
    pub after: Option<WorkloadState>,
    /// When nothing runs at `to`: the event that ended the last period before it.
    pub stopped_event_id: Option<Uuid>,
}

/// Which part of a diff to read: filters, the caller's tenant scope and a keyset position, as
/// [`InventoryPage`].
pub type DiffPage<'a> = InventoryPage<'a>;

/// How [`runtime_diff_by`] finds the workloads that may differ (see the module's comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffCandidates {
    /// Count the boundaries in the window (up to [`BOUNDARY_LIMIT`]) and choose.
    Auto,
    /// Sort the boundaries inside the window.
    Boundaries,
    /// Walk the key-ordered index.
    KeyWalk,
}

/// The workloads that differ between `from` and `to` (in that direction: `before` is at
/// `from`), ordered by environment, service, tenant (byte order), filtered, scoped and keyed
/// like [`super::inventory_page`], at most `page.limit` of them. The cost depends on the
/// window and the page, not on the length of the workloads' history nor, for a page of a wide
/// window, on the size of the inventory (see the module's comment).
pub async fn runtime_diff(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    page: &DiffPage<'_>,
) -> Result<Vec<DiffEntry>, ProjectionError> {
    runtime_diff_by(conn, from, to, page, DiffCandidates::Auto).await
}

/// [`runtime_diff`] with the way to find candidates chosen by the caller; every way gives the
/// same answer (the tests compare them), only the cost differs.
pub async fn runtime_diff_by(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    page: &DiffPage<'_>,
    how: DiffCandidates,
) -> Result<Vec<DiffEntry>, ProjectionError> {
    let wanted = usize::try_from(page.limit).unwrap_or(0);
    if wanted == 0 || from == to {
        return Ok(Vec::new());
    }
    let window = (from.min(to), from.max(to));
    let mut tx = conn.begin().await?;
    let how = match how {
        // Clearly wide by the statistics: no count (its index pages are read by nothing else,
        // so they are the ones a busy cache has dropped).
        DiffCandidates::Auto if estimated_boundaries(&mut tx, window).await? >= WIDE => DiffCandidates::KeyWalk,
        DiffCandidates::Auto if few_boundaries(&mut tx, window).await? => DiffCandidates::Boundaries,
        DiffCandidates::Auto => DiffCandidates::KeyWalk,
        chosen => chosen,
    };
    // Pin the plans: an estimate of "few rows" (a generic plan's default, or a small table)
    // makes a bitmap scan and a sort look cheaper than an ordered index scan that stops at its
    // first match, and in a walk that is a scan of the rest of the scope at every step. The
    // penalty that switches a plan off counts in the plan's cost, which would then cross the
    // threshold of JIT compilation: hundreds of milliseconds to save none.
    sqlx::query(
        "SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true), \
                set_config('enable_sort', $1, true), set_config('jit', 'off', true)",
    )
    // The boundaries' candidates are sorted; their probes must still be ordered scans.
    .bind(if how == DiffCandidates::KeyWalk { "off" } else { "on" })
    .execute(&mut *tx)
    .await?;
    let mut entries = Vec::new();
    let mut after = page.after.map(|(e, s, t)| (e.to_owned(), s.to_owned(), t.to_owned()));
    let mut batch = page.limit.min(MAX_BATCH);
    loop {
        let mut query = QueryBuilder::<Postgres>::new("WITH RECURSIVE ");
        match how {
            DiffCandidates::KeyWalk => key_walk(&mut query, window, page, after.as_ref(), batch),
            _ => boundaries(&mut query, window, page, after.as_ref(), batch),
        }
        both_sides(&mut query, from, to);
        let rows = query.build_query_as::<CandidateRow>().fetch_all(&mut *tx).await?;
        let exhausted = (rows.len() as i64) < batch;
        // The next batch starts after this one's last candidate, listed or not.
        if let Some(last) = rows.last() {
            after = Some((last.environment_id.clone(), last.service_id.clone(), last.tenant_id.clone()));
        }
        for row in rows {
            if let Some(entry) = row.into_entry(from, to) {
                entries.push(entry);
                if entries.len() == wanted {
                    tx.commit().await?;
                    return Ok(entries);
                }
            }
        }
        if exhausted {
            tx.commit().await?;
            return Ok(entries);
        }
        batch = (batch * 4).min(MAX_BATCH);
    }
}

/// At or above this many boundaries at one end of the window by the planner's statistics,
/// [`DiffCandidates::Auto`] walks without counting: ten times [`BOUNDARY_LIMIT`], so that
/// statistics stale by a factor of ten still choose as the count would.
const WIDE: f64 = 10.0 * BOUNDARY_LIMIT as f64;

/// The periods starting and the periods ending inside the window, by the statistics ANALYZE
/// keeps (`pg_stats`: most common values and histogram of `valid_from` and `valid_to`, as
/// the planner estimates a range), the larger of the two; 0 without statistics. A read of the
/// catalog only.
async fn estimated_boundaries(
    conn: &mut PgConnection,
    (lo, hi): (DateTime<Utc>, DateTime<Utc>),
) -> Result<f64, ProjectionError> {
    type Stats = (f64, Option<Vec<DateTime<Utc>>>, Option<Vec<f64>>, Option<Vec<DateTime<Utc>>>, f64);
    let ends: Vec<Stats> = sqlx::query_as(
        "SELECT s.null_frac::float8, s.most_common_vals::text::timestamptz[], s.most_common_freqs::float8[], \
                s.histogram_bounds::text::timestamptz[], c.reltuples::float8 \
           FROM pg_stats s JOIN pg_class c ON c.oid = 'runtime_inventory'::regclass \
          WHERE s.schemaname = current_schema() AND s.tablename = 'runtime_inventory' \
            AND s.attname IN ('valid_from', 'valid_to')",
    )
    .fetch_all(conn)
    .await?;
    Ok(ends
        .into_iter()
        .map(|(null_frac, values, freqs, bounds, rows)| {
            let (values, freqs, bounds) =
                (values.unwrap_or_default(), freqs.unwrap_or_default(), bounds.unwrap_or_default());
            fraction_within(null_frac, &values, &freqs, &bounds, lo, hi) * rows.max(0.0)
        })
        .fold(0.0, f64::max))
}

/// The fraction of rows with a value in `(lo, hi]`: the most common values in it, plus the
/// histogram's share of the rest (linear within a bucket), as PostgreSQL's planner reckons.
fn fraction_within(
    null_frac: f64,
    values: &[DateTime<Utc>],
    freqs: &[f64],
    bounds: &[DateTime<Utc>],
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
) -> f64 {
    let common: f64 = values.iter().zip(freqs).filter(|(v, _)| lo < **v && **v <= hi).map(|(_, f)| f).sum();
    let rest = (1.0 - null_frac - freqs.iter().sum::<f64>()).max(0.0);
    if bounds.len() < 2 {
        return common;
    }
    let buckets = (bounds.len() - 1) as f64;
    // Where `x` falls in the histogram, from 0 (at or before its first bound) to 1.
    let position = |x: DateTime<Utc>| -> f64 {
        if x <= bounds[0] {
            return 0.0;
        }
        let i = bounds.partition_point(|b| *b <= x);
        if i >= bounds.len() {
            return 1.0;
        }
        let (from, to) = (bounds[i - 1], bounds[i]);
        let within = (x - from).num_microseconds().unwrap_or(0) as f64
            / (to - from).num_microseconds().unwrap_or(1).max(1) as f64;
        ((i - 1) as f64 + within) / buckets
    };
    common + rest * (position(hi) - position(lo)).max(0.0)
}

/// True when fewer than [`BOUNDARY_LIMIT`] periods start and fewer than that end inside the
/// window (`(lo, hi]`); reads at most that many entries of each boundary index.
async fn few_boundaries(
    conn: &mut PgConnection,
    (lo, hi): (DateTime<Utc>, DateTime<Utc>),
) -> Result<bool, ProjectionError> {
    let (starts, ends): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM (SELECT 1 FROM runtime_inventory \
                   WHERE valid_from > $1 AND valid_from <= $2 LIMIT $3) s), \
                (SELECT count(*) FROM (SELECT 1 FROM runtime_inventory \
                   WHERE valid_to > $1 AND valid_to <= $2 LIMIT $3) e)",
    )
    .bind(lo)
    .bind(hi)
    .bind(BOUNDARY_LIMIT)
    .fetch_one(conn)
    .await?;
    Ok(starts < BOUNDARY_LIMIT && ends < BOUNDARY_LIMIT)
}

/// `c(e, s, t) AS (...)`: up to `batch` candidates after `after`, in key order, from the
/// boundaries inside the window (indexes `runtime_inventory_started` / `_ended`).
fn boundaries<'a>(
    query: &mut QueryBuilder<'a, Postgres>,
    (lo, hi): (DateTime<Utc>, DateTime<Utc>),
    page: &DiffPage<'a>,
    after: Option<&(String, String, String)>,
    batch: i64,
) {
    query.push("c(e, s, t) AS (SELECT e, s, t FROM (");
    for (i, column) in ["valid_from", "valid_to"].into_iter().enumerate() {
        if i > 0 {
            query.push(" UNION ");
        }
        query.push(format!(
            "SELECT environment_id COLLATE \"C\" AS e, service_id COLLATE \"C\" AS s, tenant_id COLLATE \"C\" AS t \
               FROM runtime_inventory WHERE {column} > "
        ));
        query.push_bind(lo);
        query.push(format!(" AND {column} <= "));
        query.push_bind(hi);
    }
    query.push(") b WHERE true");
    push_filters(query, page, "e", "t");
    if let Some((e, s, t)) = after {
        push_after(query, "e, s, t", [e.clone(), s.clone(), t.clone()]);
    }
    query.push(" ORDER BY e, s, t LIMIT ");
    query.push_bind(batch);
    query.push(")");
}

/// `walk(e, s, t) AS (...), c AS (...)`: up to `batch` candidates after `after`, in key order,
/// one descent of the key-ordered index per candidate: by tenant when the page names one
/// (`runtime_inventory_tenant_page`), else by environment first (`runtime_inventory_page`).
fn key_walk<'a>(
    query: &mut QueryBuilder<'a, Postgres>,
    window: (DateTime<Utc>, DateTime<Utc>),
    page: &DiffPage<'a>,
    after: Option<&(String, String, String)>,
    batch: i64,
) {
    let free = free_columns(page);
    query.push("walk(e, s, t) AS ((");
    next_candidate(query, window, page);
    if let Some(after) = after {
        match start_after(page, after) {
            Start::Everything => {}
            Start::Nothing => {
                query.push(" AND false");
            }
            Start::After { inclusive } => {
                let (e, s, t) = after;
                let values = [e, s, t];
                query.push(" AND (");
                push_columns(query, &free, "r.");
                query.push(if inclusive { ") >= (" } else { ") > (" });
                for (i, (column, _)) in free.iter().enumerate() {
                    if i > 0 {
                        query.push(", ");
                    }
                    query.push_bind(values[*column].clone());
                    query.push("::text COLLATE \"C\"");
                }
                query.push(")");
            }
        }
    }
    query.push(KEY_ORDER);
    query.push(") UNION ALL SELECT n.* FROM walk w, LATERAL (");
    next_candidate(query, window, page);
    query.push(" AND (");
    push_columns(query, &free, "r.");
    query.push(") > (");
    for (i, (column, _)) in free.iter().enumerate() {
        if i > 0 {
            query.push(", ");
        }
        query.push(["w.e", "w.s", "w.t"][*column]);
    }
    query.push(")");
    query.push(KEY_ORDER);
    query.push(") n), c AS (SELECT e, s, t FROM walk LIMIT ");
    query.push_bind(batch);
    query.push(")");
}

/// The key columns (0 environment, 1 service, 2 tenant) the walk's index orders after the
/// page's fixed filters, in that index's order: the walk compares only these, because a row
/// comparison that starts at a column the filter fixes is not where the B-tree starts its
/// scan (it starts at the fixed value and filters, every step from the start of the scope).
fn free_columns(page: &DiffPage<'_>) -> Vec<(usize, &'static str)> {
    let all = [(0, "environment_id"), (1, "service_id"), (2, "tenant_id")];
    all.into_iter()
        .filter(|(column, _)| match column {
            0 => page.environment.is_none(),
            1 => true,
            _ => page.tenant.is_none(),
        })
        .collect()
}

fn push_columns(query: &mut QueryBuilder<'_, Postgres>, columns: &[(usize, &'static str)], prefix: &str) {
    for (i, (_, name)) in columns.iter().enumerate() {
        if i > 0 {
            query.push(", ");
        }
        query.push(format!("{prefix}{name} COLLATE \"C\""));
    }
}

/// Where a walk over `page`'s scope starts after the key `after`.
#[derive(Debug, PartialEq, Eq)]
enum Start {
    /// Every key of the scope is after it.
    Everything,
    /// None is.
    Nothing,
    /// The keys whose free columns ([`free_columns`]) compare after (or, `inclusive`, at or
    /// after) the free columns of `after`.
    After {
        /// The fixed tenant comes after `after`'s: an equal (environment, service) is after.
        inclusive: bool,
    },
}

/// Compares `after` with the scope's fixed columns, in key order and byte order (PostgreSQL's
/// `"C"` collation compares bytes, as Rust's `str` does).
fn start_after(page: &DiffPage<'_>, (e, _, t): &(String, String, String)) -> Start {
    if let Some(environment) = page.environment {
        match environment.cmp(e.as_str()) {
            std::cmp::Ordering::Greater => return Start::Everything,
            std::cmp::Ordering::Less => return Start::Nothing,
            std::cmp::Ordering::Equal => {}
        }
    }
    // The tenant is the last column of the key: it only decides between equal
    // (environment, service) pairs.
    Start::After { inclusive: page.tenant.is_some_and(|tenant| tenant > t.as_str()) }
}

/// Ordered by key, the first only: with the boundary test unindexable, the ordered scan is
/// the only plan.
const KEY_ORDER: &str =
    " ORDER BY r.environment_id COLLATE \"C\", r.service_id COLLATE \"C\", r.tenant_id COLLATE \"C\" LIMIT 1";

/// The keys of `page`'s filters with a boundary inside the window; the caller appends the
/// position and [`KEY_ORDER`].
fn next_candidate<'a>(
    query: &mut QueryBuilder<'a, Postgres>,
    (lo, hi): (DateTime<Utc>, DateTime<Utc>),
    page: &DiffPage<'a>,
) {
    query.push(
        "SELECT r.environment_id COLLATE \"C\", r.service_id COLLATE \"C\", r.tenant_id COLLATE \"C\" \
           FROM runtime_inventory r WHERE (tstzrange(",
    );
    query.push_bind(lo);
    query.push(", ");
    query.push_bind(hi);
    query.push(", '(]') @> r.valid_from OR tstzrange(");
    query.push_bind(lo);
    query.push(", ");
    query.push_bind(hi);
    query.push(", '(]') @> r.valid_to)");
    push_filters(query, page, "r.environment_id COLLATE \"C\"", "r.tenant_id COLLATE \"C\"");
}

/// The candidates of `c` with the period of each that began last at or before `from` (`b`)
/// and `to` (`a`): one backward probe of the key-ordered index each.
fn both_sides(query: &mut QueryBuilder<'_, Postgres>, from: DateTime<Utc>, to: DateTime<Utc>) {
    query.push(
        " SELECT c.e AS environment_id, c.s AS service_id, c.t AS tenant_id, \
                 b.opened_position AS b_opened_position, b.valid_to AS b_valid_to, \
                 b.deployment_id AS b_deployment_id, b.version AS b_version, b.digest AS b_digest, \
                 b.compute_kind AS b_compute_kind, b.compute_target AS b_compute_target, \
                 b.configuration_version AS b_configuration_version, b.replicas AS b_replicas, \
                 b.started_event_id AS b_started, b.version_event_id AS b_version_event, \
                 b.configuration_event_id AS b_configuration_event, b.replicas_event_id AS b_replicas_event, \
                 a.opened_position AS a_opened_position, a.valid_to AS a_valid_to, a.closed_event_id AS a_closed_event, \
                 a.deployment_id AS a_deployment_id, a.version AS a_version, a.digest AS a_digest, \
                 a.compute_kind AS a_compute_kind, a.compute_target AS a_compute_target, \
                 a.configuration_version AS a_configuration_version, a.replicas AS a_replicas, \
                 a.started_event_id AS a_started, a.version_event_id AS a_version_event, \
                 a.configuration_event_id AS a_configuration_event, a.replicas_event_id AS a_replicas_event \
            FROM c",
    );
    for (alias, at) in [("b", from), ("a", to)] {
        query.push(
            " LEFT JOIN LATERAL (SELECT * FROM runtime_inventory r \
               WHERE r.environment_id COLLATE \"C\" = c.e AND r.service_id COLLATE \"C\" = c.s \
                 AND r.tenant_id COLLATE \"C\" = c.t AND r.valid_from <= ",
        );
        query.push_bind(at);
        query.push(format!(
            " ORDER BY r.environment_id COLLATE \"C\" DESC, r.service_id COLLATE \"C\" DESC, \
                       r.tenant_id COLLATE \"C\" DESC, r.valid_from DESC LIMIT 1) {alias} ON true"
        ));
    }
    query.push(" ORDER BY c.e, c.s, c.t");
}

/// A candidate with the last period begun at or before each instant (`b_`: `from`, `a_`: `to`).
#[derive(sqlx::FromRow)]
struct CandidateRow {
    environment_id: String,
    service_id: String,
    tenant_id: String,
    b_opened_position: Option<i64>,
    b_valid_to: Option<DateTime<Utc>>,
    b_deployment_id: Option<String>,
    b_version: Option<String>,
    b_digest: Option<String>,
    b_compute_kind: Option<String>,
    b_compute_target: Option<String>,
    b_configuration_version: Option<i32>,
    b_replicas: Option<i32>,
    b_started: Option<Uuid>,
    b_version_event: Option<Uuid>,
    b_configuration_event: Option<Uuid>,
    b_replicas_event: Option<Uuid>,
    a_opened_position: Option<i64>,
    a_valid_to: Option<DateTime<Utc>>,
    a_closed_event: Option<Uuid>,
    a_deployment_id: Option<String>,
    a_version: Option<String>,
    a_digest: Option<String>,
    a_compute_kind: Option<String>,
    a_compute_target: Option<String>,
    a_configuration_version: Option<i32>,
    a_replicas: Option<i32>,
    a_started: Option<Uuid>,
    a_version_event: Option<Uuid>,
    a_configuration_event: Option<Uuid>,
    a_replicas_event: Option<Uuid>,
}

impl CandidateRow {
    /// The entry of the diff, or `None` when the workload does not differ: nothing ran at
    /// either instant, the same period covers both, or what a user sees is the same.
    fn into_entry(self, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<DiffEntry> {
        // A probe's period holds at its instant unless it ended at or before it.
        let holds = |position: Option<i64>, until: Option<DateTime<Utc>>, at| {
            position.is_some() && until.is_none_or(|u| u > at)
        };
        let before_holds = holds(self.b_opened_position, self.b_valid_to, from);
        let after_holds = holds(self.a_opened_position, self.a_valid_to, to);
        if before_holds && after_holds && self.b_opened_position == self.a_opened_position {
            return None;
        }
        let before = before_holds.then(|| WorkloadState {
            deployment_id: self.b_deployment_id.unwrap_or_default(),
            version: self.b_version.unwrap_or_default(),
            digest: self.b_digest.unwrap_or_default(),
            compute_kind: self.b_compute_kind,
            compute_target: self.b_compute_target,
            configuration_version: self.b_configuration_version,
            replicas: self.b_replicas,
            started_event_id: self.b_started,
            version_event_id: self.b_version_event,
            configuration_event_id: self.b_configuration_event,
            replicas_event_id: self.b_replicas_event,
        });
        let after = after_holds.then(|| WorkloadState {
            deployment_id: self.a_deployment_id.unwrap_or_default(),
            version: self.a_version.unwrap_or_default(),
            digest: self.a_digest.unwrap_or_default(),
            compute_kind: self.a_compute_kind,
            compute_target: self.a_compute_target,
            configuration_version: self.a_configuration_version,
            replicas: self.a_replicas,
            started_event_id: self.a_started,
            version_event_id: self.a_version_event,
            configuration_event_id: self.a_configuration_event,
            replicas_event_id: self.a_replicas_event,
        });
        match (&before, &after) {
            (None, None) => return None,
            (Some(b), Some(a)) if !b.differs_from(a) => return None,
            _ => {}
        }
        // Nothing runs at `to`: the last period begun before it ended; its closing event.
        let stopped_event_id = if after.is_none() { self.a_closed_event } else { None };
        Some(DiffEntry {
            environment_id: self.environment_id,
            service_id: self.service_id,
            tenant_id: self.tenant_id,
            before,
            after,
            stopped_event_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(e: &str, s: &str, t: &str) -> (String, String, String) {
        (e.to_owned(), s.to_owned(), t.to_owned())
    }

    /// The rule: the walk starts at the first key of the scope after `after`, in the byte
    /// order of (environment, service, tenant), whatever `after` is (a cursor of another scope
    /// included).
    /// The rule: the estimate reads the statistics as the planner does: the most common
    /// values in the window, plus the histogram's share of the rest, linear within a bucket.
    #[test]
    fn boundaries_are_estimated_from_the_statistics_as_the_planner_does() {
        let t = |h: i64| DateTime::<Utc>::from_timestamp(h * 3600, 0).unwrap();
        // Four buckets of 10 hours; 20 % of the rows are at hour 5, 10 % are null.
        let bounds = [t(0), t(10), t(20), t(30), t(40)];
        let (values, freqs) = ([t(5)], [0.2]);
        let within = |lo, hi| fraction_within(0.1, &values, &freqs, &bounds, t(lo), t(hi));
        // The rest (70 %) spread evenly: a quarter per bucket.
        assert!((within(10, 20) - 0.7 / 4.0).abs() < 1e-9);
        assert!((within(0, 10) - (0.2 + 0.7 / 4.0)).abs() < 1e-9, "with the common value");
        assert!((within(15, 25) - 0.7 / 4.0).abs() < 1e-9, "half of two buckets");
        assert!((within(-5, 50) - 0.9).abs() < 1e-9, "everything but the nulls");
        assert_eq!(within(41, 50), 0.0);
        // Without a histogram (few distinct values), only the common values count.
        assert!((fraction_within(0.0, &values, &freqs, &[], t(4), t(6)) - 0.2).abs() < 1e-9);
    }

    #[test]
    fn a_walk_starts_after_the_cursor_in_key_order() {
        let env = |e| DiffPage { environment: Some(e), ..Default::default() };
        let both = |e, t| DiffPage { environment: Some(e), tenant: Some(t), ..Default::default() };
        let tenant = |t| DiffPage { tenant: Some(t), ..Default::default() };
        // A cursor in an earlier environment: the whole scope is after it; a later one: none.
        assert_eq!(start_after(&env("env-b"), &key("env-a", "z", "z")), Start::Everything);
        assert_eq!(start_after(&env("env-b"), &key("env-c", "a", "")), Start::Nothing);
        assert_eq!(start_after(&env("env-b"), &key("env-b", "s", "")), Start::After { inclusive: false });
        // Byte order, not a locale's: "B" < "a".
        assert_eq!(start_after(&env("a"), &key("B", "s", "")), Start::Everything);
        // The tenant is last in the key: it decides between equal (environment, service).
        assert_eq!(start_after(&tenant("t2"), &key("e", "s", "t1")), Start::After { inclusive: true });
        assert_eq!(start_after(&tenant("t2"), &key("e", "s", "t2")), Start::After { inclusive: false });
        assert_eq!(start_after(&tenant("t2"), &key("e", "s", "t3")), Start::After { inclusive: false });
        assert_eq!(start_after(&both("e", "t2"), &key("e", "s", "t1")), Start::After { inclusive: true });
        assert_eq!(start_after(&both("e", "t2"), &key("d", "s", "t9")), Start::Everything);
        // The columns compared after the fixed ones, in the walk's index order.
        let names = |p: &DiffPage<'_>| free_columns(p).into_iter().map(|(_, n)| n).collect::<Vec<_>>();
        assert_eq!(names(&DiffPage::default()), ["environment_id", "service_id", "tenant_id"]);
        assert_eq!(names(&env("e")), ["service_id", "tenant_id"]);
        assert_eq!(names(&tenant("t")), ["environment_id", "service_id"]);
        assert_eq!(names(&both("e", "t")), ["service_id"]);
    }
}
