//! What handlers share: the use-cases and the transport's own helpers.

use std::sync::Arc;

use zenzefi_bootstrap::Secret;
use zenzefi_domain::admin::AdminService;
use zenzefi_domain::auth::AuthService;
use zenzefi_domain::currency::CurrencyService;
use zenzefi_domain::ports::Clock;
use zenzefi_domain::quotas::Quotas;
use zenzefi_domain::sessions::SessionService;
use zenzefi_domain::tokens::TokenService;
use zenzefi_domain::usage::UsageService;

use crate::extract::Forwarding;
use crate::health::HealthMonitor;
use crate::jwt::JwtCodec;

pub struct AppState {
    pub auth: AuthService,
    pub currency: CurrencyService,
    pub tokens: Arc<TokenService>,
    pub sessions: Arc<SessionService>,
    pub usage: UsageService,
    pub admin: AdminService,
    pub jwt: JwtCodec,
    pub clock: Arc<dyn Clock>,
    pub health: Arc<HealthMonitor>,
    /// Which forwarding headers are believed.
    pub forwarding: Forwarding,
    /// `server.public_url`, without a trailing slash.
    pub public_url: String,
    pub webhook_secret: Secret,
    pub mock_gateway: bool,
    /// The hot-path limits' counters, shared with the proxy.
    pub quotas: Arc<Quotas>,
    /// `rate_limit.api_per_minute`.
    pub api_per_minute: u32,
}

impl AppState {
    /// Where the user pays a deposit: the mock page when it is on.
    pub fn payment_url(&self, payment_id: &str) -> String {
        format!("{}/api/v1/payments/mock/{payment_id}", self.public_url)
    }
}
