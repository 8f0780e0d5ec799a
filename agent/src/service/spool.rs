//! The spool: each finished observation is written here, on disk, before anything else is
//! done with it, and stays until the collector has acknowledged it.
//!
//! It is an SQLite file (`spool.db` in the state directory) rather than an append-only log:
//! taking a batch, acknowledging it and dropping the oldest past the size cap are each one
//! transaction, and a machine that loses power mid-write keeps either the old state or the
//! new one (WAL, `synchronous = FULL`: a push returns only once the observation is on disk).
//! The same file keeps the service's state (last scan, next scan, last upload, last error),
//! which `posture-agent status` reads.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

/// A spool error, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct SpoolError {
    /// The spool file.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// One spooled observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spooled {
    /// Its place in the spool (oldest first).
    pub seq: i64,
    /// The observation's id.
    pub id: String,
    /// The observation, one JSON line.
    pub body: Vec<u8>,
}

/// How full the spool is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Depth {
    /// Observations waiting.
    pub observations: u64,
    /// Their size in bytes.
    pub bytes: u64,
    /// Observations dropped, ever, because the spool was full (oldest first).
    pub dropped: u64,
    /// Observations the collector refused, ever (kept aside in the spool file).
    pub rejected: u64,
}

/// The spool file.
#[derive(Debug)]
pub struct Spool {
    conn: Connection,
    path: PathBuf,
    max_bytes: u64,
}

impl Spool {
    /// Open (or create) the spool in `dir`, capped at `max_bytes`.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Spool, SpoolError> {
        let path = dir.join("spool.db");
        let fail = |message: String| SpoolError {
            path: path.clone(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|e| fail(format!("the state directory: {e}")))?;
        let conn = Connection::open(&path).map_err(|e| fail(e.to_string()))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS spool (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 id TEXT NOT NULL UNIQUE,
                 body BLOB NOT NULL,
                 bytes INTEGER NOT NULL,
                 spooled_at INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS rejected (
                 id TEXT PRIMARY KEY,
                 body BLOB NOT NULL,
                 reason TEXT NOT NULL,
                 at INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
        )
        .map_err(|e| fail(e.to_string()))?;
        Ok(Spool {
            conn,
            path,
            max_bytes,
        })
    }

    /// Keep an observation (`id`, one JSON line) until it is acknowledged. Past the size cap
    /// the oldest are dropped, never this one; returns how many were dropped.
    pub fn push(&mut self, id: &str, body: &[u8], now_ms: i64) -> Result<u64, SpoolError> {
        let max = i64::try_from(self.max_bytes).unwrap_or(i64::MAX);
        let tx = self
            .conn
            .transaction()
            .map_err(|e| fail_at(&self.path, e))?;
        let size = i64::try_from(body.len()).unwrap_or(i64::MAX);
        tx.execute(
            "INSERT OR IGNORE INTO spool (id, body, bytes, spooled_at) VALUES (?1, ?2, ?3, ?4)",
            params![id, body, size, now_ms],
        )
        .map_err(|e| fail_at(&self.path, e))?;
        let mut dropped = 0u64;
        loop {
            let (total, oldest, count): (i64, Option<i64>, i64) = tx
                .query_row(
                    "SELECT COALESCE(SUM(bytes), 0), MIN(seq), COUNT(*) FROM spool",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .map_err(|e| fail_at(&self.path, e))?;
            if total <= max || count <= 1 {
                break;
            }
            let Some(oldest) = oldest else { break };
            tx.execute("DELETE FROM spool WHERE seq = ?1", params![oldest])
                .map_err(|e| fail_at(&self.path, e))?;
            dropped += 1;
        }
        if dropped > 0 {
            add_to(&tx, "dropped", dropped).map_err(|e| fail_at(&self.path, e))?;
        }
        tx.commit().map_err(|e| fail_at(&self.path, e))?;
        Ok(dropped)
    }

    /// The oldest `n` observations waiting, oldest first.
    pub fn oldest(&self, n: usize) -> Result<Vec<Spooled>, SpoolError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, id, body FROM spool ORDER BY seq LIMIT ?1")
            .map_err(|e| fail_at(&self.path, e))?;
        let rows = stmt
            .query_map(params![i64::try_from(n).unwrap_or(i64::MAX)], |r| {
                Ok(Spooled {
                    seq: r.get(0)?,
                    id: r.get(1)?,
                    body: r.get(2)?,
                })
            })
            .map_err(|e| fail_at(&self.path, e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| fail_at(&self.path, e))
    }

    /// The collector has these (by `seq`): forget them.
    pub fn acknowledge(&mut self, seqs: &[i64]) -> Result<(), SpoolError> {
        let tx = self
            .conn
            .transaction()
            .map_err(|e| fail_at(&self.path, e))?;
        for seq in seqs {
            tx.execute("DELETE FROM spool WHERE seq = ?1", params![seq])
                .map_err(|e| fail_at(&self.path, e))?;
        }
        tx.commit().map_err(|e| fail_at(&self.path, e))
    }

    /// The collector refused this observation for good: keep it aside, with why.
    pub fn reject(&mut self, item: &Spooled, reason: &str, now_ms: i64) -> Result<(), SpoolError> {
        let tx = self
            .conn
            .transaction()
            .map_err(|e| fail_at(&self.path, e))?;
        tx.execute(
            "INSERT OR REPLACE INTO rejected (id, body, reason, at) VALUES (?1, ?2, ?3, ?4)",
            params![item.id, item.body, reason, now_ms],
        )
        .map_err(|e| fail_at(&self.path, e))?;
        tx.execute("DELETE FROM spool WHERE seq = ?1", params![item.seq])
            .map_err(|e| fail_at(&self.path, e))?;
        add_to(&tx, "rejected", 1).map_err(|e| fail_at(&self.path, e))?;
        tx.commit().map_err(|e| fail_at(&self.path, e))
    }

    /// How full it is.
    pub fn depth(&self) -> Result<Depth, SpoolError> {
        let (observations, bytes): (i64, i64) = self
            .conn
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM spool",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| fail_at(&self.path, e))?;
        let number = |key: &str| -> Result<u64, SpoolError> {
            Ok(self
                .state(key)?
                .and_then(|v| v.parse().ok())
                .unwrap_or_default())
        };
        Ok(Depth {
            observations: u64::try_from(observations).unwrap_or_default(),
            bytes: u64::try_from(bytes).unwrap_or_default(),
            dropped: number("dropped")?,
            rejected: number("rejected")?,
        })
    }

    /// A state value (`last_scan`, `next_scan`, `last_upload`, `last_error`, ...).
    pub fn state(&self, key: &str) -> Result<Option<String>, SpoolError> {
        self.conn
            .query_row(
                "SELECT value FROM state WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| fail_at(&self.path, e))
    }

    /// Set a state value.
    pub fn set_state(&mut self, key: &str, value: &str) -> Result<(), SpoolError> {
        self.conn
            .execute(
                "INSERT INTO state (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map_err(|e| fail_at(&self.path, e))?;
        Ok(())
    }
}

fn fail_at(path: &Path, e: rusqlite::Error) -> SpoolError {
    SpoolError {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// Add `n` to the number kept under `key`.
fn add_to(tx: &rusqlite::Transaction<'_>, key: &str, n: u64) -> rusqlite::Result<()> {
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    tx.execute(
        "INSERT INTO state (key, value) VALUES (?1, CAST(?2 AS TEXT)) \
         ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + ?2 AS TEXT)",
        params![key, n],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("posture-spool-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn observations_wait_until_acknowledged_and_survive_a_reopen() {
        let dir = scratch("ack");
        let mut spool = Spool::open(&dir, 1 << 20).unwrap();
        for i in 0..5 {
            spool.push(&format!("o{i}"), b"{}", i).unwrap();
        }
        spool.push("o1", b"{}", 9).unwrap(); // the same id again: kept once
        let first = spool.oldest(2).unwrap();
        assert_eq!(
            first.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            ["o0", "o1"]
        );
        spool
            .acknowledge(&first.iter().map(|s| s.seq).collect::<Vec<_>>())
            .unwrap();
        spool.set_state("last_upload", "now").unwrap();
        drop(spool);
        let spool = Spool::open(&dir, 1 << 20).unwrap();
        assert_eq!(spool.depth().unwrap().observations, 3);
        assert_eq!(spool.oldest(10).unwrap()[0].id, "o2");
        assert_eq!(spool.state("last_upload").unwrap().as_deref(), Some("now"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_full_spool_drops_the_oldest_never_the_newest_and_counts_them() {
        let dir = scratch("cap");
        let mut spool = Spool::open(&dir, 250).unwrap();
        let body = [b'x'; 100];
        let mut dropped = 0;
        for i in 0..5 {
            dropped += spool.push(&format!("o{i}"), &body, i).unwrap();
        }
        assert_eq!(dropped, 3);
        let ids = |spool: &Spool| -> Vec<String> {
            spool
                .oldest(10)
                .unwrap()
                .into_iter()
                .map(|s| s.id)
                .collect()
        };
        assert_eq!(ids(&spool), ["o3", "o4"]);
        assert_eq!(spool.depth().unwrap().dropped, 3);
        // One bigger than the cap is still kept (alone): the newest is never dropped.
        spool.push("big", &[b'y'; 400], 9).unwrap();
        assert_eq!(ids(&spool), ["big"]);
        assert_eq!(spool.depth().unwrap().dropped, 5);
        let item = spool.oldest(1).unwrap().remove(0);
        spool.reject(&item, "403: not ours", 10).unwrap();
        let depth = spool.depth().unwrap();
        assert_eq!((depth.observations, depth.rejected), (0, 1));
        let _ = std::fs::remove_dir_all(dir);
    }
}
