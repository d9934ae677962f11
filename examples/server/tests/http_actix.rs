//! The MFA part of the contract (`http_mfa`) against the actix-web server,
//! `examples/actix_server/`: the same cases the axum server passes in
//! `http_api.rs`, over real HTTP, with codes from the test's own TOTP; and
//! the second step with a passkey (a soft passkey at the server's default
//! origin), once only.

mod http_common;
#[macro_use]
mod http_mfa;

use http_common::{Options, Server, actix_server_binary};

fn start() -> Server {
    Server::start_with(Options {
        binary: Some(actix_server_binary()),
        ..Options::default()
    })
}

mfa_cases!(start());

#[tokio::test]
async fn a_passkey_completes_the_second_step_once() {
    http_mfa::a_passkey_completes_the_second_step_once(&start()).await
}
