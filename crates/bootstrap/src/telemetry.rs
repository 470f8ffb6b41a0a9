//! Structured logs: human-readable or JSON, filtered by `log.level` unless
//! `RUST_LOG` says otherwise, written to stdout by a background thread.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::thread;
use std::time::Duration;

use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::log_line::{Fields, Line};
use crate::settings::{LogFormat, Settings};

/// Formatted lines that may wait for the writer thread before a logging call
/// blocks (about 30 MB of access-log lines at most; reached only while stdout
/// itself is stalled).
const QUEUED_LINES: usize = 128_000;

/// Bytes the writer thread gathers before one write to stdout.
const WRITE_BUFFER: usize = 64 * 1024;

/// How long the writer thread rests after each flush (see `Paced`): the
/// most a line waits before it reaches stdout while the log is busy.
const FLUSH_PAUSE: Duration = Duration::from_millis(10);

const QUIET_DISPATCHER: &str = "actix_http::h1::dispatcher=off";

/// Installs the global subscriber. Keep the returned guard for the life of
/// the process: dropping it writes out the lines still queued.
#[must_use = "dropping the guard stops the log writer"]
pub fn init_tracing(settings: &Settings) -> WorkerGuard {
    let (writer, guard) = background_writer(io::stdout());
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.log.level));
    // actix's connection dispatcher logs at ERROR what peers cause: a
    // request its parser rejects (answered 400), a reset connection, a
    // response body cut off. A client must not write ERROR lines at will;
    // the gateway logs the failures it causes itself.
    let filter = filter.add_directive(QUIET_DISPATCHER.parse().expect("a valid directive"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour codes only for a person at a terminal, not in files or pipes.
        .with_ansi(io::stdout().is_terminal())
        .with_writer(writer);
    // A second init (tests) keeps the first subscriber.
    let _ = match settings.log.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.event_format(Line).fmt_fields(Fields).try_init(),
    };
    guard
}

/// Request threads only queue their formatted line; one background thread
/// writes whatever has queued up in large writes. Lossless: with the queue
/// full a logging call waits for room (as it did when it wrote itself)
/// rather than dropping the line.
fn background_writer<W: Write + Send + Sync + 'static>(sink: W) -> (NonBlocking, WorkerGuard) {
    NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("log-writer")
        .finish(Paced(BufWriter::with_capacity(WRITE_BUFFER, sink)))
}

/// The writer thread's sink. tracing-appender's worker writes every queued
/// line, flushes, then blocks until the next line arrives, so under load a
/// request thread would pay for waking it (a futex call and a context
/// switch) on almost every line. Resting after each flush lets the lines of
/// the next `FLUSH_PAUSE` gather in the queue without waking anyone; they
/// then go out in one write.
struct Paced<W: Write>(BufWriter<W>);

impl<W: Write> Write for Paced<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()?;
        thread::sleep(FLUSH_PAUSE);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A sink the test can read back after the writer thread is done.
    #[derive(Clone, Default)]
    struct Collected(Arc<Mutex<Vec<u8>>>);

    impl Write for Collected {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_line_reaches_the_sink_while_the_guard_is_still_held() {
        let sink = Collected::default();
        let (mut writer, _guard) = background_writer(sink.clone());
        writer.write_all(b"request completed\n").unwrap();

        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while sink.0.lock().unwrap().is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "the line was never written"
            );
            thread::sleep(FLUSH_PAUSE);
        }
        assert_eq!(&sink.0.lock().unwrap()[..], b"request completed\n");
    }

    #[test]
    fn every_line_queued_before_the_guard_drops_reaches_the_sink_in_order() {
        let sink = Collected::default();
        let (mut writer, guard) = background_writer(sink.clone());
        let expected: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
        for line in expected.split_inclusive('\n') {
            writer.write_all(line.as_bytes()).unwrap();
        }
        drop(guard);

        let written = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(written, expected);
        assert_eq!(writer.error_counter().dropped_lines(), 0);
    }
}
