//! A headless chromium driven over the W3C WebDriver protocol, for the
//! console's end-to-end tests. The protocol is JSON over HTTP to a local
//! `chromedriver`, so the tests speak it through the reqwest client they
//! already have rather than a WebDriver crate (fantoccini's `webdriver`
//! dependency would bring second copies of icu, cookie and thiserror).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Client, Method};
use serde_json::{Value, json};

/// How long a wait for an element or a text lasts before the test fails.
const PATIENCE: Duration = Duration::from_secs(15);
/// The key under which WebDriver returns an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running chromedriver with one browser session; both end on drop.
pub struct Browser {
    http: Client,
    /// The session's URL at chromedriver; every command is under it.
    session: String,
    driver: Child,
    /// Where the browser saves downloads; removed on drop.
    pub downloads: PathBuf,
}

/// `chromedriver` and `chromium`, from `CHROMEDRIVER` / `CHROME_BIN` or
/// the `PATH`.
fn executables() -> Option<(PathBuf, PathBuf)> {
    let find = |var: &str, names: &[&str]| -> Option<PathBuf> {
        if let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) {
            return Some(PathBuf::from(path));
        }
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
            .find(|candidate| candidate.is_file())
    };
    Some((
        find("CHROMEDRIVER", &["chromedriver"])?,
        find(
            "CHROME_BIN",
            &["chromium", "chromium-browser", "google-chrome"],
        )?,
    ))
}

impl Browser {
    /// A fresh headless browser, 1280×900. `None` when chromium or
    /// chromedriver is missing outside CI; under `CI=true` that panics, so
    /// that CI never passes without running the browser tests.
    pub async fn launch() -> Option<Self> {
        let Some((driver_path, chrome)) = executables() else {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            assert!(
                !ci,
                "CI=true but chromium/chromedriver are missing: install Debian's \
                 `chromium` and `chromium-driver` (.ci/run does)"
            );
            eprintln!("skipped: chromium and chromedriver are not installed");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} did not start: {e}", driver_path.display()));
        let downloads =
            std::env::temp_dir().join(format!("zz-console-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&downloads).expect("a download directory");
        zenzefi_bootstrap::install_crypto_provider();
        let http = Client::builder()
            .no_proxy()
            .build()
            .expect("an HTTP client");
        let driver_url = format!("http://127.0.0.1:{port}");
        let mut browser = Self {
            http,
            session: String::new(),
            driver,
            downloads,
        };
        browser.wait_for_driver(&driver_url).await;
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": chrome,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,900",
                         "--no-first-run", "--no-default-browser-check"],
                "prefs": {
                    "download.default_directory": browser.downloads,
                    "download.prompt_for_download": false,
                },
            },
        }}});
        let created = browser
            .call(Method::POST, &format!("{driver_url}/session"), capabilities)
            .await;
        let id = created["sessionId"].as_str().expect("a session id");
        browser.session = format!("{driver_url}/session/{id}");
        // Headless chromium honours the download preference only once told
        // through the DevTools protocol.
        let allow = json!({ "cmd": "Browser.setDownloadBehavior", "params": {
            "behavior": "allow", "downloadPath": browser.downloads } });
        browser
            .command(Method::POST, "/goog/cdp/execute", allow)
            .await;
        Some(browser)
    }

    async fn wait_for_driver(&self, driver_url: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let status = self.http.get(format!("{driver_url}/status")).send().await;
            if let Ok(response) = status
                && let Ok(body) = response.json::<Value>().await
                && body["value"]["ready"] == true
            {
                return;
            }
            assert!(Instant::now() < deadline, "chromedriver did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// One WebDriver call to `url`; its `value`, or a panic naming the
    /// error.
    async fn call(&self, method: Method, url: &str, body: Value) -> Value {
        self.try_call(method.clone(), url, body)
            .await
            .unwrap_or_else(|error| panic!("WebDriver {method} {url}: {error}"))
    }

    /// Like [`Browser::call`], with WebDriver's error value as the error.
    async fn try_call(&self, method: Method, url: &str, body: Value) -> Result<Value, Value> {
        let request = self.http.request(method, url);
        let request = if body.is_null() {
            request
        } else {
            request.json(&body)
        };
        let response = request.send().await.expect("chromedriver answers");
        let ok = response.status().is_success();
        let body: Value = response.json().await.expect("a JSON answer");
        let value = body["value"].clone();
        if ok { Ok(value) } else { Err(value) }
    }

    /// A call on this browser session.
    async fn command(&self, method: Method, path: &str, body: Value) -> Value {
        self.call(method, &format!("{}{path}", self.session), body)
            .await
    }

    pub async fn goto(&self, url: &str) {
        self.command(Method::POST, "/url", json!({ "url": url }))
            .await;
    }

    /// The first element matching `css`, waiting for it to appear.
    pub async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let query = json!({ "using": "css selector", "value": css });
            let found = self
                .try_call(Method::POST, &format!("{}/element", self.session), query)
                .await;
            if let Ok(element) = found {
                return element[ELEMENT].as_str().expect("an element").to_owned();
            }
            assert!(Instant::now() < deadline, "no element {css} appeared");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `action` on the element matching `css` (`GET` when `body` is null,
    /// else `POST` with it); its value. The element is found again when the
    /// page replaced it between the lookup and the action: the console
    /// re-renders what new data arrives for.
    async fn act(&self, css: &str, action: &str, body: Value) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let element = self.find(css).await;
            let url = format!("{}/element/{element}/{action}", self.session);
            let method = if body.is_null() {
                Method::GET
            } else {
                Method::POST
            };
            match self.try_call(method, &url, body.clone()).await {
                Ok(value) => return value,
                Err(error)
                    if error["error"] == "stale element reference" && Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => panic!("WebDriver {action} on {css}: {error}"),
            }
        }
    }

    pub async fn click(&self, css: &str) {
        self.act(css, "click", json!({})).await;
    }

    /// Replaces the value of the input matching `css` with `text`.
    pub async fn fill(&self, css: &str, text: &str) {
        self.act(css, "clear", json!({})).await;
        self.act(css, "value", json!({ "text": text })).await;
    }

    /// The rendered text of the element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        let text = self.act(css, "text", Value::Null).await;
        text.as_str().unwrap_or_default().to_owned()
    }

    /// Waits until the element matching `css` shows `needle`; its text.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let text = self.script(TEXT_OF, json!([css])).await;
            let text = text.as_str().unwrap_or_default();
            if text.contains(needle) {
                return text.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "{css} never showed {needle:?}; it shows {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs `body` (a function body; `arguments` holds `args`) in the page.
    pub async fn script(&self, body: &str, args: Value) -> Value {
        let script = json!({ "script": body, "args": args });
        self.command(Method::POST, "/execute/sync", script).await
    }

    /// Saves a PNG of the whole page (not only the viewport) at `path`,
    /// through the DevTools protocol: WebDriver's screenshot stops at the
    /// window's edge.
    pub async fn screenshot(&self, path: &Path) {
        use base64::Engine as _;
        let size = self
            .script(
                "const d = document.documentElement; return [d.scrollWidth, d.scrollHeight];",
                json!([]),
            )
            .await;
        let capture = json!({ "cmd": "Page.captureScreenshot", "params": {
            "captureBeyondViewport": true,
            "clip": { "x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1 },
        }});
        let shot = self
            .command(Method::POST, "/goog/cdp/execute", capture)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("base64 PNG"))
            .expect("a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("the screenshot directory");
        }
        std::fs::write(path, png).expect("the screenshot is written");
    }

    /// The browser console's entries since the last call (chromedriver's
    /// log endpoint): `[{level, message, …}]`.
    pub async fn console_log(&self) -> Vec<Value> {
        let entries = self
            .command(Method::POST, "/se/log", json!({ "type": "browser" }))
            .await;
        entries.as_array().cloned().unwrap_or_default()
    }

    /// Ends the browser session.
    pub async fn quit(self) {
        let _ = self
            .try_call(Method::DELETE, &self.session, Value::Null)
            .await;
    }
}

/// An element's text, or `""` when it is not there (yet).
const TEXT_OF: &str =
    "const node = document.querySelector(arguments[0]); return node ? node.innerText : '';";

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.downloads);
    }
}
