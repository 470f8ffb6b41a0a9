//! Structured logs: human-readable or JSON, filtered by `log.level` unless
//! `RUST_LOG` says otherwise.

use tracing_subscriber::EnvFilter;

use crate::settings::{LogFormat, Settings};

pub fn init_tracing(settings: &Settings) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    // A second init (tests) keeps the first subscriber.
    let _ = match settings.log.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}
