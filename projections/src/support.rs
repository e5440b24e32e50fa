//! (Internal) small helpers shared by the read-model projectors: text of domain values, batch loads and
//! upserts of view rows through JSON (one statement per table per batch).

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;

use crate::error::ProjectionError;

/// The text of a domain value as it serializes: a string as is, `None` as `''`, anything
/// else as JSON.
pub(crate) fn text<T: Serialize>(value: T) -> Result<String, ProjectionError> {
    Ok(match serde_json::to_value(value)? {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

/// Like [`text`], `None` for an absent value.
pub(crate) fn opt_text<T: Serialize>(value: Option<T>) -> Result<Option<String>, ProjectionError> {
    value.map(text).transpose()
}

/// Loads the rows of `table` whose `key` column is one of `keys`, decoded from `to_jsonb`.
pub(crate) async fn load_rows<T: DeserializeOwned>(
    conn: &mut PgConnection,
    table: &str,
    key: &str,
    keys: &[String],
) -> Result<Vec<T>, ProjectionError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(Value,)> = sqlx::query_as(&format!("SELECT to_jsonb(t) FROM {table} t WHERE {key} = ANY($1)"))
        .bind(keys)
        .fetch_all(&mut *conn)
        .await?;
    rows.into_iter().map(|(v,)| serde_json::from_value(v).map_err(ProjectionError::from)).collect()
}

/// Inserts `rows` into `table`, or overwrites every column but the `conflict` ones when the
/// key exists. Rows must have distinct keys; field names are column names.
pub(crate) async fn upsert_rows<T: Serialize>(
    conn: &mut PgConnection,
    table: &str,
    conflict: &[&str],
    columns: &[&str],
    rows: &[T],
) -> Result<(), ProjectionError> {
    if rows.is_empty() {
        return Ok(());
    }
    let json = serde_json::to_value(rows)?;
    let cols = columns.join(", ");
    let updates: Vec<String> =
        columns.iter().filter(|c| !conflict.contains(c)).map(|c| format!("{c} = EXCLUDED.{c}")).collect();
    let action = if updates.is_empty() { "NOTHING".to_owned() } else { format!("UPDATE SET {}", updates.join(", ")) };
    let sql = format!(
        "INSERT INTO {table} ({cols}) SELECT {cols} FROM jsonb_populate_recordset(NULL::{table}, $1) \
         ON CONFLICT ({}) DO {action}",
        conflict.join(", ")
    );
    sqlx::query(&sql).bind(json).execute(&mut *conn).await?;
    Ok(())
}

/// Deletes every row of each table.
pub(crate) async fn delete_all(conn: &mut PgConnection, tables: &[&str]) -> Result<(), ProjectionError> {
    for table in tables {
        sqlx::query(&format!("DELETE FROM {table}")).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Sorted, deduplicated owned copies.
pub(crate) fn distinct<'a>(ids: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut v: Vec<String> = ids.into_iter().map(str::to_owned).collect();
    v.sort_unstable();
    v.dedup();
    v
}
