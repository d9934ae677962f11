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
//! A buffer is wiped as soon as its hash is done, before it goes back to the
//! pool: Argon2's last blocks would otherwise let a memory dump test a
//! candidate code with a few BLAKE2b calls instead of a whole Argon2
//! evaluation. Wiping 19 MiB costs a few per cent of a hash (2.2 ms next to
//! 32.6 ms in the same run; BENCHMARKS.md).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use argon2::Block;
use zeroize::Zeroize;

static POOL: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

/// Argon2 evaluations run in this process: every one goes through [`with_memory`].
static EVALUATIONS: AtomicU64 = AtomicU64::new(0);

/// How many Argon2 evaluations this process has run.
#[cfg_attr(not(feature = "testkit"), allow(dead_code))]
pub(crate) fn evaluations() -> u64 {
    EVALUATIONS.load(Ordering::Relaxed)
}

fn pool() -> MutexGuard<'static, Vec<Vec<Block>>> {
    // Buffers are plain memory: a panic elsewhere cannot leave one half-valid.
    POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn max_pooled() -> usize {
    4 * std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `f` with `blocks` blocks of working memory, reused when possible.
pub(crate) fn with_memory<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    EVALUATIONS.fetch_add(1, Ordering::Relaxed);
    let reused = {
        let mut pool = pool();
        let found = pool.iter().position(|b| b.len() == blocks);
        found.map(|i| pool.swap_remove(i))
    };
    let mut memory = reused.unwrap_or_else(|| vec![Block::default(); blocks]);
    let out = f(&mut memory);
    memory.iter_mut().for_each(Zeroize::zeroize);
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

    #[test]
    fn buffers_are_wiped_before_reuse() {
        // A size no other test uses, so this test finds its own buffer.
        const BLOCKS: usize = 23;
        let mut seen = None;
        with_memory(BLOCKS, |m| {
            m.iter_mut().for_each(|b| *b = argon2_state());
            seen = Some(m.as_ptr() as usize);
        });
        let pool = pool();
        let buffer = pool
            .iter()
            .find(|b| b.as_ptr() as usize == seen.unwrap())
            .expect("the buffer went back to the pool");
        assert!(
            buffer.iter().all(|b| b.as_ref().iter().all(|w| *w == 0)),
            "a pooled buffer still holds the last hash's state"
        );
    }

    /// A block that is not all zeros, like Argon2's working state.
    fn argon2_state() -> Block {
        let mut block = Block::default();
        block.as_mut().fill(0xa5a5_a5a5_a5a5_a5a5);
        block
    }
}
