//! A TCP relay on an ephemeral loopback port that a test puts between the
//! app and a dependency (PostgreSQL, Redis, the upstream) to break the link
//! on command: cut every connection and refuse new ones, or slow each
//! chunk down; then restore it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct FaultProxy {
    addr: SocketAddr,
    faults: Arc<Faults>,
    accept: tokio::task::JoinHandle<()>,
}

struct Faults {
    refusing: AtomicBool,
    delay_ms: AtomicU64,
    /// Bumped by every cut: relays of an older generation hang up.
    generation: watch::Sender<u64>,
}

impl FaultProxy {
    /// Relays `127.0.0.1:<ephemeral>` to `target` (`host:port`).
    pub async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fault proxy");
        let addr = listener.local_addr().expect("the fault proxy's address");
        let faults = Arc::new(Faults {
            refusing: AtomicBool::new(false),
            delay_ms: AtomicU64::new(0),
            generation: watch::channel(0).0,
        });
        let target = target.to_owned();
        let shared = faults.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if shared.refusing.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                tokio::spawn(relay(client, target.clone(), shared.clone()));
            }
        });
        Self {
            addr,
            faults,
            accept,
        }
    }

    /// Relays to the host and port of a service URL (`postgres://…`,
    /// `redis://…`, `http://…`).
    pub async fn in_front_of(url: &str) -> Self {
        Self::start(authority(url).1).await
    }

    /// `url` with its host and port replaced by this proxy's.
    pub fn route(&self, url: &str) -> String {
        let (before, target) = authority(url);
        url.replacen(
            &format!("{before}{target}"),
            &format!("{before}{}", self.addr),
            1,
        )
    }

    /// Hangs up every relayed connection and refuses new ones until
    /// [`FaultProxy::restore`].
    pub fn cut(&self) {
        self.faults.refusing.store(true, Ordering::SeqCst);
        self.faults.generation.send_modify(|g| *g += 1);
    }

    /// Holds every chunk for `delay` before passing it on.
    pub fn delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.faults.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Relays again, without delay.
    pub fn restore(&self) {
        self.faults.delay_ms.store(0, Ordering::SeqCst);
        self.faults.refusing.store(false, Ordering::SeqCst);
    }
}

/// A URL's `scheme://[userinfo@]` and its `host:port`.
fn authority(url: &str) -> (&str, &str) {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..]
        .find(['/', '?'])
        .map_or(url.len(), |i| start + i);
    let host_start = url[start..end].rfind('@').map_or(start, |i| start + i + 1);
    (&url[..host_start], &url[host_start..end])
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// The relay of one connection, both ways, until either side closes or a
/// cut comes.
async fn relay(client: TcpStream, target: String, faults: Arc<Faults>) {
    let mut cut = faults.generation.subscribe();
    let Ok(server) = TcpStream::connect(&target).await else {
        return;
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::select! {
        () = pipe(client_read, server_write, &faults) => {}
        () = pipe(server_read, client_write, &faults) => {}
        _ = cut.changed() => {}
    }
}

async fn pipe(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, faults: &Faults) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let delay = faults.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authority_is_found_with_or_without_credentials_and_path() {
        assert_eq!(
            authority("postgres://postgres@127.0.0.1:5432/test"),
            ("postgres://postgres@", "127.0.0.1:5432")
        );
        assert_eq!(
            authority("redis://127.0.0.1:6379"),
            ("redis://", "127.0.0.1:6379")
        );
        assert_eq!(
            authority("http://u:p@localhost:9000?x=1"),
            ("http://u:p@", "localhost:9000")
        );
    }

    #[tokio::test]
    async fn a_cut_hangs_up_and_refuses_until_restored() {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = echo.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((stream, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = stream.into_split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        let proxy = FaultProxy::start(&target).await;
        let round_trip = |addr: SocketAddr| async move {
            let mut stream = TcpStream::connect(addr).await.ok()?;
            stream.write_all(b"ping").await.ok()?;
            let mut buf = [0u8; 4];
            stream.read_exact(&mut buf).await.ok()?;
            Some(buf)
        };
        assert_eq!(round_trip(proxy.addr).await, Some(*b"ping"));

        let mut held = TcpStream::connect(proxy.addr).await.unwrap();
        held.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        held.read_exact(&mut buf).await.unwrap();
        proxy.cut();
        assert_eq!(held.read(&mut buf).await.unwrap_or(0), 0, "hung up");
        assert_eq!(round_trip(proxy.addr).await, None, "refused");

        proxy.restore();
        assert_eq!(round_trip(proxy.addr).await, Some(*b"ping"));

        proxy.delay(Duration::from_millis(200));
        let started = std::time::Instant::now();
        assert_eq!(round_trip(proxy.addr).await, Some(*b"ping"));
        // Both ways held: at least twice the delay.
        assert!(started.elapsed() >= Duration::from_millis(400));
    }
}
