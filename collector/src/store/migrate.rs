//! Schema migrations, one list per backend, embedded in the binary. Each is applied once, in
//! order, in its own transaction, and recorded in `schema_migrations`; on PostgreSQL an
//! advisory lock keeps replicas that start together from applying one twice.

use sqlx::{AnyPool, Row};

use super::Backend;
use crate::error::Result;

/// (version, SQLite text, PostgreSQL text).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        include_str!("../../migrations/sqlite/0001_init.sql"),
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        include_str!("../../migrations/sqlite/0002_endpoints_and_tls_summary.sql"),
        include_str!("../../migrations/postgres/0002_endpoints_and_tls_summary.sql"),
    ),
    (
        3,
        include_str!("../../migrations/sqlite/0003_notifications.sql"),
        include_str!("../../migrations/postgres/0003_notifications.sql"),
    ),
];

/// An arbitrary constant: the advisory lock's key.
const LOCK: i64 = 0x706f_7374_7572;

/// Bring the schema up to date.
pub(super) async fn run(pool: &AnyPool, backend: Backend) -> Result<()> {
    let mut conn = pool.acquire().await?;
    if backend == Backend::Postgres {
        sqlx::query(&format!("SELECT pg_advisory_lock({LOCK})"))
            .execute(&mut *conn)
            .await?;
    }
    let outcome = apply(&mut conn, backend).await;
    if backend == Backend::Postgres {
        sqlx::query(&format!("SELECT pg_advisory_unlock({LOCK})"))
            .execute(&mut *conn)
            .await?;
    }
    outcome
}

async fn apply(conn: &mut sqlx::AnyConnection, backend: Backend) -> Result<()> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    let done: Vec<i64> = sqlx::query("SELECT version FROM schema_migrations")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<std::result::Result<_, _>>()?;
    for (version, sqlite, postgres) in MIGRATIONS {
        if done.contains(version) {
            continue;
        }
        let text = match backend {
            Backend::Sqlite => sqlite,
            Backend::Postgres => postgres,
        };
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        for statement in statements(text) {
            sqlx::query(&statement).execute(&mut *tx).await?;
        }
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(version)
            .bind(chrono::Utc::now().timestamp_millis())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}

/// The statements of a migration: split at `;` ending a line, comments dropped.
fn statements(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.split("--").next().unwrap_or("").trim_end();
        if line.trim().is_empty() {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if line.ends_with(';') {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_backend_has_the_same_tables() {
        for (version, sqlite, postgres) in MIGRATIONS {
            // Tables created, and columns added, in the same order on both.
            let tables = |t: &str| -> Vec<String> {
                statements(t)
                    .iter()
                    .filter_map(|s| {
                        let created = s.strip_prefix("CREATE TABLE ");
                        let altered = s.strip_prefix("ALTER TABLE ");
                        created.or(altered).map(|r| {
                            r.split_whitespace()
                                .filter(|w| !matches!(*w, "ADD" | "COLUMN"))
                                .take(2)
                                .collect::<Vec<_>>()
                                .join(" ")
                        })
                    })
                    .collect()
            };
            assert_eq!(tables(sqlite), tables(postgres), "migration {version}");
            assert!(!tables(sqlite).is_empty(), "migration {version}");
            if *version == 1 {
                assert!(tables(sqlite).len() >= 10);
            }
        }
    }
}
