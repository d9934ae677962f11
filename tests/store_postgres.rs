//! The PostgreSQL store against a real server: the conformance suite, stores
//! sharing one database, migrations, corrupt rows, and a server that goes
//! away, hangs or comes back.
//!
//! The server is named by `MFA_TEST_POSTGRES_URL`. Without it the suites that
//! need a server are left out, with a note on stderr, unless `CI` is set, in
//! which case they fail. Each test works in a schema of its own.

mod common;
mod store_common;

use std::io::Write;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mfa::testkit::conformance::{self, sample_records, user};
use mfa::{Error, MfaEnrollment, MfaStore, PostgresStore, store::WriteId};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;

const URL_VAR: &str = "MFA_TEST_POSTGRES_URL";

/// The test server's URL, or `None` when the PostgreSQL suites are left out.
/// Panics when `CI` is set and the URL is not: in CI they must run.
fn postgres_url() -> Option<String> {
    static NOTED: AtomicBool = AtomicBool::new(false);
    if let Ok(url) = std::env::var(URL_VAR)
        && !url.trim().is_empty()
    {
        return Some(url);
    }
    if std::env::var("CI").is_ok_and(|ci| !ci.is_empty()) {
        panic!(
            "{URL_VAR} is not set but CI is: the PostgreSQL suites must run in CI \
             (.ci/postgres.sh starts a server and sets {URL_VAR})"
        );
    }
    if !NOTED.swap(true, Ordering::SeqCst) {
        // Straight to stderr, past the test harness's capture, so that a plain
        // `cargo test` shows what it left out.
        let _ = writeln!(
            std::io::stderr(),
            "note: the PostgreSQL store suites (tests/store_postgres.rs) were left out: \
             {URL_VAR} is not set. To run them: \
             {URL_VAR}=postgres://postgres@127.0.0.1:5432/postgres cargo test --test store_postgres"
        );
    }
    None
}

/// A schema of the test's own in the test database.
struct TestDb {
    url: String,
    schema: String,
    admin: PgPool,
}

impl TestDb {
    /// `None` when the PostgreSQL suites are left out.
    async fn new() -> Option<Self> {
        let url = postgres_url()?;
        let admin = PgPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach the test server at {URL_VAR}: {e}"));
        let schema = user("mfa_t").replace('-', "_");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await
            .unwrap();
        Some(TestDb { url, schema, admin })
    }

    /// Connect options that put the test's schema first.
    fn options(&self) -> PgConnectOptions {
        PgConnectOptions::from_str(&self.url)
            .unwrap()
            .options([("search_path", &self.schema)])
    }

    /// The test URL with the test's schema first, for `PostgresStore::connect`.
    fn store_url(&self) -> String {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        format!(
            "{}{separator}options=-c%20search_path%3D{}",
            self.url, self.schema
        )
    }

    async fn store(&self) -> PostgresStore {
        PostgresStore::connect(&self.store_url())
            .await
            .expect("the store opens")
    }

    async fn host_pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(self.options())
            .await
            .unwrap()
    }

    async fn finish(self) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA {} CASCADE",
            self.schema
        )))
        .execute(&self.admin)
        .await
        .unwrap();
        self.admin.close().await;
    }
}

fn assert_unavailable<T: std::fmt::Debug>(result: mfa::Result<T>, what: &str) {
    match result {
        Err(e @ Error::StoreUnavailable(_)) => assert_eq!(e.code(), "STORE_UNAVAILABLE"),
        other => panic!("{what}: expected StoreUnavailable, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let store = db.store().await;
    conformance::run(Arc::new(store.clone())).await;
    store.pool().close().await;
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_through_a_host_pool() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let pool = db.host_pool().await;
    sqlx::query("CREATE TABLE users (id TEXT PRIMARY KEY)")
        .execute(&pool)
        .await
        .unwrap();
    let store = PostgresStore::from_pool(pool.clone()).await.unwrap();
    conformance::run(Arc::new(store)).await;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = $1 ORDER BY table_name",
    )
    .bind(&db.schema)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        tables,
        ["mfa_enrollments", "mfa_schema_migrations", "users"],
        "the crate keeps to its own tables, in the first schema of the search path"
    );
    pool.close().await;
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_share_one_database() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let (a, b) = (Arc::new(db.store().await), Arc::new(db.store().await));
    store_common::no_lost_updates_across_stores(Arc::clone(&a), Arc::clone(&b)).await;
    store_common::races_across_stores(Arc::clone(&a), Arc::clone(&b)).await;
    a.pool().close().await;
    b.pool().close().await;
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_whole_service_flow() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let store = db.store().await;
    store_common::service_flow(store.clone()).await;
    store.pool().close().await;
    db.finish().await;
}

async fn migration_rows(pool: &PgPool) -> Vec<(i64, String)> {
    sqlx::query_as("SELECT version, description FROM mfa_schema_migrations ORDER BY version")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_opens_migrate_once() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let url = db.store_url();
    let opens: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PostgresStore::connect(&url).await })
        })
        .collect();
    let mut stores = Vec::new();
    for open in opens {
        stores.push(open.await.unwrap().expect("a concurrent open succeeds"));
    }
    let rows = migration_rows(stores[0].pool()).await;
    assert_eq!(
        rows,
        [
            (1, "mfa_enrollments".to_owned()),
            (2, "mfa_enrollments.write_id".to_owned())
        ]
    );

    let id = user("migrate");
    stores[3]
        .save(&id, None, &MfaEnrollment::Disabled, WriteId::random())
        .await
        .unwrap();
    let again = db.store().await;
    assert_eq!(migration_rows(again.pool()).await, rows);
    assert_eq!(again.load(&id).await.unwrap().unwrap().version, 1);
    for store in stores.iter().chain([&again]) {
        store.pool().close().await;
    }
    db.finish().await;
}

#[tokio::test]
async fn the_connect_pool_has_server_side_timeouts() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let store = db.store().await;
    let timeout: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(timeout, "5s");
    store.pool().close().await;

    // One set in the URL is kept.
    let url = format!("{}%20-c%20statement_timeout%3D42s", db.store_url());
    let store = PostgresStore::connect(&url).await.unwrap();
    let timeout: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(timeout, "42s");
    store.pool().close().await;
    db.finish().await;
}

#[tokio::test]
async fn corrupt_rows_are_corrupt_records() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let store = db.store().await;
    let insert = "INSERT INTO mfa_enrollments (user_id, version, record) VALUES ($1, $2, $3)";
    for (tag, record) in [
        ("not-json", "this is not json"),
        ("truncated", r#"{"format":"mfa/1","state":"act"#),
        (
            "unknown-format",
            r#"{"format":"mfa/999","state":"disabled"}"#,
        ),
        ("wrong-shape", r#"{"format":"mfa/1","state":"active"}"#),
    ] {
        let id = user(tag);
        sqlx::query(insert)
            .bind(&id)
            .bind(1i64)
            .bind(record)
            .execute(store.pool())
            .await
            .unwrap();
        let loaded = store.load(&id).await;
        assert!(
            matches!(loaded, Err(Error::CorruptRecord(_))),
            "{tag}: {loaded:?}"
        );
    }
    // The schema refuses versions below 1; without that check, decoding does.
    let id = user("version");
    let refused = sqlx::query(insert)
        .bind(&id)
        .bind(0i64)
        .bind(MfaEnrollment::Disabled.to_json())
        .execute(store.pool())
        .await;
    assert!(refused.is_err(), "the CHECK constraint holds");
    sqlx::query("ALTER TABLE mfa_enrollments DROP CONSTRAINT mfa_enrollments_version_check")
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query(insert)
        .bind(&id)
        .bind(-1i64)
        .bind(MfaEnrollment::Disabled.to_json())
        .execute(store.pool())
        .await
        .unwrap();
    assert!(matches!(
        store.load(&id).await,
        Err(Error::CorruptRecord(_))
    ));
    store.pool().close().await;
    db.finish().await;
}

#[tokio::test]
async fn user_ids_postgres_cannot_hold_are_typed_errors() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let store = db.store().await;
    assert!(store.load("nul\0byte").await.unwrap().is_none());
    assert!(matches!(
        store
            .save(
                "nul\0byte",
                None,
                &MfaEnrollment::Disabled,
                WriteId::random()
            )
            .await,
        Err(Error::InvalidInput(_))
    ));
    store.pool().close().await;
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_timeout_writes_nothing() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(db.options().options([("statement_timeout", "300ms")]))
        .await
        .unwrap();
    let store = PostgresStore::from_pool(pool).await.unwrap();
    let id = user("row-lock");
    let old = sample_records(&id).remove(1);
    store
        .save(&id, None, &old, WriteId::random())
        .await
        .unwrap();

    // Another session holds the row.
    let holder = db.host_pool().await;
    let mut lock = holder.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM mfa_enrollments WHERE user_id = $1 FOR UPDATE")
        .bind(&id)
        .execute(&mut *lock)
        .await
        .unwrap();
    let started = Instant::now();
    assert_unavailable(
        store
            .save(&id, Some(1), &MfaEnrollment::Disabled, WriteId::random())
            .await,
        "row locked past the statement timeout",
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    lock.rollback().await.unwrap();
    let loaded = store.load(&id).await.unwrap().unwrap();
    assert_eq!((loaded.version, loaded.record), (1, old));
    holder.close().await;
    store.pool().close().await;
    db.finish().await;
}

/// A port on the loopback interface with nothing listening.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn a_server_that_is_not_there_is_unavailable() {
    // No PostgreSQL needed: nothing listens on the port.
    let port = closed_port().await;
    let started = Instant::now();
    assert_unavailable(
        PostgresStore::connect(&format!("postgres://postgres@127.0.0.1:{port}/mfa")).await,
        "closed port",
    );
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(8), "took {elapsed:?}");
}

#[tokio::test]
async fn bad_urls_are_typed_errors() {
    for url in [
        "not a url",
        "postgres://host:notaport/db",
        "postgres://[::1/db",
    ] {
        assert!(
            matches!(
                PostgresStore::connect(url).await,
                Err(Error::InvalidConfig(_))
            ),
            "{url}"
        );
    }
}

/// What the proxy between the store and the server does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// Forwards both ways.
    Up,
    /// Stops forwarding but keeps every socket open: a server that hangs.
    Hung,
    /// Closes every connection and the listening socket: a server that is gone.
    Down,
}

/// A TCP proxy in front of the test server, so that a test can take "the
/// server" away and bring it back without touching the real one. Each
/// listening period has its own channel: when the proxy goes down, the
/// channel's sender is dropped, which ends every task of that period.
struct Proxy {
    port: u16,
    target: SocketAddr,
    period: std::sync::Mutex<Option<(watch::Sender<Link>, tokio::task::JoinHandle<()>)>>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Self {
        let mut proxy = Proxy {
            port: 0,
            target,
            period: std::sync::Mutex::new(None),
        };
        proxy.port = proxy.listen(0);
        proxy
    }

    fn listen(&self, port: u16) -> u16 {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], port)))
            .unwrap();
        let listener = socket.listen(64).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (sender, mut link) = watch::channel(Link::Up);
        let (target, for_pipes) = (self.target, sender.subscribe());
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((client, _)) = accepted else { return };
                        tokio::spawn(pipe(client, target, for_pipes.clone()));
                    }
                    _ = link.wait_for(|l| *l == Link::Down) => return,
                }
            }
        });
        *self.period.lock().unwrap() = Some((sender, task));
        port
    }

    /// Stops forwarding, keeping every socket open.
    fn hang(&self) {
        if let Some((sender, _)) = &*self.period.lock().unwrap() {
            sender.send_replace(Link::Hung);
        }
    }

    /// Closes every connection and the listening socket.
    async fn down(&self) {
        let period = self.period.lock().unwrap().take();
        if let Some((sender, task)) = period {
            sender.send_replace(Link::Down);
            drop(sender);
            task.await.unwrap();
        }
    }

    /// Listens again on the same port.
    async fn restart(&self) {
        self.down().await;
        self.listen(self.port);
    }
}

async fn pipe(mut client: TcpStream, target: SocketAddr, mut link: watch::Receiver<Link>) {
    if *link.borrow() != Link::Up {
        let _ = link.wait_for(|l| *l == Link::Down).await;
        return;
    }
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    let hung = tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => false,
        _ = link.wait_for(|l| *l != Link::Up) => true,
    };
    if hung {
        // Hold both sockets, say nothing, until the link goes down.
        let _ = link.wait_for(|l| *l == Link::Down).await;
    }
}

/// The test server's address, resolved from its URL.
async fn server_addr(url: &str) -> SocketAddr {
    let options = PgConnectOptions::from_str(url).unwrap();
    tokio::net::lookup_host((options.get_host(), options.get_port()))
        .await
        .unwrap()
        .next()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_that_goes_away_is_unavailable_and_comes_back_intact() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let proxy = Proxy::start(server_addr(&db.url).await).await;
    let options = db.options().port(proxy.port).host("127.0.0.1");
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(2))
        .connect_with(options)
        .await
        .unwrap();
    let store = PostgresStore::from_pool(pool)
        .await
        .unwrap()
        .with_timeout(Duration::from_secs(3));
    let id = user("outage");
    let record = sample_records(&id).remove(2);
    store
        .save(&id, None, &record, WriteId::random())
        .await
        .unwrap();

    // The server goes away: every operation fails fast, with the typed error.
    proxy.down().await;
    for _ in 0..2 {
        let started = Instant::now();
        assert_unavailable(store.load(&id).await, "server gone: load");
        assert_unavailable(
            store
                .save(&id, Some(1), &MfaEnrollment::Disabled, WriteId::random())
                .await,
            "server gone: save",
        );
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_secs(8), "took {elapsed:?}");
    }

    // It comes back: the store recovers on its own, and the failed saves
    // wrote nothing.
    proxy.restart().await;
    let loaded = store
        .load(&id)
        .await
        .expect("recovers after the outage")
        .unwrap();
    assert_eq!((loaded.version, &loaded.record), (1, &record));

    // The server hangs mid-connection: the operation timeout answers.
    proxy.hang();
    let started = Instant::now();
    assert_unavailable(
        store
            .save(&id, Some(1), &MfaEnrollment::Disabled, WriteId::random())
            .await,
        "server hung: save",
    );
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    proxy.restart().await;
    let loaded = store
        .load(&id)
        .await
        .expect("recovers after the hang")
        .unwrap();
    assert_eq!((loaded.version, &loaded.record), (1, &record));
    assert_eq!(
        store
            .save(&id, Some(1), &MfaEnrollment::Disabled, WriteId::random())
            .await
            .unwrap(),
        2
    );
    store.pool().close().await;
    proxy.down().await;
    db.finish().await;
}

/// A database written by a release without write identities (schema step 1
/// only) is migrated in place: its rows load, as `WriteId::NONE`, and save.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_from_before_write_ids_migrates_in_place() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let id = user("schema1");
    let active = sample_records(&id).remove(2);
    let pool = db.host_pool().await;
    sqlx::raw_sql(
        "CREATE TABLE mfa_schema_migrations (
             version BIGINT NOT NULL PRIMARY KEY,
             description TEXT NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
         INSERT INTO mfa_schema_migrations (version, description) VALUES (1, 'mfa_enrollments');
         CREATE TABLE mfa_enrollments (
             user_id TEXT NOT NULL PRIMARY KEY,
             version BIGINT NOT NULL CHECK (version > 0),
             record TEXT NOT NULL,
             updated_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO mfa_enrollments (user_id, version, record) VALUES ($1, 4, $2)")
        .bind(&id)
        .bind(active.to_json())
        .execute(&pool)
        .await
        .unwrap();
    let store = PostgresStore::from_pool(pool.clone()).await.unwrap();
    assert_eq!(migration_rows(&pool).await.len(), 2);
    let old = store.load(&id).await.unwrap().unwrap();
    assert_eq!((old.version, old.write_id), (4, WriteId::NONE));
    assert_eq!(old.record, active);
    let write_id = WriteId::random();
    assert_eq!(
        store
            .save(&id, Some(4), &old.record, write_id)
            .await
            .unwrap(),
        5
    );
    assert_eq!(store.load(&id).await.unwrap().unwrap().write_id, write_id);
    pool.close().await;
    db.finish().await;
}
