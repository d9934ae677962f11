//! Does a login cost the same with a million users in the table?
//!
//! For each SQL store (SQLite, PostgreSQL, MariaDB), one table per user
//! count (10,000 and 1,000,000 by default), seeded in bulk by
//! `benches/scale/` (records of the crate's format, each user with a TOTP
//! secret sealed for it, multi-row `INSERT`s on the store's pool), then the
//! login second step through `mfa::Mfa` on the real store:
//! `complete_login(&challenge, code)` (one indexed load, the TOTP check, one
//! compare-and-swap save) with a fresh TOTP code on users drawn at random
//! across the table, the challenges fetched untimed beforehand. The clock is a
//! `ManualClock` that moves one TOTP step per round, so every login of a
//! round has an unused step; no user logs in twice in a round. The records
//! carry a backup-code set hashed once with the default Argon2id parameters;
//! no login here runs Argon2.
//!
//! The user counts take turns, round by round, at each number of concurrent
//! clients, so that the machine's other load falls on both. Printed: the
//! seeding rate, the bytes per user on disk from the database's own size
//! functions, the query plans of the store's load and update statements,
//! p50/p99 latency and operations per second at each count, and the ratio of
//! the largest count to the smallest against the 1.3× target.
//!
//! ```sh
//! cargo bench --bench million                                  # SQLite, and the servers whose URL is set
//! MFA_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
//! MFA_TEST_MYSQL_URL=mysql://user:password@127.0.0.1:3306/mfa_scale \
//!     cargo bench --bench million -- --stores sqlite,postgres,mysql
//! cargo bench --bench million -- --users 10000,100000 --ops 500 --rounds 3 --clients 1
//! ```
//!
//! Options: `--users N,N…` (default `10000,1000000`), `--stores` (`sqlite`,
//! `postgres`, `mysql`; default SQLite and each server whose URL variable is
//! set), `--ops N` per round, user count and client count (default 500),
//! `--rounds N` (default 10, after one untimed warm-up round), `--clients
//! N,N…` (default `1,16`), `--dir PATH` for the SQLite files (default a
//! directory `mfa-scale` in the system's temporary directory), `--keep` to
//! keep the databases for the next run (a table that already holds exactly
//! N rows is then used as it is, unless `--reseed`).
//!
//! Each table lives in a database of its own: SQLite `users-N.db`, PostgreSQL
//! the schema `mfa_scale_N`, MariaDB the database `mfa_scale_N` (the URL's
//! user needs the right to create it). Without `--keep` they are dropped at
//! the end. A million users take about 1.3 to 4.5 GB per database.

mod common;
#[path = "scale/mod.rs"]
mod scale;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mfa::testkit::ManualClock;
use mfa::{LoginStep, Mfa, MysqlStore, PostgresStore, SqliteStore};
use scale::{Plan, ScaleStore, Size, Users};
use sqlx::{MySqlPool, PgPool};

/// When the users were enrolled (unix seconds); see [`clock_start`].
const ENROLLED_AT: u64 = 1_700_000_000;
/// The target: the largest count within this factor of the smallest.
const TARGET: f64 = 1.3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Postgres,
    Mysql,
}

impl Kind {
    fn url_var(self) -> Option<&'static str> {
        match self {
            Kind::Sqlite => None,
            Kind::Postgres => Some("MFA_TEST_POSTGRES_URL"),
            Kind::Mysql => Some("MFA_TEST_MYSQL_URL"),
        }
    }

    fn url(self) -> Option<String> {
        let var = self.url_var()?;
        std::env::var(var).ok().filter(|u| !u.trim().is_empty())
    }
}

struct Args {
    users: Vec<u64>,
    stores: Vec<Kind>,
    ops: usize,
    rounds: usize,
    clients: Vec<usize>,
    dir: PathBuf,
    keep: bool,
    reseed: bool,
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "million: {problem}\n\
         usage: cargo bench --bench million -- [--users 10000,1000000] \
         [--stores sqlite,postgres,mysql] [--ops 500] [--rounds 10] [--clients 1,16] \
         [--dir PATH] [--keep] [--reseed]"
    );
    std::process::exit(2)
}

fn list<T: std::str::FromStr>(text: &str, what: &str) -> Vec<T> {
    text.split(',')
        .map(|v| {
            v.trim()
                .replace('_', "")
                .parse()
                .unwrap_or_else(|_| usage(&format!("bad {what}: {v}")))
        })
        .collect()
}

fn args() -> Args {
    let mut args = Args {
        users: vec![10_000, 1_000_000],
        stores: [Kind::Sqlite, Kind::Postgres, Kind::Mysql]
            .into_iter()
            .filter(|k| k.url_var().is_none() || k.url().is_some())
            .collect(),
        ops: 500,
        rounds: 10,
        clients: vec![1, 16],
        dir: std::env::temp_dir().join("mfa-scale"),
        keep: false,
        reseed: false,
    };
    let mut given = std::env::args().skip(1);
    while let Some(arg) = given.next() {
        let mut value = || {
            given
                .next()
                .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            // Passed by `cargo bench`.
            "--bench" => {}
            "--users" => args.users = list(&value(), "user count"),
            "--ops" => args.ops = list(&value(), "operation count")[0],
            "--rounds" => args.rounds = list(&value(), "round count")[0],
            "--clients" => args.clients = list(&value(), "client count"),
            "--dir" => args.dir = PathBuf::from(value()),
            "--keep" => args.keep = true,
            "--reseed" => args.reseed = true,
            "--stores" => {
                args.stores = value()
                    .split(',')
                    .map(|s| match s.trim() {
                        "sqlite" => Kind::Sqlite,
                        "postgres" => Kind::Postgres,
                        "mysql" | "mariadb" => Kind::Mysql,
                        other => usage(&format!("unknown store {other}")),
                    })
                    .collect()
            }
            other => usage(&format!("unknown argument {other}")),
        }
    }
    args.users.sort_unstable();
    args.users.dedup();
    if args.users.is_empty() || args.clients.is_empty() || args.ops == 0 || args.rounds == 0 {
        usage("nothing to measure");
    }
    if let Some(&fewest) = args.users.first()
        && (fewest as usize) < args.ops
    {
        usage("--ops must not exceed the smallest user count (no user logs in twice a round)");
    }
    for kind in &args.stores {
        if let Some(var) = kind.url_var()
            && kind.url().is_none()
        {
            usage(&format!("{var} is not set"));
        }
    }
    args
}

/// `url` with `schema` first in the connections' search path.
fn with_search_path(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}

/// `url` with its path (the database) replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let query = tail.find('?').map_or("", |q| &tail[q..]);
    format!("{scheme}://{authority}/{database}{query}")
}

/// Where one table lives, and how to empty or remove it.
enum Place {
    Sqlite(PathBuf),
    Postgres {
        admin: PgPool,
        url: String,
        schema: String,
    },
    Mysql {
        admin: MySqlPool,
        url: String,
        database: String,
    },
}

impl Place {
    async fn new(kind: Kind, users: u64, dir: &std::path::Path) -> Place {
        let name = format!("mfa_scale_{users}");
        match kind {
            Kind::Sqlite => {
                std::fs::create_dir_all(dir).expect("the SQLite directory");
                Place::Sqlite(dir.join(format!("users-{users}.db")))
            }
            Kind::Postgres => {
                let url = kind.url().expect("checked");
                let admin = PgPool::connect(&url).await.expect("PostgreSQL");
                Place::Postgres {
                    admin,
                    url,
                    schema: name,
                }
            }
            Kind::Mysql => {
                let url = kind.url().expect("checked");
                let admin = MySqlPool::connect(&url).await.expect("MariaDB");
                Place::Mysql {
                    admin,
                    url,
                    database: name,
                }
            }
        }
    }

    /// Drops the table's database, and with `create` makes an empty one.
    async fn reset(&self, create: bool) {
        let run = |sql: String| sqlx::raw_sql(sqlx::AssertSqlSafe(sql));
        match self {
            Place::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Place::Postgres { admin, schema, .. } => {
                let mut sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE;");
                if create {
                    sql += &format!("CREATE SCHEMA {schema};");
                }
                run(sql).execute(admin).await.expect("the schema");
            }
            Place::Mysql {
                admin, database, ..
            } => {
                run(format!("DROP DATABASE IF EXISTS {database}"))
                    .execute(admin)
                    .await
                    .expect("drop the database");
                if create {
                    run(format!("CREATE DATABASE {database}"))
                        .execute(admin)
                        .await
                        .expect("the database");
                }
            }
        }
    }

    /// Makes sure the database exists, keeping what it holds.
    async fn ensure(&self) {
        let run = |sql: String| sqlx::raw_sql(sqlx::AssertSqlSafe(sql));
        match self {
            Place::Sqlite(_) => {}
            Place::Postgres { admin, schema, .. } => {
                run(format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                    .execute(admin)
                    .await
                    .expect("the schema");
            }
            Place::Mysql {
                admin, database, ..
            } => {
                run(format!("CREATE DATABASE IF NOT EXISTS {database}"))
                    .execute(admin)
                    .await
                    .expect("the database");
            }
        }
    }
}

/// Opens the store of a place.
trait Open: ScaleStore {
    async fn open(place: &Place) -> Self;
    async fn close(&self);
}

impl Open for SqliteStore {
    async fn open(place: &Place) -> Self {
        let Place::Sqlite(path) = place else {
            unreachable!()
        };
        SqliteStore::open_file(path)
            .await
            .expect("the SQLite store")
    }
    async fn close(&self) {
        self.pool().close().await;
    }
}

impl Open for PostgresStore {
    async fn open(place: &Place) -> Self {
        let Place::Postgres { url, schema, .. } = place else {
            unreachable!()
        };
        PostgresStore::connect(&with_search_path(url, schema))
            .await
            .expect("the PostgreSQL store")
    }
    async fn close(&self) {
        self.pool().close().await;
    }
}

impl Open for MysqlStore {
    async fn open(place: &Place) -> Self {
        let Place::Mysql { url, database, .. } = place else {
            unreachable!()
        };
        MysqlStore::connect(&with_database(url, database))
            .await
            .expect("the MariaDB store")
    }
    async fn close(&self) {
        self.pool().close().await;
    }
}

/// Where a table's clock starts: one TOTP step for every real second since
/// [`ENROLLED_AT`], so that a table kept from an earlier run (`--keep`),
/// whose users logged in at the steps of that run, finds the steps of this
/// one unused: a run moves each table's clock by one step per round and
/// client count (22 with the defaults), fewer than the seconds between two
/// runs.
fn clock_start() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    ENROLLED_AT + now.saturating_sub(ENROLLED_AT).max(3_600) * 30
}

/// One table of `users` users and the service on it.
struct Table<S> {
    users: u64,
    mfa: Arc<Mfa<S>>,
    clock: ManualClock,
    place: Place,
    /// How long seeding took, if this run seeded.
    seeded: Option<Duration>,
    size: Size,
    plans: [Plan; 2],
}

async fn table<S: Open>(kind: Kind, n: u64, users: &Arc<Users>, args: &Args) -> Table<S> {
    let place = Place::new(kind, n, &args.dir).await;
    let mut seeded = None;
    let mut store = None;
    if !args.reseed {
        place.ensure().await;
        let existing = S::open(&place).await;
        if existing.count().await.expect("count") == n {
            eprintln!(
                "{} {n}: using the {n} users seeded by an earlier run",
                S::NAME
            );
            store = Some(existing);
        } else {
            existing.close().await;
        }
    }
    let store = match store {
        Some(store) => store,
        None => {
            place.reset(true).await;
            let store = S::open(&place).await;
            eprintln!("{} {n}: seeding", S::NAME);
            let took = scale::seed(&store, users, n).await;
            assert_eq!(store.count().await.expect("count"), n, "seeded rows");
            seeded = Some(took);
            store
        }
    };
    store.analyze().await.expect("statistics");
    let size = store.size().await.expect("size");
    let plans = store.plans(&Users::user_id(n / 2)).await.expect("plans");
    let clock = ManualClock::new(clock_start());
    let mfa = Mfa::new(store, common::default_config()).with_clock(clock.clone());
    Table {
        users: n,
        mfa: Arc::new(mfa),
        clock,
        place,
        seeded,
        size,
        plans,
    }
}

/// One round: `ops` logins of distinct random users by `clients` clients.
/// Returns each login's latency and the round's wall time.
async fn round<S: ScaleStore>(
    table: &Table<S>,
    users: &Users,
    ops: usize,
    clients: usize,
) -> (Vec<Duration>, Duration) {
    table.clock.advance(30);
    let now = table.clock.get();
    let picked = rand::seq::index::sample(&mut rand::rng(), table.users as usize, ops);
    let mut work: Vec<Vec<_>> = (0..clients).map(|_| Vec::new()).collect();
    for (k, i) in picked.into_iter().enumerate() {
        let i = i as u64;
        let user = Users::user_id(i);
        let LoginStep::SecondFactor(challenge) = table
            .mfa
            .begin_login(&user, None)
            .await
            .expect("begin_login")
        else {
            panic!("{user} has no active factor");
        };
        work[k % clients].push((challenge, users.code(i, now)));
    }
    let started = Instant::now();
    let tasks: Vec<_> = work
        .into_iter()
        .map(|logins| {
            let mfa = Arc::clone(&table.mfa);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(logins.len());
                for (challenge, code) in logins {
                    let t = Instant::now();
                    mfa.complete_login(&challenge, &code)
                        .await
                        .expect("a fresh TOTP code logs in");
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(ops);
    for task in tasks {
        latencies.extend(task.await.expect("a client"));
    }
    (latencies, started.elapsed())
}

#[derive(Default)]
struct Stats {
    latencies: Vec<Duration>,
    wall: Duration,
}

impl Stats {
    fn quantile(&self, q: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let at = ((sorted.len() as f64 * q) as usize).min(sorted.len() - 1);
        sorted[at].as_secs_f64() * 1e3
    }

    fn ops_per_sec(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

async fn bench<S: Open>(kind: Kind, users: &Arc<Users>, args: &Args) -> bool {
    let mut tables = Vec::new();
    for &n in &args.users {
        tables.push(table::<S>(kind, n, users, args).await);
    }
    let record = users.record_len();

    println!("\n### {}\n", S::NAME);
    println!("| users | seeding | users/s | table | index | bytes/user (table + index) |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for t in &tables {
        let (took, rate) = t
            .seeded
            .map_or(("earlier run".to_owned(), "–".to_owned()), |d| {
                (
                    format!("{:.1} s", d.as_secs_f64()),
                    format!("{:.0}", t.users as f64 / d.as_secs_f64()),
                )
            });
        println!(
            "| {} | {took} | {rate} | {:.1} MiB | {:.1} MiB | {:.0} ({:.0} + {:.0}) |",
            t.users,
            mib(t.size.table),
            mib(t.size.index),
            t.size.total() as f64 / t.users as f64,
            t.size.table as f64 / t.users as f64,
            t.size.index as f64 / t.users as f64,
        );
    }
    println!("\nRecord: {record} bytes of JSON; user id: 13 bytes.\n");
    let mut plans_ok = true;
    for t in &tables {
        for plan in &t.plans {
            plans_ok &= plan.index_lookup;
            println!(
                "- {} users, {}: {} — {}",
                t.users,
                plan.statement,
                plan.lines.join(" / "),
                if plan.index_lookup {
                    "primary-key lookup"
                } else {
                    "NOT A PRIMARY-KEY LOOKUP"
                }
            );
        }
    }

    // Stats per (clients, table), the tables taking turns round by round.
    let mut stats: Vec<Vec<Stats>> = args
        .clients
        .iter()
        .map(|_| tables.iter().map(|_| Stats::default()).collect())
        .collect();
    for r in 0..=args.rounds {
        for (c, &clients) in args.clients.iter().enumerate() {
            let mut order: Vec<usize> = (0..tables.len()).collect();
            if r % 2 == 1 {
                order.reverse();
            }
            for t in order {
                let (latencies, wall) = round(&tables[t], users, args.ops, clients).await;
                // Round 0 warms up.
                if r > 0 {
                    stats[c][t].latencies.extend(latencies);
                    stats[c][t].wall += wall;
                }
            }
        }
    }

    println!("\n| users | clients | logins | p50 ms | p99 ms | logins/s |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for (c, &clients) in args.clients.iter().enumerate() {
        for (t, table) in tables.iter().enumerate() {
            let s = &stats[c][t];
            println!(
                "| {} | {clients} | {} | {:.3} | {:.3} | {:.0} |",
                table.users,
                s.latencies.len(),
                s.quantile(0.5),
                s.quantile(0.99),
                s.ops_per_sec()
            );
        }
    }
    let (first, last) = (0, tables.len() - 1);
    let mut met = plans_ok;
    if last > first {
        println!(
            "\n| clients | p50 {}÷{} | p99 | logins/s {}÷{} | within {TARGET}× |",
            tables[last].users, tables[first].users, tables[first].users, tables[last].users
        );
        println!("|---:|---:|---:|---:|---|");
        for (c, &clients) in args.clients.iter().enumerate() {
            let (small, large) = (&stats[c][first], &stats[c][last]);
            let ratios = [
                large.quantile(0.5) / small.quantile(0.5),
                large.quantile(0.99) / small.quantile(0.99),
                small.ops_per_sec() / large.ops_per_sec(),
            ];
            let within = ratios.iter().all(|r| *r <= TARGET);
            met &= within;
            println!(
                "| {clients} | {:.2}× | {:.2}× | {:.2}× | {} |",
                ratios[0],
                ratios[1],
                ratios[2],
                if within { "yes" } else { "**no**" }
            );
        }
    }
    for t in tables {
        if !args.keep {
            t.mfa.store().close().await;
            t.place.reset(false).await;
        }
    }
    met
}

fn main() {
    let args = args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        println!(
            "million: users {:?}, {} logins per round × {} rounds (after a warm-up round), clients {:?}; \
             {} CPUs; load average {}",
            args.users,
            args.ops,
            args.rounds,
            args.clients,
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            load.split(' ').take(3).collect::<Vec<_>>().join(" ")
        );
        // Default Argon2id for the backup-code set every record carries
        // (hashed once), default TOTP policy.
        let users = Arc::new(Users::new(common::default_config(), ENROLLED_AT));
        let mut verdicts = Vec::new();
        for &kind in &args.stores {
            let met = match kind {
                Kind::Sqlite => bench::<SqliteStore>(kind, &users, &args).await,
                Kind::Postgres => bench::<PostgresStore>(kind, &users, &args).await,
                Kind::Mysql => bench::<MysqlStore>(kind, &users, &args).await,
            };
            verdicts.push((kind, met));
        }
        println!();
        for (kind, met) in verdicts {
            println!(
                "{kind:?}: {}",
                if met {
                    "index lookups, and within the target"
                } else {
                    "a plan is not an index lookup, or the target is missed"
                }
            );
        }
    });
}
