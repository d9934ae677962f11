//! The MFA part of the contract (`http_mfa`) against the axum-login +
//! tower-sessions application that mounts `mfa-axum`
//! (`mfa-axum/examples/axum_login.rs`): the same cases the example server
//! passes in `http_api.rs`, over real HTTP, its sessions carried as the
//! `session` cookie.

mod http_common;
#[macro_use]
mod http_mfa;

use http_common::{Options, Server, axum_login_binary};

fn start() -> Server {
    Server::start_with(Options {
        binary: Some(axum_login_binary()),
        session_cookie: Some("session"),
        ..Options::default()
    })
}

mfa_cases!(start());
