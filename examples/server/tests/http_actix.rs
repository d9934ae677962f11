//! The MFA part of the contract (`http_mfa`) against the actix-web server,
//! `examples/actix_server.rs`: the same cases the axum server passes in
//! `http_api.rs`, over real HTTP, with codes from the test's own TOTP.

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
