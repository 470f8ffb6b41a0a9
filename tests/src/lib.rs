//! Spawns the real application on an ephemeral loopback port, on either
//! backend, and talks to it over HTTP like any client would.

pub mod browser;
pub mod instances;
pub mod upstream;

use reqwest::{Client, RequestBuilder, Response};
use serde_json::{Value, json};
use zenzefi_api::Application;
use zenzefi_bootstrap::{Secret, Settings, install_crypto_provider};
use zenzefi_persistence::testing::TestDatabase;
use zenzefi_testkit::service_url;

pub use zenzefi_persistence::testing::AuditRow;

/// Where the app under test keeps its state.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    /// SQLite and in-process coordination: what `cargo run` starts.
    Embedded,
    /// PostgreSQL and Redis from `TEST_DATABASE_URL` / `TEST_REDIS_URL`.
    Shared,
}

pub struct TestApp {
    pub base_url: String,
    pub http: Client,
    pub database: TestDatabase,
    /// What the app was built with: a second "instance" connects with it.
    pub settings: Settings,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    stop: actix_web::dev::ServerHandle,
}

pub const PASSWORD: &str = "Correct-Horse-9";

impl TestApp {
    /// `None` when the shared backend is not configured outside CI.
    pub async fn spawn(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// The embedded app proxying to the upstream at `url`, with the
    /// settings adjusted further.
    pub async fn forwarding_to(url: &str, adjust: impl FnOnce(&mut Settings)) -> Self {
        let url = url.to_owned();
        Self::spawn_with(Backend::Embedded, move |s| {
            s.upstream.url = url;
            adjust(s);
        })
        .await
        .expect("the embedded backend always runs")
    }

    /// Like [`TestApp::spawn`], with the settings adjusted first.
    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> Option<Self> {
        install_crypto_provider();
        let mut settings = Settings::defaults();
        settings.server.bind = "127.0.0.1:0".into();
        settings.server.workers = 1;
        // Tests make hundreds of calls per user and register dozens of users
        // from one address; the tests of these limits set their own.
        settings.rate_limit.api_per_minute = 100_000;
        settings.rate_limit.register_per_hour = 100_000;
        settings.rate_limit.login_per_hour_per_email = 100_000;
        settings.rate_limit.password_change_per_hour = 100_000;
        let database = match backend {
            Backend::Embedded => TestDatabase::sqlite().await,
            Backend::Shared => {
                let database = TestDatabase::postgres().await?;
                settings.redis.url = Secret::new(service_url("TEST_REDIS_URL")?);
                // Tests share one Redis; their keys must not meet.
                settings.redis.key_prefix = format!("zz-test-{}:", uuid::Uuid::new_v4().simple());
                database
            }
        };
        settings.database.url = Secret::new(database.url());
        adjust(&mut settings);
        let app = Application::build(&settings)
            .await
            .expect("the application starts");
        let base_url = format!("http://127.0.0.1:{}", app.port());
        let stop = app.handle();
        let server = Some(tokio::spawn(app.run_until_stopped()));
        let http = Client::builder()
            .no_proxy()
            .build()
            .expect("an HTTP client");
        Some(Self {
            base_url,
            http,
            database,
            settings,
            server,
            stop,
        })
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.http.get(format!("{}{path}", self.base_url))
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.http.post(format!("{}{path}", self.base_url))
    }

    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.http.patch(format!("{}{path}", self.base_url))
    }

    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.http.delete(format!("{}{path}", self.base_url))
    }

    pub async fn register(&self, email: &str, username: &str) -> Response {
        self.post("/api/v1/auth/register")
            .json(&json!({ "email": email, "username": username, "password": PASSWORD }))
            .send()
            .await
            .expect("register request")
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post("/api/v1/auth/login")
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("login request")
    }

    /// A user with a fresh access token of `scope`: `(jwt, token secret)`.
    pub async fn token_holder(&self, name: &str, scope: &str) -> (String, String) {
        let jwt = self.signed_up(&format!("{name}@x.io"), name).await;
        self.fund(&jwt, "100.00").await;
        let bought = self
            .buy(&jwt, json!({ "duration_hours": 24, "scope": scope }))
            .await;
        assert_eq!(bought.status(), 201);
        let secret = body(bought).await["token"].as_str().unwrap().to_owned();
        (jwt, secret)
    }

    /// A request through the proxy with a token and a device id.
    pub fn proxied(&self, method: reqwest::Method, path: &str, token: &str) -> RequestBuilder {
        self.proxied_from(&self.base_url, method, path, token, "device-0001")
    }

    /// Like [`TestApp::proxied`], to any instance and from any device.
    pub fn proxied_from(
        &self,
        base_url: &str,
        method: reqwest::Method,
        path: &str,
        token: &str,
        device: &str,
    ) -> RequestBuilder {
        self.http
            .request(method, format!("{base_url}/api/v1/proxy/{path}"))
            .header("x-access-token", token)
            .header("x-device-id", device)
    }

    /// A second API instance on the same database and Redis, as behind a
    /// load balancer. Returns its base URL; it stops with the test.
    pub async fn sibling(&self) -> (String, tokio::task::JoinHandle<std::io::Result<()>>) {
        let app = Application::build(&self.settings)
            .await
            .expect("a second instance starts");
        let base_url = format!("http://127.0.0.1:{}", app.port());
        (base_url, tokio::spawn(app.run_until_stopped()))
    }

    /// Sends `GET target` byte for byte over a fresh connection, so that
    /// dot segments and percent-encodings reach the server unnormalised
    /// (an HTTP client library would resolve them). Returns the status and
    /// the whole response as text.
    pub async fn raw_get(&self, target: &str, headers: &[(&str, &str)]) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let address = self.base_url.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        let mut request =
            format!("GET {target} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.expect("receive");
        let response = String::from_utf8_lossy(&response).into_owned();
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .expect("a status line");
        (status, response)
    }

    /// `GET /metrics` as text (metrics are process-wide).
    pub async fn metrics_text(&self) -> String {
        let response = self.get("/metrics").send().await.expect("GET /metrics");
        response.text().await.expect("the metrics text")
    }

    /// Makes a registered user a superuser through the domain's port, as
    /// `create-superuser` would.
    pub async fn promote(&self, email: &str) {
        use zenzefi_domain::ports::UserStore;
        use zenzefi_domain::user::Email;

        let db = self.database.db();
        let mut user = db
            .user_by_email(&Email::parse(email).unwrap())
            .await
            .unwrap()
            .expect("a registered user");
        user.is_superuser = true;
        db.update_user(&user).await.unwrap();
    }

    /// Registers a user and returns a bearer token for it.
    pub async fn signed_up(&self, email: &str, username: &str) -> String {
        assert_eq!(self.register(email, username).await.status(), 201);
        let body: Value = self.login(email, PASSWORD).await.json().await.unwrap();
        body["access_token"].as_str().expect("a token").to_owned()
    }

    /// `GET path` with `token` as bearer.
    pub async fn get_as(&self, token: &str, path: &str) -> Response {
        self.get(path).bearer_auth(token).send().await.expect("GET")
    }

    /// `POST path` of a JSON body with `token` as bearer.
    pub async fn post_as(&self, token: &str, path: &str, body: &Value) -> Response {
        let request = self.post(path).bearer_auth(token).json(body);
        request.send().await.expect("POST")
    }

    /// `DELETE path` with `token` as bearer.
    pub async fn delete_as(&self, token: &str, path: &str) -> Response {
        self.delete(path)
            .bearer_auth(token)
            .send()
            .await
            .expect("DELETE")
    }

    pub async fn me(&self, token: &str) -> Response {
        self.get_as(token, "/api/v1/users/me").await
    }

    /// The current balance as the API formats it.
    pub async fn balance(&self, token: &str) -> Value {
        body(self.get_as(token, "/api/v1/currency/balance").await).await["balance"].clone()
    }

    pub async fn start_deposit(&self, token: &str, amount: Value) -> Response {
        self.post_as(
            token,
            "/api/v1/currency/purchase",
            &json!({ "amount_znc": amount }),
        )
        .await
    }

    /// Answers the mock payment page for a deposit.
    pub async fn pay(&self, payment_id: &str, status: &str) -> Response {
        let request = self
            .post(&format!("/api/v1/payments/mock/{payment_id}"))
            .json(&json!({ "status": status }));
        request.send().await.expect("mock payment")
    }

    /// Credits `amount` ZNC through a deposit and the mock payment page.
    pub async fn fund(&self, token: &str, amount: &str) {
        let deposit = body(self.start_deposit(token, json!(amount)).await).await;
        let paid = self
            .pay(deposit["payment_id"].as_str().unwrap(), "succeeded")
            .await;
        assert_eq!(paid.status(), 200);
    }

    pub async fn buy(&self, token: &str, order: Value) -> Response {
        self.post_as(token, "/api/v1/tokens/purchase", &order).await
    }

    pub async fn audit_rows(&self) -> Vec<AuditRow> {
        self.database.audit_rows().await
    }
}

impl TestApp {
    /// Stops the app as SIGTERM does (no new connections, in-flight
    /// requests drain) and waits until it has written its last counters.
    pub async fn stop_gracefully(&mut self) {
        self.stop.stop(true).await;
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("the server task")
                .expect("a clean stop");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}

/// A JSON body.
pub async fn body(response: Response) -> Value {
    response.json().await.expect("a JSON body")
}

/// A problem+json body, checked to be one.
pub async fn problem(response: Response) -> Value {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("a JSON body");
    assert!(
        body["status"].is_u64() && body["code"].is_string(),
        "{body}"
    );
    body
}

/// Runs each listed test against both backends.
#[macro_export]
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(#[tokio::test]
            async fn $case() {
                super::$case($crate::Backend::Embedded).await;
            })*
        }
        mod shared {
            $(#[tokio::test]
            async fn $case() {
                super::$case($crate::Backend::Shared).await;
            })*
        }
    };
}
