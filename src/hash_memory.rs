//! Argon2 working memory, reused from one hash to the next.
//!
//! Each Argon2 evaluation needs `m` KiB of working memory (19 MiB by default).
//! Allocated per hash, it costs page faults on every attempt and, with glibc,
//! freed buffers stay resident in per-thread malloc arenas, so memory grows
//! with the number of threads that ever hashed rather than with the number
//! hashing at once. Buffers are instead kept in a small process-wide pool:
//! resident Argon2 memory is the peak number of concurrent hashes (which
//! [`Mfa`](crate::Mfa) bounds) times `m`, up to four buffers per CPU.
//!
//! A buffer holds Argon2's internal state of its last hash until the next one
//! overwrites it, as freed memory would; it reveals nothing without the
//! pepper, which is an input to every block.

use std::sync::{Mutex, MutexGuard};

use argon2::Block;

static POOL: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

fn pool() -> MutexGuard<'static, Vec<Vec<Block>>> {
    // Buffers are plain memory: a panic elsewhere cannot leave one half-valid.
    POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn max_pooled() -> usize {
    4 * std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `f` with `blocks` blocks of working memory, reused when possible.
pub(crate) fn with_memory<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    let reused = {
        let mut pool = pool();
        let found = pool.iter().position(|b| b.len() == blocks);
        found.map(|i| pool.swap_remove(i))
    };
    let mut memory = reused.unwrap_or_else(|| vec![Block::default(); blocks]);
    let out = f(&mut memory);
    let mut pool = pool();
    if pool.len() < max_pooled() {
        pool.push(memory);
    } else if let Some(stale) = pool.iter_mut().find(|b| b.len() != blocks) {
        // Parameters changed: make room for buffers of the size now in use.
        *stale = memory;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_and_bounded() {
        for _ in 0..3 * max_pooled() {
            with_memory(16, |m| assert_eq!(m.len(), 16));
        }
        assert!(pool().len() <= max_pooled());
        assert!(pool().iter().any(|b| b.len() == 16));
    }
}
