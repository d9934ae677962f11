//! The example server on MySQL (MariaDB), two processes sharing one database
//! and one master key, as behind a load balancer: setup on one and confirm on
//! the other, tokens from one accepted by the other, 16 concurrent requests
//! with one TOTP code and with one backup code, split across both, of which
//! exactly one succeeds each; an `mfaToken` completed on one refused by the
//! other; a change to the factor on one (enable, disable, operator reset)
//! revoking on the other what was issued before it; a replacement of the
//! authenticator begun on one and confirmed on the other, and a remembered
//! device recognised, then forgotten, across both; a password lock earned
//! on one honoured by the other, with concurrent wrong passwords split across
//! both all counted; and a database outage
//! during traffic: 503 problem documents, recovery, and no code lost or
//! consumed twice (`tests/http_db/mod.rs`, shared with
//! `tests/http_postgres.rs`).
//!
//! The server is named by `MFA_TEST_MYSQL_URL` (`.ci/mariadb.sh` sets one
//! up); each test works in a fresh database and drops it afterwards. Without
//! the variable these tests are left out with a note on stderr, unless `CI`
//! is set: then they fail.

#[path = "../../../tests/db_common/mod.rs"]
mod db_common;
mod http_common;
#[macro_use]
mod http_db;

database_server_tests!(db_common::Server::Mysql, http_db::nothing_held);
