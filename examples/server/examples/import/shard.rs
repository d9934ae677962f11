//! `--shard I/N`: which lines of the input a run takes, so that N runs (on
//! as many machines or processes) share one input with no line taken twice
//! and none left out.
//!
//! A line belongs to shard `h mod N + 1`, where `h` is the first 8 bytes of
//! SHA-256 of its email (trimmed and lower-cased, as the importer looks the
//! account up), read as a big-endian integer: every line of one user falls
//! in the same shard, whatever its position, and the split does not change
//! when lines are added, removed or reordered. A line with no email to read
//! (not UTF-8, too long, malformed JSON, no `"email"`) belongs to shard
//! `(line number − 1) mod N + 1`, which reports it.

use sha2::{Digest, Sha256};

/// Shard `index` (from 1) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u64,
    count: u64,
}

impl Shard {
    /// `I/N` with 1 ≤ I ≤ N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("--shard takes I/N with 1 ≤ I ≤ N (as 2/4), not {text:?}");
        let (index, count) = text.split_once('/').ok_or_else(bad)?;
        let index: u64 = index.trim().parse().map_err(|_| bad())?;
        let count: u64 = count.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether the lines of this (normalised) email are this shard's.
    pub fn holds_email(&self, email: &str) -> bool {
        let digest = Sha256::digest(email.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first) % self.count + 1 == self.index
    }

    /// Whether line `number` (from 1), which has no email, is this shard's.
    pub fn holds_line(&self, number: usize) -> bool {
        (number as u64).saturating_sub(1) % self.count + 1 == self.index
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}
