//! Many enrolled users in a SQL store, for `benches/million.rs` (the
//! million-user measurements, run by hand) and `tests/scale.rs` (its smoke
//! run, in CI).
//!
//! - [`Users`]: the records of users `user-00000000`, `user-00000001`, …,
//!   each an active factor written by the crate ([`MfaEnrollment::to_json`]
//!   of a user enrolled through the public transitions) with a TOTP secret of
//!   its own, sealed for that user (the envelope's associated data names the
//!   user). The Argon2-hashed backup-code set does not depend on the user:
//!   it is hashed once and every record carries it.
//! - [`seed`]: writes users in bulk, multi-row `INSERT`s of 1,000 rows on the
//!   store's own pool into the table the store created, each row at
//!   version 1 with a fresh write id, so that it loads as a record the store
//!   saved; the records are built on a thread of their own while the
//!   database writes the previous batch.
//! - [`ScaleStore`]: per database, the bulk insert, row count, statistics,
//!   on-disk size (from the database's own size functions) and the query
//!   plans of the store's load and compare-and-swap statements.
#![allow(dead_code)]

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mfa::keys::Envelope;
use mfa::testkit::fixtures::Enrolled;
use mfa::totp::{self, TotpParams, TotpSecret};
use mfa::{MfaContext, MfaEnrollment, MfaStore, MysqlStore, PostgresStore, SqliteStore};
use rand::{SeedableRng, rngs::StdRng};
use sqlx::{QueryBuilder, Row as _};

/// Rows per multi-row `INSERT`.
pub const BATCH: usize = 1_000;

/// One row of `mfa_enrollments` as the bulk insert writes it.
pub struct Row {
    pub user_id: String,
    pub record: String,
    pub write_id: [u8; 16],
}

/// The records of numbered users, each with a secret of its own.
pub struct Users {
    /// The record's JSON before the sealed secret's base64 ...
    prefix: String,
    /// ... and after it.
    suffix: String,
    /// The context the records were written under.
    ctx: MfaContext,
}

impl Users {
    /// Records as `ctx` writes them: a user enrolled at `confirmed_at`
    /// through `begin_setup` and `confirm_setup` (10 backup codes hashed
    /// once with the context's Argon2 parameters) is the template; each
    /// user's record is the template with that user's own sealed secret.
    pub fn new(ctx: MfaContext, confirmed_at: u64) -> Users {
        let template = Enrolled::new(&ctx, "template", confirmed_at)
            .active
            .to_json();
        let parsed: serde_json::Value = serde_json::from_str(&template).expect("a record");
        let secret = parsed["factor"]["app"]["secret"]
            .as_str()
            .expect("an active factor's secret");
        assert_eq!(
            template.matches(secret).count(),
            1,
            "the secret appears once"
        );
        let (prefix, suffix) = template.split_once(secret).expect("the secret");
        let users = Users {
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
            ctx,
        };
        // The spliced record is a record of the crate's format.
        let record = MfaEnrollment::from_json(&users.record(0, &mut rand::rng()))
            .expect("a spliced record loads");
        assert!(record.is_active());
        users
    }

    /// The context the records were written under (keyring and policy).
    pub fn context(&self) -> &MfaContext {
        &self.ctx
    }

    /// The id of user number `i`.
    pub fn user_id(i: u64) -> String {
        format!("user-{i:08}")
    }

    /// The TOTP secret of user number `i` (as the user's app holds it).
    pub fn secret(i: u64) -> TotpSecret {
        TotpSecret::generate(&mut StdRng::seed_from_u64(i))
    }

    /// User `i`'s TOTP code at `now`.
    pub fn code(&self, i: u64, now: u64) -> String {
        totp::generate(&Self::secret(i), self.params(), now).expect("valid TOTP parameters")
    }

    fn params(&self) -> TotpParams {
        self.ctx.policy().totp.params()
    }

    /// User `i`'s record, as `MfaEnrollment::to_json` writes it.
    pub fn record(&self, i: u64, rng: &mut rand::rngs::ThreadRng) -> String {
        let sealed =
            Envelope::seal_secret(self.ctx.keyring(), &Self::user_id(i), &Self::secret(i), rng)
                .expect("the primary key seals");
        let sealed = sealed.to_base64();
        let mut record =
            String::with_capacity(self.prefix.len() + sealed.len() + self.suffix.len());
        record.push_str(&self.prefix);
        record.push_str(&sealed);
        record.push_str(&self.suffix);
        record
    }

    /// The length of every record, in bytes.
    pub fn record_len(&self) -> usize {
        self.record(0, &mut rand::rng()).len()
    }

    /// The rows of users `range`.
    pub fn rows(&self, range: Range<u64>) -> Vec<Row> {
        let mut rng = rand::rng();
        range
            .map(|i| Row {
                user_id: Self::user_id(i),
                record: self.record(i, &mut rng),
                write_id: mfa::store::WriteId::random().to_bytes(),
            })
            .collect()
    }
}

/// Writes users `0..n` into `store`'s empty table: records built on a thread
/// of their own, a batch ahead of the database. Returns the time it took.
pub async fn seed<S: ScaleStore>(store: &S, users: &Arc<Users>, n: u64) -> Duration {
    let started = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Row>>(4);
    let builder = {
        let users = Arc::clone(users);
        std::thread::spawn(move || {
            let mut next = 0;
            while next < n {
                let end = (next + BATCH as u64).min(n);
                if tx.blocking_send(users.rows(next..end)).is_err() {
                    return;
                }
                next = end;
            }
        })
    };
    while let Some(rows) = rx.recv().await {
        store.insert(&rows).await.expect("bulk insert");
    }
    builder.join().expect("the record builder");
    started.elapsed()
}

/// What a table takes on disk, in bytes, as the database reports it.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// The rows (PostgreSQL: heap, TOAST and their maps; MariaDB: the
    /// clustered primary-key index that holds the rows; SQLite: the
    /// `WITHOUT ROWID` table's b-tree, which is its primary key, overflow
    /// pages included).
    pub table: u64,
    /// Indexes beside the rows (PostgreSQL: the primary key's b-tree;
    /// MariaDB: secondary indexes, none; SQLite: none).
    pub index: u64,
}

impl Size {
    pub fn total(&self) -> u64 {
        self.table + self.index
    }
}

/// A statement's query plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `load` or `update`.
    pub statement: &'static str,
    /// The plan as the database prints it, one line per node.
    pub lines: Vec<String>,
    /// Whether it finds the row through the primary key, without a scan.
    pub index_lookup: bool,
}

/// A SQL store the scale tools can fill and inspect.
pub trait ScaleStore: MfaStore + Clone + Send + Sync + 'static {
    /// The database's name, for reports.
    const NAME: &'static str;
    /// Inserts `rows` in one multi-row `INSERT`, at version 1.
    async fn insert(&self, rows: &[Row]) -> sqlx::Result<()>;
    /// The rows of `mfa_enrollments`.
    async fn count(&self) -> sqlx::Result<u64>;
    /// Refreshes the planner's statistics (and, where it depends on them,
    /// the reported size).
    async fn analyze(&self) -> sqlx::Result<()>;
    /// The table's size on disk.
    async fn size(&self) -> sqlx::Result<Size>;
    /// The plans of the store's load and compare-and-swap update of `user`.
    async fn plans(&self, user: &str) -> sqlx::Result<[Plan; 2]>;
}

/// One multi-row `INSERT` of `$rows` at version 1, `$now` being the
/// database's expression of the current time for `updated_at`.
macro_rules! insert_rows {
    ($pool:expr, $db:ty, $now:expr, $rows:expr) => {{
        let mut query = QueryBuilder::<$db>::new(
            "INSERT INTO mfa_enrollments (user_id, version, record, write_id, updated_at) ",
        );
        query.push_values($rows, |mut row, r| {
            row.push_bind(r.user_id.as_str())
                .push("1")
                .push_bind(r.record.as_str())
                .push_bind(&r.write_id[..])
                .push($now);
        });
        query.build().execute($pool).await.map(drop)
    }};
}

impl ScaleStore for PostgresStore {
    const NAME: &'static str = "PostgreSQL";

    async fn insert(&self, rows: &[Row]) -> sqlx::Result<()> {
        insert_rows!(self.pool(), sqlx::Postgres, "now()", rows)
    }

    async fn count(&self) -> sqlx::Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM mfa_enrollments")
            .fetch_one(self.pool())
            .await?;
        Ok(n.unsigned_abs())
    }

    async fn analyze(&self) -> sqlx::Result<()> {
        sqlx::query("ANALYZE mfa_enrollments")
            .execute(self.pool())
            .await
            .map(drop)
    }

    async fn size(&self) -> sqlx::Result<Size> {
        let (total, index): (i64, i64) = sqlx::query_as(
            "SELECT pg_total_relation_size('mfa_enrollments'), pg_indexes_size('mfa_enrollments')",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(Size {
            table: (total - index).unsigned_abs(),
            index: index.unsigned_abs(),
        })
    }

    async fn plans(&self, user: &str) -> sqlx::Result<[Plan; 2]> {
        let explain = async |statement, sql: &str, update: bool| {
            let query =
                sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")));
            let query = if update {
                query
                    .bind(2_i64)
                    .bind("{}")
                    .bind(vec![0_u8; 16])
                    .bind(None::<Vec<u8>>)
                    .bind(user)
                    .bind(1_i64)
            } else {
                query.bind(user)
            };
            let lines = query.fetch_all(self.pool()).await?;
            let index_lookup = lines
                .iter()
                .any(|l| l.contains("Index Scan using mfa_enrollments_pkey"))
                && !lines.iter().any(|l| l.contains("Seq Scan"));
            Ok::<_, sqlx::Error>(Plan {
                statement,
                lines,
                index_lookup,
            })
        };
        Ok([
            explain("load", PostgresStore::LOAD_SQL, false).await?,
            explain("update", PostgresStore::UPDATE_SQL, true).await?,
        ])
    }
}

impl ScaleStore for MysqlStore {
    const NAME: &'static str = "MariaDB";

    async fn insert(&self, rows: &[Row]) -> sqlx::Result<()> {
        insert_rows!(self.pool(), sqlx::MySql, "UTC_TIMESTAMP()", rows)
    }

    async fn count(&self) -> sqlx::Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM mfa_enrollments")
            .fetch_one(self.pool())
            .await?;
        Ok(n.unsigned_abs())
    }

    async fn analyze(&self) -> sqlx::Result<()> {
        sqlx::raw_sql("ANALYZE TABLE mfa_enrollments")
            .execute(self.pool())
            .await
            .map(drop)
    }

    async fn size(&self) -> sqlx::Result<Size> {
        let (table, index): (u64, u64) = sqlx::query_as(
            "SELECT data_length, index_length FROM information_schema.TABLES
             WHERE table_schema = DATABASE() AND table_name = 'mfa_enrollments'",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(Size { table, index })
    }

    async fn plans(&self, user: &str) -> sqlx::Result<[Plan; 2]> {
        let explain = async |statement, sql: &str, update: bool| {
            let query = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")));
            let query = if update {
                query
                    .bind(2_i64)
                    .bind("{}")
                    .bind(vec![0_u8; 16])
                    .bind(None::<Vec<u8>>)
                    .bind(user.as_bytes().to_vec())
                    .bind(1_i64)
            } else {
                query.bind(user.as_bytes().to_vec())
            };
            let rows = query.fetch_all(self.pool()).await?;
            let mut lines = Vec::new();
            let mut index_lookup = !rows.is_empty();
            for row in rows {
                let kind: Option<String> = row.try_get("type")?;
                let key: Option<String> = row.try_get("key")?;
                let estimate: Option<String> = row
                    .try_get::<Option<u64>, _>("rows")
                    .map(|r| r.map(|r| r.to_string()))
                    .or_else(|_| row.try_get::<Option<String>, _>("rows"))?;
                let extra: Option<String> = row.try_get("Extra")?;
                index_lookup &= key.as_deref() == Some("PRIMARY")
                    && matches!(kind.as_deref(), Some("const" | "eq_ref" | "range"));
                lines.push(format!(
                    "type={} key={} rows={} extra={}",
                    kind.unwrap_or_default(),
                    key.unwrap_or_default(),
                    estimate.unwrap_or_default(),
                    extra.unwrap_or_default()
                ));
            }
            Ok::<_, sqlx::Error>(Plan {
                statement,
                lines,
                index_lookup,
            })
        };
        Ok([
            explain("load", MysqlStore::LOAD_SQL, false).await?,
            explain("update", MysqlStore::UPDATE_SQL, true).await?,
        ])
    }
}

impl ScaleStore for SqliteStore {
    const NAME: &'static str = "SQLite";

    async fn insert(&self, rows: &[Row]) -> sqlx::Result<()> {
        insert_rows!(
            self.pool(),
            sqlx::Sqlite,
            "CAST(strftime('%s', 'now') AS INTEGER)",
            rows
        )
    }

    async fn count(&self) -> sqlx::Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM mfa_enrollments")
            .fetch_one(self.pool())
            .await?;
        Ok(n.unsigned_abs())
    }

    async fn analyze(&self) -> sqlx::Result<()> {
        // The size is read from the database file: move the WAL into it.
        sqlx::raw_sql("ANALYZE mfa_enrollments; PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(self.pool())
            .await
            .map(drop)
    }

    async fn size(&self) -> sqlx::Result<Size> {
        let table: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = 'mfa_enrollments'",
        )
        .fetch_one(self.pool())
        .await?;
        let index: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(pgsize), 0) FROM dbstat
             WHERE name IN (SELECT name FROM sqlite_schema
                            WHERE type = 'index' AND tbl_name = 'mfa_enrollments')",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(Size {
            table: table.unsigned_abs(),
            index: index.unsigned_abs(),
        })
    }

    async fn plans(&self, user: &str) -> sqlx::Result<[Plan; 2]> {
        let explain = async |statement, sql: &str, update: bool| {
            let query = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")));
            let query = if update {
                query
                    .bind(2_i64)
                    .bind("{}")
                    .bind(vec![0_u8; 16])
                    .bind(None::<Vec<u8>>)
                    .bind(user)
                    .bind(1_i64)
            } else {
                query.bind(user)
            };
            let lines: Vec<String> = query
                .fetch_all(self.pool())
                .await?
                .iter()
                .map(|row| row.try_get("detail"))
                .collect::<sqlx::Result<_>>()?;
            let index_lookup = !lines.is_empty()
                && lines
                    .iter()
                    .all(|l| l.starts_with("SEARCH mfa_enrollments USING PRIMARY KEY (user_id=?)"));
            Ok::<_, sqlx::Error>(Plan {
                statement,
                lines,
                index_lookup,
            })
        };
        Ok([
            explain("load", SqliteStore::LOAD_SQL, false).await?,
            explain("update", SqliteStore::UPDATE_SQL, true).await?,
        ])
    }
}
