//! Observations the spool could not take (its disk full, its file unwritable): held in memory,
//! up to the spool's own size cap, written to the spool as soon as it takes writes again, and
//! uploaded from memory meanwhile. They are lost only if the process ends before either.

use std::collections::VecDeque;

use super::spool::{Spool, SpoolError, Spooled};

/// What the spool could not take, oldest first.
#[derive(Debug, Default)]
pub struct Held {
    items: VecDeque<Spooled>,
    bytes: u64,
    /// Why the spool last refused a write, while it does.
    pub failing: Option<String>,
}

impl Held {
    /// How many observations are held.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Hold `item`. Past `cap` bytes the oldest held are dropped, never this one; returns how
    /// many were dropped.
    pub fn hold(&mut self, item: Spooled, cap: u64) -> u64 {
        if self.items.iter().any(|i| i.id == item.id) {
            return 0;
        }
        self.bytes += item.body.len() as u64;
        self.items.push_back(item);
        let mut dropped = 0;
        while self.bytes > cap && self.items.len() > 1 {
            if let Some(old) = self.items.pop_front() {
                self.bytes -= old.body.len() as u64;
                dropped += 1;
            }
        }
        dropped
    }

    /// Write what is held to `spool`, oldest first, until it refuses. Returns how many the
    /// spool dropped past its own cap; on a refusal what is left stays held.
    pub fn flush(&mut self, spool: &mut Spool, now_ms: i64) -> Result<u64, SpoolError> {
        let mut dropped = 0;
        while let Some(first) = self.items.front() {
            dropped += spool.push(&first.id, &first.body, now_ms)?;
            if let Some(done) = self.items.pop_front() {
                self.bytes -= done.body.len() as u64;
            }
        }
        Ok(dropped)
    }

    /// The oldest `n` held, for an upload.
    pub fn first(&self, n: usize) -> Vec<Spooled> {
        self.items.iter().take(n).cloned().collect()
    }

    /// The collector has these (by id): forget them.
    pub fn forget(&mut self, ids: &[&str]) {
        self.items.retain(|i| !ids.contains(&i.id.as_str()));
        self.bytes = self.items.iter().map(|i| i.body.len() as u64).sum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, size: usize) -> Spooled {
        Spooled {
            seq: 0,
            id: id.into(),
            body: vec![b'x'; size],
        }
    }

    #[test]
    fn held_observations_are_capped_oldest_first_and_flushed_in_order() {
        let mut held = Held::default();
        assert_eq!(held.hold(item("a", 40), 100), 0);
        assert_eq!(held.hold(item("b", 40), 100), 0);
        // Held twice (a round resent): once.
        assert_eq!(held.hold(item("b", 40), 100), 0);
        assert_eq!(held.len(), 2);
        // Past the cap the oldest goes, never the newest even when it alone is over.
        assert_eq!(held.hold(item("c", 40), 100), 1);
        assert_eq!(held.hold(item("d", 500), 100), 2);
        assert_eq!(
            held.first(9)
                .iter()
                .map(|i| i.id.as_str())
                .collect::<Vec<_>>(),
            ["d"]
        );
        held.hold(item("e", 10), 1000);
        held.forget(&["d"]);
        assert_eq!(held.first(9)[0].id, "e");

        let dir = std::env::temp_dir().join(format!("posture-held-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut spool = Spool::open(&dir, 1 << 20).unwrap();
        held.hold(item("f", 10), 1000);
        assert_eq!(held.flush(&mut spool, 1).unwrap(), 0);
        assert_eq!(held.len(), 0);
        let written: Vec<String> = spool.oldest(9).unwrap().into_iter().map(|i| i.id).collect();
        assert_eq!(written, ["e", "f"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
