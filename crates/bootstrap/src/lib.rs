//! What both binaries need before they can do anything: settings, logging,
//! and the adapters chosen by those settings.

mod log_line;
mod secret;
mod settings;
mod telemetry;
mod trusted_proxies;
mod wiring;

pub use secret::{Secret, redacted_url};
pub use settings::{
    DEV_JWT_SECRET, DEV_WEBHOOK_SECRET, Environment, LogFormat, Settings, SettingsError,
    UpstreamSettings, per_core_unless_set,
};
pub use telemetry::init_tracing;
pub use trusted_proxies::TrustedProxies;
pub use wiring::{
    Infrastructure, connect_database, connect_flusher_database, install_crypto_provider,
};
