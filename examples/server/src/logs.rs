//! Logs through `tracing`, on stderr: readable lines by default, one JSON
//! object per line with `--log-format json`. Their level follows `RUST_LOG`
//! (default `info`). Security events are the crate's `TracingSink` records
//! (target `mfa::security`, with the field `security_event` and the event's
//! own fields), under the span of the operation that reported them.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::args::LogFormat;

/// Installs the process's subscriber.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
