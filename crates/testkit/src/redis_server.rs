//! A Redis server of a test's own, on a free loopback port, that the test
//! may kill and start again: outages and dropped connections without
//! disturbing the shared server other tests use.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts `redis-server` (from `PATH`) on a free port. `None`, with a
    /// note, when it is not installed; under `CI=true` that fails instead.
    pub async fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = Self { port, child: None };
        if !server.spawn() {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("redis-server is not installed: CI must run the outage tests");
            }
            eprintln!("skipping: redis-server is not installed");
            return None;
        }
        server.until_ready().await;
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server at once (no shutdown courtesy); it keeps nothing.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty, and waits until it answers.
    pub async fn restart(&mut self) {
        self.kill();
        assert!(self.spawn(), "redis-server starts again");
        self.until_ready().await;
    }

    /// Runs one command (inline protocol) and returns the raw reply.
    pub async fn command(&self, line: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect to the test's Redis");
        stream
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .expect("send a command");
        let mut reply = Vec::new();
        while !complete(&reply) {
            let mut chunk = [0; 16 * 1024];
            let n = stream.read(&mut chunk).await.expect("read the reply");
            assert!(n > 0, "the test's Redis closed the connection");
            reply.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8_lossy(&reply).into_owned()
    }

    fn spawn(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match child {
            Ok(child) => {
                self.child = Some(child);
                true
            }
            Err(_) => false,
        }
    }

    async fn until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Ok(mut stream)) = tokio::time::timeout(
                Duration::from_millis(200),
                TcpStream::connect(("127.0.0.1", self.port)),
            )
            .await
            {
                let mut reply = [0; 7];
                if stream.write_all(b"PING\r\n").await.is_ok()
                    && stream.read_exact(&mut reply).await.is_ok()
                    && &reply == b"+PONG\r\n"
                {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Whether `reply` holds a whole simple reply or bulk string.
fn complete(reply: &[u8]) -> bool {
    let Some(end) = reply.windows(2).position(|w| w == b"\r\n") else {
        return false;
    };
    match reply.first() {
        Some(b'$') => std::str::from_utf8(&reply[1..end])
            .ok()
            .and_then(|n| n.parse::<i64>().ok())
            .is_none_or(|n| n < 0 || reply.len() >= end + 2 + n as usize + 2),
        _ => true,
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
