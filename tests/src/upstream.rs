//! A stand-in for the Zenzefi server, on an ephemeral loopback port: it
//! echoes what reached it, streams bodies of any size, answers with any
//! status, or answers late.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use futures::StreamExt;
use serde_json::{Map, Value, json};

/// 64 KiB of a repeating pattern, the unit of streamed bodies.
pub const CHUNK: usize = 64 * 1024;

pub struct FakeUpstream {
    pub url: String,
    /// The raw path of each request that reached it, in order.
    received: Arc<Mutex<Vec<String>>>,
    /// TCP connections accepted so far.
    connections: Arc<AtomicU64>,
    server: actix_web::dev::ServerHandle,
    /// The TLS front of [`FakeUpstream::start_tls`].
    tls_front: Option<tokio::task::JoinHandle<()>>,
}

impl FakeUpstream {
    pub async fn start() -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let recorded = received.clone();
        let connections = Arc::new(AtomicU64::new(0));
        let accepted = connections.clone();
        let server = HttpServer::new(move || {
            let recorded = recorded.clone();
            App::new()
                .wrap_fn(move |req, srv| {
                    // The gateway's health probe asks for `/`; record the rest.
                    if req.path() != "/" {
                        let path = req.uri().path().to_owned();
                        recorded.lock().expect("the record").push(path);
                    }
                    actix_web::dev::Service::call(srv, req)
                })
                .route("/bytes/{n}", web::get().to(download))
                .route("/upload", web::post().to(upload))
                .route("/status/{code}", web::route().to(status))
                .route("/slow/{secs}", web::get().to(slow))
                .route("/stall", web::get().to(stall))
                .default_service(web::to(echo))
        })
        .on_connect(move |_, _| {
            accepted.fetch_add(1, Ordering::Relaxed);
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .expect("bind the fake upstream");
        let url = format!("http://{}", server.addrs()[0]);
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            url,
            received,
            connections,
            server: handle,
            tls_front: None,
        }
    }

    /// The same upstream behind TLS on its own port (`https://127.0.0.1:…`),
    /// with the certificate `fixtures/tls/upstream.pem`, issued by the test
    /// CA `fixtures/tls/ca.pem` ([`TEST_CA`]). The front decrypts and
    /// relays each connection to the plain server.
    pub async fn start_tls() -> Self {
        let mut upstream = Self::start().await;
        let plain = upstream.url.trim_start_matches("http://").to_owned();
        let acceptor = tls_acceptor();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the TLS front");
        upstream.url = format!("https://{}", listener.local_addr().unwrap());
        upstream.tls_front = Some(tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, plain) = (acceptor.clone(), plain.clone());
                tokio::spawn(async move {
                    // A client that refuses the certificate ends the handshake.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    if let Ok(mut inner) = tokio::net::TcpStream::connect(&plain).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut inner).await;
                    }
                });
            }
        }));
        upstream
    }

    /// Requests that reached the upstream so far, health probes aside.
    pub fn hits(&self) -> u64 {
        self.received.lock().expect("the record").len() as u64
    }

    /// TCP connections it accepted so far, the health probe's included.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// The raw paths (without the query) that reached the upstream so far,
    /// byte for byte, health probes aside.
    pub fn received(&self) -> Vec<String> {
        self.received.lock().expect("the record").clone()
    }
}

/// The CA that issued the TLS upstream's certificate, for `upstream.ca_cert`.
pub const TEST_CA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/tls/ca.pem");

fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/tls");
    let chain = CertificateDer::pem_file_iter(format!("{dir}/upstream.pem"))
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .expect("read fixtures/tls/upstream.pem");
    let key = PrivateKeyDer::from_pem_file(format!("{dir}/upstream.key"))
        .expect("read fixtures/tls/upstream.key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .and_then(|builder| builder.with_no_client_auth().with_single_cert(chain, key))
    .expect("TLS config of the fake upstream");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        if let Some(front) = self.tls_front.take() {
            front.abort();
        }
        drop(self.server.stop(false));
    }
}

/// Method, path, query, headers and body size as JSON.
async fn echo(req: HttpRequest, body: Bytes) -> HttpResponse {
    let mut headers = Map::new();
    for (name, value) in req.headers() {
        let value = Value::String(value.to_str().unwrap_or("<binary>").to_owned());
        match headers.get_mut(name.as_str()) {
            Some(Value::Array(values)) => values.push(value),
            Some(first) => *first = Value::Array(vec![first.clone(), value]),
            None => {
                headers.insert(name.as_str().to_owned(), value);
            }
        }
    }
    HttpResponse::Ok().json(json!({
        "method": req.method().as_str(),
        "path": req.uri().path(),
        "query": req.uri().query(),
        "headers": headers,
        "body_bytes": body.len(),
    }))
}

/// `n` bytes, streamed with a declared length.
async fn download(n: web::Path<u64>) -> HttpResponse {
    let total = n.into_inner();
    let chunk = Bytes::from(vec![b'z'; CHUNK]);
    let chunks = futures::stream::unfold(0u64, move |sent| {
        let chunk = chunk.clone();
        async move {
            (sent < total).then(|| {
                let len = (total - sent).min(CHUNK as u64) as usize;
                (
                    Ok::<_, actix_web::Error>(chunk.slice(..len)),
                    sent + len as u64,
                )
            })
        }
    });
    HttpResponse::Ok().body(actix_web::body::SizedStream::new(total, chunks))
}

/// Reads the upload chunk by chunk and says how many bytes came.
async fn upload(mut payload: web::Payload) -> HttpResponse {
    let mut received = 0u64;
    while let Some(chunk) = payload.next().await {
        match chunk {
            Ok(chunk) => received += chunk.len() as u64,
            Err(_) => return HttpResponse::BadRequest().finish(),
        }
    }
    HttpResponse::Ok().json(json!({ "received": received }))
}

async fn status(code: web::Path<u16>) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(*code).unwrap_or_default();
    HttpResponse::build(status)
        .insert_header(("x-upstream-said", code.to_string()))
        .content_type("text/plain")
        .body(format!("upstream says {code}"))
}

/// Declares two chunks, sends one, then goes quiet for a minute.
async fn stall() -> HttpResponse {
    let first =
        futures::stream::once(async { Ok::<_, actix_web::Error>(Bytes::from(vec![b's'; CHUNK])) });
    let silence = futures::stream::once(async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok::<_, actix_web::Error>(Bytes::from(vec![b's'; CHUNK]))
    });
    HttpResponse::Ok().body(actix_web::body::SizedStream::new(
        2 * CHUNK as u64,
        first.chain(silence),
    ))
}

async fn slow(secs: web::Path<u64>) -> HttpResponse {
    tokio::time::sleep(Duration::from_secs(*secs)).await;
    HttpResponse::Ok().body("late")
}
