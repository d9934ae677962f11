//! The charging statement with a scripted clock, on SQLite in memory.

// A charge left unsettled is a wrong password: most charges here are.
#![allow(unused_must_use)]

use super::*;

const BASE_MS: i64 = 30_000;
const T0: i64 = 1_800_000_000_000;

async fn attempts(forget_secs: u64) -> PasswordAttempts {
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .unwrap();
    PasswordAttempts::open(Db::Sqlite(pool), 30, forget_secs)
        .await
        .unwrap()
}

impl PasswordAttempts {
    async fn through(&self, key: &LockKey, now: i64) -> Charge {
        match self.charge_at(key, now).await.unwrap() {
            Charged::Through(charge) => charge,
            Charged::Locked(until) => panic!("locked until {until} at {now}"),
        }
    }

    async fn locked_until(&self, key: &LockKey, now: i64) -> i64 {
        match self.charge_at(key, now).await.unwrap() {
            Charged::Through(_) => panic!("let through at {now}"),
            Charged::Locked(until) => until,
        }
    }

    /// `(failures, locked_until)` of the key's row.
    async fn row(&self, key: &LockKey) -> Option<(i64, i64)> {
        let Db::Sqlite(pool) = &self.db else {
            unreachable!()
        };
        sqlx::query_as("SELECT failures, locked_until FROM app_password_locks WHERE lock_key = $1")
            .bind(&key.key)
            .fetch_optional(pool)
            .await
            .unwrap()
    }

    async fn rows(&self) -> i64 {
        let Db::Sqlite(pool) = &self.db else {
            unreachable!()
        };
        sqlx::query_as::<_, (i64,)>("SELECT COUNT(*) FROM app_password_locks")
            .fetch_one(pool)
            .await
            .unwrap()
            .0
    }
}

#[tokio::test]
async fn the_fifth_charge_locks_and_refusals_are_not_counted() {
    let a = attempts(86_400).await;
    let key = LockKey::account("Someone@Example.com ");
    for _ in 0..4 {
        a.through(&key, T0).await;
        assert_eq!(a.row(&key).await.unwrap().1, 0, "no lock below 5");
    }
    // The fifth is let through, and locks at once.
    a.through(&key, T0).await;
    assert_eq!(a.row(&key).await, Some((5, T0 + BASE_MS)));
    for _ in 0..10 {
        assert_eq!(a.locked_until(&key, T0 + 1).await, T0 + BASE_MS);
    }
    assert_eq!(
        a.row(&key).await,
        Some((5, T0 + BASE_MS)),
        "refusals count nothing"
    );
    // The same email, written otherwise, is the same key.
    assert_eq!(
        a.locked_until(&LockKey::account("someone@example.com"), T0 + 2)
            .await,
        T0 + BASE_MS
    );
}

#[tokio::test]
async fn each_charge_after_a_wait_doubles_it_up_to_fifteen_minutes() {
    let a = attempts(86_400).await;
    let key = LockKey::account("slow@example.com");
    let mut now = T0;
    for _ in 0..5 {
        a.through(&key, now).await;
    }
    let mut expected = BASE_MS;
    for n in 6..=12 {
        now = a.row(&key).await.unwrap().1;
        // At the end of the wait the next charge is let through.
        let until = a.locked_until(&key, now - 1).await;
        assert_eq!(until, now);
        a.through(&key, now).await;
        expected = (expected * 2).min(MAX_DELAY_MS);
        assert_eq!(a.row(&key).await, Some((n, now + expected)), "charge {n}");
    }
    assert_eq!(expected, MAX_DELAY_MS);
}

#[tokio::test]
async fn a_right_password_gives_back_its_own_charge_only() {
    let a = attempts(86_400).await;
    let key = LockKey::account("owner@example.com");
    // Four wrong, then a right one: the four stay counted.
    for _ in 0..4 {
        a.through(&key, T0).await;
    }
    let right = a.through(&key, T0).await;
    assert_eq!(a.row(&key).await, Some((5, T0 + BASE_MS)), "charged first");
    a.give_back(&right, T0).await.unwrap();
    assert_eq!(a.row(&key).await, Some((4, 0)), "its own lock went with it");
    // The next wrong one locks.
    a.through(&key, T0).await;
    assert_eq!(a.locked_until(&key, T0).await, T0 + BASE_MS);

    // A right password charged before four wrong ones: the lock the
    // fifth set is not its to lift.
    let other = LockKey::account("other@example.com");
    let right = a.through(&other, T0).await;
    for _ in 0..4 {
        a.through(&other, T0).await;
    }
    a.give_back(&right, T0).await.unwrap();
    assert_eq!(a.row(&other).await, Some((4, T0 + BASE_MS)));

    // Back to zero: the row goes.
    let alone = LockKey::account("alone@example.com");
    let right = a.through(&alone, T0).await;
    a.give_back(&right, T0).await.unwrap();
    assert_eq!(a.row(&alone).await, None);
}

#[tokio::test]
async fn a_remembered_device_has_its_own_count_and_an_unlock_clears_all() {
    let a = attempts(86_400).await;
    let account = LockKey::account("dev@example.com");
    let device = LockKey::device("dev@example.com", "token-1");
    for _ in 0..5 {
        a.through(&account, T0).await;
    }
    a.locked_until(&account, T0).await;
    // The device is let through; another device, or another account's
    // device with the same token, is another count.
    let charge = a.through(&device, T0).await;
    a.give_back(&charge, T0).await.unwrap();
    for _ in 0..5 {
        a.through(&LockKey::device("dev@example.com", "token-2"), T0)
            .await;
    }
    a.through(&device, T0).await;
    a.through(&LockKey::device("else@example.com", "token-2"), T0)
        .await;
    a.through(&LockKey::account("else@example.com"), T0).await;
    assert_eq!(a.rows().await, 5);
    a.clear_account(" DEV@example.com").await.unwrap();
    assert_eq!(a.rows().await, 2, "only the other account's rows are left");
    a.through(&account, T0).await;
}

#[tokio::test]
async fn a_count_is_forgotten_after_the_window_but_a_live_lock_is_not_purged() {
    // Forgotten after 60 s; the lock lasts 30 s and then doubles.
    let a = attempts(60).await;
    let window = 60_000;
    let counted = LockKey::account("counted@example.com");
    let locked = LockKey::account("locked@example.com");
    for n in 0..20 {
        a.through(&LockKey::account(&format!("nobody{n}@example.com")), T0)
            .await;
    }
    for _ in 0..4 {
        a.through(&counted, T0).await;
    }
    // Seven charges, the last two each at the end of the last wait: the
    // seventh locks for 120 s, longer than the window.
    let mut now = T0;
    for _ in 0..7 {
        a.through(&locked, now).await;
        now = now.max(a.row(&locked).await.unwrap().1);
    }
    let last_charge = T0 + BASE_MS + 2 * BASE_MS;
    let until = a.row(&locked).await.unwrap().1;
    assert_eq!(until, last_charge + 4 * BASE_MS);
    assert_eq!(a.rows().await, 22);
    assert_eq!(
        a.purge_at(T0 + window - 1).await.unwrap(),
        0,
        "nothing forgotten yet"
    );
    // Past the window of every last charge, the lock still running.
    let later = last_charge + window;
    assert!(later < until);
    let purged = a.purge_at(later).await.unwrap();
    assert_eq!(purged, 21, "every forgotten count");
    assert_eq!(a.rows().await, 1);
    assert_eq!(
        a.locked_until(&locked, later).await,
        until,
        "the live lock stays"
    );
    // A forgotten count starts again from one.
    for _ in 0..4 {
        a.through(&counted, later).await;
    }
    assert_eq!(a.row(&counted).await, Some((4, 0)));
}

#[tokio::test]
async fn of_two_hundred_concurrent_charges_five_go_through() {
    let a = std::sync::Arc::new(attempts(86_400).await);
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let a = std::sync::Arc::clone(&a);
            tokio::spawn(async move {
                let key = LockKey::account("burst@example.com");
                matches!(a.charge_at(&key, T0).await.unwrap(), Charged::Through(_))
            })
        })
        .collect();
    let mut through = 0;
    for task in tasks {
        through += usize::from(task.await.unwrap());
    }
    assert_eq!(through, 5);
}
