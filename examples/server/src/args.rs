//! The command line, on `clap`: every flag also settable by an environment
//! variable named after it (`--database` → `MFA_DATABASE`), for container
//! deployments; `--help` lists each with its variable and default, and a bad
//! flag is a usage error (exit 2).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::connections::Limits;
use crate::db::Location;

pub const DAY_SECS: u64 = 24 * 60 * 60;

/// The most passkeys `--max-passkeys` allows. The `mfaToken` of a user with
/// passkeys carries the second step's WebAuthn state, about 770 bytes per
/// passkey, and comes back in a body of at most 16 KiB with the assertion:
/// 16 leave room to spare (`tests/http_passkeys.rs` measures it).
const MAX_PASSKEYS: u64 = 16;

const AFTER_HELP: &str = "\
The master key comes from MFA_MASTER_KEY (base64 of 32 bytes) if it is set,
otherwise from the key file, which is created (mode 0600) on first run.
With PostgreSQL or MySQL, set MFA_MASTER_KEY or pass --key-file: every server that
shares the database needs the same key.

Passkeys need a page served from one of the origins: with the defaults, open
http://localhost:<port>/ rather than http://127.0.0.1:<port>/.

Operator routes (POST /api/admin/users/{id}/mfa/unlock and .../reset, body
{\"reason\"}, GET /api/admin/compliance and GET /metrics) exist only with
operator tokens: MFA_ADMIN_TOKENS (or the file of --admin-tokens) holds one
operator per line, `name:token`, and MFA_ADMIN_TOKEN one token whose operator
is named `operator`. A token is at least 32 visible ASCII characters, sent as
`Authorization: Bearer <token>`; a name is 1 to 64 ASCII letters, digits, `.`,
`_`, `-` or `@`. Security events (operator actions with the operator's name
and reason) are log records on stderr.";

/// An HTTP backend on the `mfa` crate: accounts with passwords, and the MFA
/// endpoints (TOTP, backup codes, passkeys, remembered devices, step-up,
/// operators) on SQLite, PostgreSQL or MySQL (MariaDB).
#[derive(Parser, Debug)]
#[command(name = "server", version, after_help = AFTER_HELP)]
pub struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(
        long,
        env = "MFA_ADDR",
        value_name = "HOST:PORT",
        default_value = "127.0.0.1:8080"
    )]
    pub addr: SocketAddr,

    /// SQLite file, created with its schema if missing; `:memory:` for a
    /// throwaway database; or a postgres:// or mysql:// URL.
    #[arg(long, env = "MFA_DATABASE", value_name = "PATH|URL", default_value = "./mfa-demo.db", value_parser = Location::parse)]
    pub database: Location,

    /// Where the master key is kept (default: <database>.key for a SQLite file).
    #[arg(long, env = "MFA_KEY_FILE", value_name = "PATH")]
    pub key_file: Option<PathBuf>,

    /// Seconds a TOTP setup, or a replacement authenticator, stays confirmable.
    #[arg(long, allow_negative_numbers = true, env = "MFA_PENDING_TTL", value_name = "SECONDS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..=2_592_000))]
    pub pending_ttl: u64,

    /// Backup-code Argon2 evaluations in flight at once (default: one per CPU).
    #[arg(long, allow_negative_numbers = true, env = "MFA_MAX_CONCURRENT_HASHES", value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    pub max_concurrent_hashes: Option<u64>,

    /// Seconds a request's headers may take to arrive: from the connection's
    /// start for its first request, from the first byte for later ones; a
    /// connection that misses it is closed.
    #[arg(long, allow_negative_numbers = true, env = "MFA_HEADER_TIMEOUT", value_name = "SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub header_timeout: u64,

    /// Seconds a request's body may take after its headers; a late body gets
    /// 408 REQUEST_TIMEOUT and the connection is closed.
    #[arg(long, allow_negative_numbers = true, env = "MFA_BODY_TIMEOUT", value_name = "SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub body_timeout: u64,

    /// Seconds a kept-alive connection may wait between requests.
    #[arg(long, allow_negative_numbers = true, env = "MFA_IDLE_TIMEOUT", value_name = "SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub idle_timeout: u64,

    /// Connections served at once; further ones wait in the listening
    /// socket's backlog until one ends.
    #[arg(long, allow_negative_numbers = true, env = "MFA_MAX_CONNECTIONS", value_name = "N", default_value_t = 1024,
          value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    pub max_connections: u64,

    /// How old (seconds) a session's proof of the second factor may be for
    /// regenerating backup codes, beginning a replacement of the
    /// authenticator or forgetting remembered devices without a code; older
    /// sessions, and those of a remembered device, get 403 STEP_UP_REQUIRED
    /// until POST /api/auth/step-up.
    #[arg(long, allow_negative_numbers = true, env = "MFA_STEP_UP_WINDOW", value_name = "SECONDS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub step_up_window: u64,

    /// Seconds an mfaToken (the login's second step) stays usable; it
    /// completes at most one login either way.
    #[arg(long, allow_negative_numbers = true, env = "MFA_MFA_TOKEN_TTL", value_name = "SECONDS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub mfa_token_ttl: u64,

    /// Days a remembered device skips the second step (default 30): the
    /// deviceToken that POST /api/auth/login/mfa answers to "rememberDevice": true.
    #[arg(long, allow_negative_numbers = true, env = "MFA_REMEMBER_DAYS", value_name = "DAYS", conflicts_with = "remember_secs",
          value_parser = clap::value_parser!(u64).range(1..=365))]
    pub remember_days: Option<u64>,

    /// The same in seconds, for short demos and tests.
    #[arg(long, allow_negative_numbers = true, env = "MFA_REMEMBER_SECS", value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=365 * DAY_SECS))]
    pub remember_secs: Option<u64>,

    /// Remembered devices per user; remembering one more forgets the oldest.
    #[arg(long, allow_negative_numbers = true, env = "MFA_MAX_DEVICES", value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=64))]
    pub max_devices: u64,

    /// Operator tokens, one `name:token` per line, from this file instead of
    /// MFA_ADMIN_TOKENS (which holds the tokens themselves).
    #[arg(long, env = "MFA_ADMIN_TOKENS_FILE", value_name = "FILE")]
    pub admin_tokens: Option<PathBuf>,

    /// FOR TESTS AND DEMOS ONLY: seconds of the first lock after 5
    /// consecutive wrong codes (default 30, doubling up to 900); 0 turns the
    /// timed locks off and lets codes be guessed quickly. The hard stop after
    /// 100 failures stays. The server warns at start-up.
    #[arg(long, allow_negative_numbers = true, env = "MFA_INSECURE_LOCKOUT_DELAY", value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(0..=900))]
    pub insecure_lockout_delay: Option<u64>,

    /// FOR TESTS AND DEMOS ONLY: seconds of the first wait after 5 wrong
    /// passwords for one account (default 30, doubling up to 900). The server
    /// warns at start-up.
    #[arg(long, allow_negative_numbers = true, env = "MFA_INSECURE_PASSWORD_DELAY", value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=900))]
    pub insecure_password_delay: Option<u64>,

    /// FOR TESTS AND DEMOS ONLY: seconds after its last wrong password that an
    /// account's password count is forgotten, unless it is locked (default
    /// 86400). The server warns at start-up.
    #[arg(long, allow_negative_numbers = true, env = "MFA_INSECURE_PASSWORD_FORGET", value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=30 * DAY_SECS))]
    pub insecure_password_forget: Option<u64>,

    /// The passkeys' relying party id, a domain: each origin's host or a
    /// parent domain of it.
    #[arg(long, env = "MFA_RP_ID", value_name = "DOMAIN", default_value = "localhost",
          value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub rp_id: String,

    /// An origin of the pages that use passkeys, such as
    /// https://login.example.com; repeat it (or separate them by commas in
    /// MFA_ORIGIN) for several. Default http://localhost:<port>: browsers
    /// allow passkeys on http://localhost, not on http://127.0.0.1. The server
    /// refuses to start with an origin the relying party id does not cover.
    #[arg(
        long = "origin",
        env = "MFA_ORIGIN",
        value_name = "URL",
        value_delimiter = ','
    )]
    pub origins: Vec<String>,

    /// Passkeys per user, from 1 to 16: the second step's mfaToken carries
    /// every passkey's WebAuthn state, and comes back in a body of at most 16 KiB.
    #[arg(long, allow_negative_numbers = true, env = "MFA_MAX_PASSKEYS", value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=MAX_PASSKEYS))]
    pub max_passkeys: u64,

    /// No login with a passkey alone: POST /api/auth/passkey/options and POST
    /// /api/auth/passkey do not exist; passkeys still serve as the second
    /// step and for step-up.
    #[arg(long, env = "MFA_NO_PASSWORDLESS")]
    pub no_passwordless: bool,

    /// `default` (the crate's defaults) or `nist-aal2` (the crate's preset for
    /// NIST SP 800-63B-4 at AAL2). Start-up prints how many of that profile's
    /// requirements are not met; GET /api/admin/compliance answers the report.
    #[arg(long, env = "MFA_POLICY", value_enum, default_value_t = PolicyChoice::Default)]
    pub policy: PolicyChoice,

    /// Logs on stderr: `text`, readable, or `json`, one object per line.
    /// Their level follows RUST_LOG (default `info`).
    #[arg(long, env = "MFA_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Also serve GET /metrics on this second listener, without the operator
    /// token (for a scraper on a private network).
    #[arg(long, env = "MFA_METRICS_ADDR", value_name = "HOST:PORT")]
    pub metrics_addr: Option<SocketAddr>,
}

/// `--policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PolicyChoice {
    /// The crate's defaults.
    Default,
    /// The crate's NIST SP 800-63B-4 AAL2 preset.
    NistAal2,
}

/// `--log-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl Args {
    /// The connection limits.
    pub fn limits(&self) -> Limits {
        Limits {
            header_timeout: Duration::from_secs(self.header_timeout),
            body_timeout: Duration::from_secs(self.body_timeout),
            idle_timeout: Duration::from_secs(self.idle_timeout),
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
        }
    }

    /// How long a remembered device skips the second step.
    pub fn remember_secs(&self) -> u64 {
        match (self.remember_secs, self.remember_days) {
            (Some(secs), _) => secs,
            (None, Some(days)) => days * DAY_SECS,
            (None, None) => 30 * DAY_SECS,
        }
    }
}
