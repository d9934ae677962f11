//! One set-up for the suites that need a database server, PostgreSQL or
//! MariaDB (MySQL): the server's URL from the environment, the suites left out
//! with a note when it is missing (or failing, when `CI` is set), a fresh
//! schema (PostgreSQL) or database (MySQL) per test, a TCP proxy that takes
//! the server away, and the outage checks every such store must pass.
#![allow(dead_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mfa::store::WriteId;
use mfa::testkit::conformance::{sample_records, user};
use mfa::{Error, MfaEnrollment, MfaStore};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool};
use sqlx::postgres::{PgConnectOptions, PgPool};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;

/// A kind of database server the suites run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Server {
    Postgres,
    Mysql,
}

impl Server {
    /// The variable holding the server's URL.
    pub fn url_var(self) -> &'static str {
        match self {
            Server::Postgres => "MFA_TEST_POSTGRES_URL",
            Server::Mysql => "MFA_TEST_MYSQL_URL",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Server::Postgres => "PostgreSQL",
            Server::Mysql => "MySQL (MariaDB)",
        }
    }

    /// The URL scheme.
    pub fn scheme(self) -> &'static str {
        match self {
            Server::Postgres => "postgres",
            Server::Mysql => "mysql",
        }
    }

    /// What the variable may look like.
    pub fn example(self) -> &'static str {
        match self {
            Server::Postgres => "postgres://postgres@127.0.0.1:5432/postgres",
            Server::Mysql => "mysql://mfa_test:PASSWORD@127.0.0.1:3306/mfa_test",
        }
    }

    /// The CI script that starts the server and sets the variable.
    fn script(self) -> &'static str {
        match self {
            Server::Postgres => ".ci/postgres.sh",
            Server::Mysql => ".ci/mariadb.sh",
        }
    }

    /// The server's URL, or `None` when the suites that need it are left out
    /// (said once per test binary on stderr). Panics when `CI` is set and the
    /// URL is not: in CI they must run.
    pub fn url(self) -> Option<String> {
        static NOTED: Mutex<Vec<Server>> = Mutex::new(Vec::new());
        let var = self.url_var();
        if let Ok(url) = std::env::var(var)
            && !url.trim().is_empty()
        {
            return Some(url);
        }
        let test = env!("CARGO_CRATE_NAME");
        if std::env::var("CI").is_ok_and(|ci| !ci.is_empty()) {
            panic!(
                "{var} is not set but CI is: the {} suites of tests/{test}.rs must run in CI \
                 ({} starts a server and sets {var})",
                self.name(),
                self.script()
            );
        }
        let mut noted = NOTED.lock().unwrap_or_else(|e| e.into_inner());
        if !noted.contains(&self) {
            noted.push(self);
            // Straight to stderr, past the test harness's capture, so that a
            // plain `cargo test` shows what it left out.
            let _ = writeln!(
                std::io::stderr(),
                "note: the {} suites of tests/{test}.rs were left out: {var} is not set. \
                 To run them: {var}={} cargo test --test {test} ({} sets one up)",
                self.name(),
                self.example(),
                self.script()
            );
        }
        None
    }
}

/// A schema (PostgreSQL) or database (MySQL) of the test's own on the
/// server, dropped by [`TestDb::finish`].
pub struct TestDb {
    pub server: Server,
    /// Its name: `mfa_test_<unix seconds>_<random>`.
    pub name: String,
    /// A URL whose connections work in it, for the stores' `connect` and the
    /// example server's `--database`.
    pub url: String,
    /// The server's URL, from the environment.
    pub server_url: String,
    admin: Admin,
}

enum Admin {
    Postgres(PgPool),
    Mysql(MySqlPool),
}

impl Admin {
    async fn execute(&self, sql: String) -> Result<(), sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql);
        match self {
            Admin::Postgres(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop),
            Admin::Mysql(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop),
        }
    }

    async fn close(&self) {
        match self {
            Admin::Postgres(pool) => pool.close().await,
            Admin::Mysql(pool) => pool.close().await,
        }
    }
}

/// One connection to the server at `url`, for creating and dropping.
async fn admin_pool<DB: sqlx::Database>(server: Server, url: &str) -> sqlx::Pool<DB> {
    sqlx::pool::PoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test server at {}: {e}", server.url_var()))
}

impl TestDb {
    /// `None` when the suites that need `server` are left out.
    pub async fn new(server: Server) -> Option<TestDb> {
        let server_url = server.url()?;
        let admin = match server {
            Server::Postgres => Admin::Postgres(admin_pool(server, &server_url).await),
            Server::Mysql => Admin::Mysql(admin_pool(server, &server_url).await),
        };
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        let name = format!("mfa_test_{secs}_{:012x}", rand::random::<u64>() >> 16);
        let (create, url) = match server {
            Server::Postgres => (
                format!("CREATE SCHEMA {name}"),
                with_search_path(&server_url, &name),
            ),
            Server::Mysql => (
                format!("CREATE DATABASE {name}"),
                with_database(&server_url, &name),
            ),
        };
        admin
            .execute(create)
            .await
            .unwrap_or_else(|e| panic!("cannot create {name}: {e}"));
        Some(TestDb {
            server,
            name,
            url,
            server_url,
            admin,
        })
    }

    /// The server's address, for a [`Proxy`] in front of it.
    pub async fn server_addr(&self) -> SocketAddr {
        let (host, port) = match self.server {
            Server::Postgres => {
                let o = PgConnectOptions::from_str(&self.server_url).expect("a PostgreSQL URL");
                (o.get_host().to_owned(), o.get_port())
            }
            Server::Mysql => {
                let o = MySqlConnectOptions::from_str(&self.server_url).expect("a MySQL URL");
                (o.get_host().to_owned(), o.get_port())
            }
        };
        tokio::net::lookup_host((host.as_str(), port))
            .await
            .expect("the test server's host resolves")
            .next()
            .expect("an address")
    }

    /// Drops the schema or database.
    pub async fn finish(self) {
        let drop = match self.server {
            Server::Postgres => format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
            Server::Mysql => format!("DROP DATABASE IF EXISTS {}", self.name),
        };
        if let Err(e) = self.admin.execute(drop).await {
            eprintln!("could not drop {}: {e}", self.name);
        }
        self.admin.close().await;
    }
}

/// Runs `test` in a schema or database of its own on `server`, then drops
/// it. Does nothing when the suites that need `server` are left out.
pub async fn in_fresh_db(server: Server, test: impl AsyncFnOnce(&TestDb)) {
    let Some(db) = TestDb::new(server).await else {
        return;
    };
    test(&db).await;
    db.finish().await;
}

/// `url` with `schema` first in the connections' search path.
pub fn with_search_path(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}

/// `url` with its path (the database) replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let query = tail.find('?').map_or("", |q| &tail[q..]);
    format!("{scheme}://{authority}/{database}{query}")
}

/// `url` with its `host:port` replaced by `authority`.
pub fn with_host(url: &str, authority: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (userinfo_host, tail) = rest.split_at(end);
    match userinfo_host.rsplit_once('@') {
        Some((userinfo, _)) => format!("{scheme}://{userinfo}@{authority}{tail}"),
        None => format!("{scheme}://{authority}{tail}"),
    }
}

#[track_caller]
pub fn assert_unavailable<T: std::fmt::Debug>(result: mfa::Result<T>, what: &str) {
    match result {
        Err(e @ Error::StoreUnavailable(_)) => assert_eq!(e.code(), "STORE_UNAVAILABLE"),
        other => panic!("{what}: expected StoreUnavailable, got {other:?}"),
    }
}

/// A port on the loopback interface with nothing listening.
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
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
pub struct Proxy {
    pub port: u16,
    target: SocketAddr,
    period: Mutex<Option<(watch::Sender<Link>, tokio::task::JoinHandle<()>)>>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Self {
        let mut proxy = Proxy {
            port: 0,
            target,
            period: Mutex::new(None),
        };
        proxy.port = proxy.listen(0);
        proxy
    }

    /// `127.0.0.1:<port>`, to put in a URL.
    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.port)
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
    pub fn hang(&self) {
        if let Some((sender, _)) = &*self.period.lock().unwrap() {
            sender.send_replace(Link::Hung);
        }
    }

    /// Closes every connection and the listening socket.
    pub async fn down(&self) {
        let period = self.period.lock().unwrap().take();
        if let Some((sender, task)) = period {
            sender.send_replace(Link::Down);
            drop(sender);
            task.await.unwrap();
        }
    }

    /// Closes every connection and listens again on the same port.
    pub async fn restart(&self) {
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

/// The store operations of [`outage_matrix`].
#[derive(Debug, Clone, Copy)]
enum Op {
    Load,
    Insert,
    Update,
}

/// Every store operation under every outage of the server behind `proxy`:
/// the server gone (connections closed, the port refusing) and the server
/// hung (connections open, nothing answered). Each operation fails with
/// `StoreUnavailable`, fast when the server is gone and within the store's
/// operation timeout `timeout` when it hangs, and writes nothing; once the
/// server is back the store recovers by itself, the rows are as they were,
/// and the operation succeeds.
pub async fn outage_matrix<S: MfaStore>(store: &S, proxy: &Proxy, timeout: Duration) {
    for hung in [false, true] {
        for op in [Op::Load, Op::Insert, Op::Update] {
            let ctx = format!(
                "{op:?} with the server {}",
                if hung { "hung" } else { "gone" }
            );
            let id = user("outage");
            let record = sample_records(&id).remove(2);
            let before = match op {
                Op::Insert => None,
                Op::Load | Op::Update => {
                    store
                        .save(&id, None, &record, WriteId::random())
                        .await
                        .unwrap_or_else(|e| panic!("{ctx}: setting up: {e:?}"));
                    Some(1)
                }
            };
            if hung {
                proxy.hang();
            } else {
                proxy.down().await;
            }
            let started = Instant::now();
            let disabled = MfaEnrollment::default();
            match op {
                Op::Load => assert_unavailable(store.load(&id).await, &ctx),
                Op::Insert => assert_unavailable(
                    store.save(&id, None, &disabled, WriteId::random()).await,
                    &ctx,
                ),
                Op::Update => assert_unavailable(
                    store.save(&id, Some(1), &disabled, WriteId::random()).await,
                    &ctx,
                ),
            }
            let elapsed = started.elapsed();
            let bound = if hung {
                timeout + Duration::from_secs(2)
            } else {
                Duration::from_secs(8)
            };
            assert!(elapsed < bound, "{ctx}: took {elapsed:?}");

            proxy.restart().await;
            let loaded = store
                .load(&id)
                .await
                .unwrap_or_else(|e| panic!("{ctx}: no recovery: {e:?}"));
            assert_eq!(
                loaded.as_ref().map(|l| (l.version, &l.record)),
                before.map(|v| (v, &record)),
                "{ctx}: the failed operation wrote something"
            );
            let after = store
                .save(&id, before, &disabled, WriteId::random())
                .await
                .unwrap_or_else(|e| panic!("{ctx}: after recovery: {e:?}"));
            assert_eq!(after, before.map_or(1, |v| v + 1), "{ctx}");
        }
    }
}

#[test]
fn urls_name_the_test_namespace() {
    assert_eq!(
        with_search_path("postgres://u@h:5432/db", "s"),
        "postgres://u@h:5432/db?options=-c%20search_path%3Ds"
    );
    assert_eq!(
        with_search_path("postgres://u@h/db?sslmode=disable", "s"),
        "postgres://u@h/db?sslmode=disable&options=-c%20search_path%3Ds"
    );
    assert_eq!(
        with_database("mysql://u:p@h:3306/mfa_test", "mfa_test_1_2"),
        "mysql://u:p@h:3306/mfa_test_1_2"
    );
    assert_eq!(
        with_database("mysql://u:p@h:3306?ssl-mode=disabled", "d"),
        "mysql://u:p@h:3306/d?ssl-mode=disabled"
    );
    assert_eq!(with_database("mysql://h/a/b?x=1", "d"), "mysql://h/d?x=1");
}

#[test]
fn host_in_the_url() {
    assert_eq!(
        with_host("postgres://u:p@h:5432/db?x=1", "127.0.0.1:9"),
        "postgres://u:p@127.0.0.1:9/db?x=1"
    );
    assert_eq!(with_host("postgres://h", "a:1"), "postgres://a:1");
    assert_eq!(with_host("mysql://h?x=1", "a:1"), "mysql://a:1?x=1");
}
