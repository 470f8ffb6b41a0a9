//! What handlers share: the use-cases and the transport's own helpers.

use std::sync::Arc;
use zenzefi_domain::auth::AuthService;
use zenzefi_domain::ports::Clock;

use crate::health::HealthMonitor;
use crate::jwt::JwtCodec;

pub struct AppState {
    pub auth: AuthService,
    pub jwt: JwtCodec,
    pub clock: Arc<dyn Clock>,
    pub health: Arc<HealthMonitor>,
    /// Whether the client address may be taken from forwarding headers.
    pub trust_forwarded_for: bool,
}
