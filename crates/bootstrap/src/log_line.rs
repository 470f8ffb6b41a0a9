//! The human-readable log line, laid out as tracing-subscriber's default
//! "full" format (`<time> <LEVEL> <span>{fields}: <target>: <message> k=v…`)
//! but written without the `fmt` machinery where it can be: the access log
//! writes one line per request, and the default formatter spent more on a
//! line than the proxy spends on the rest of its own work for that request.

use std::fmt::{self, Write};

use time::OffsetDateTime;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The event format: timestamp (UTC, microseconds), level, the spans from
/// the root with their fields, the target, then the event's fields.
pub struct Line;

/// The field format of events and spans: `message` bare, strings quoted
/// and escaped (a value cannot forge a line or a field), numbers as digits.
pub struct Fields;

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // Records from the `log` crate carry their real target in fields.
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        write_timestamp(&mut writer, OffsetDateTime::now_utc())?;
        writer.write_str(level_label(meta.level(), writer.has_ansi_escapes()))?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                writer.write_str(span.name())?;
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    writer.write_char('{')?;
                    writer.write_str(fields)?;
                    writer.write_char('}')?;
                }
                writer.write_char(':')?;
            }
            writer.write_char(' ')?;
        }
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        ctx.format_fields(writer.by_ref(), event)?;
        writer.write_char('\n')
    }
}

impl<'w> FormatFields<'w> for Fields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = FieldWriter {
            writer,
            empty: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

/// `2026-11-30T20:30:00.123456Z ` from fixed-width digits.
fn write_timestamp(writer: &mut impl Write, now: OffsetDateTime) -> fmt::Result {
    let year = now.year();
    if !(0..=9999).contains(&year) {
        return write!(writer, "{now} ");
    }
    let mut line = *b"0000-00-00T00:00:00.000000Z ";
    put_digits(&mut line[0..4], year.unsigned_abs());
    put_digits(&mut line[5..7], u32::from(u8::from(now.month())));
    put_digits(&mut line[8..10], u32::from(now.day()));
    put_digits(&mut line[11..13], u32::from(now.hour()));
    put_digits(&mut line[14..16], u32::from(now.minute()));
    put_digits(&mut line[17..19], u32::from(now.second()));
    put_digits(&mut line[20..26], now.microsecond());
    // Only ASCII digits were written into an ASCII template.
    writer.write_str(std::str::from_utf8(&line).map_err(|_| fmt::Error)?)
}

/// Writes `value`'s last `out.len()` decimal digits, zero-padded.
fn put_digits(out: &mut [u8], mut value: u32) {
    for slot in out.iter_mut().rev() {
        // A remainder of 10 is below 10: the cast cannot truncate.
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// The level, right-aligned to five columns as the default format has it;
/// coloured for a terminal.
fn level_label(level: &Level, ansi: bool) -> &'static str {
    match (*level, ansi) {
        (Level::ERROR, false) => "ERROR ",
        (Level::WARN, false) => " WARN ",
        (Level::INFO, false) => " INFO ",
        (Level::DEBUG, false) => "DEBUG ",
        (Level::TRACE, false) => "TRACE ",
        (Level::ERROR, true) => "\x1b[31mERROR\x1b[0m ",
        (Level::WARN, true) => "\x1b[33m WARN\x1b[0m ",
        (Level::INFO, true) => "\x1b[32m INFO\x1b[0m ",
        (Level::DEBUG, true) => "\x1b[34mDEBUG\x1b[0m ",
        (Level::TRACE, true) => "\x1b[35mTRACE\x1b[0m ",
    }
}

struct FieldWriter<'w> {
    writer: Writer<'w>,
    empty: bool,
    result: fmt::Result,
}

impl FieldWriter<'_> {
    /// Runs `write` unless an earlier write failed; `name` = None for the
    /// message, which goes out bare. `log.*` fields are the `log` crate's
    /// metadata, already shown as the target.
    fn field(&mut self, field: &Field, write: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() || field.name().starts_with("log.") {
            return;
        }
        self.result = (|| {
            if !self.empty {
                self.writer.write_char(' ')?;
            }
            self.empty = false;
            if field.name() != "message" {
                self.writer.write_str(field.name())?;
                self.writer.write_char('=')?;
            }
            write(&mut self.writer)
        })();
    }
}

impl Visit for FieldWriter<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let message = field.name() == "message";
        self.field(field, |w| {
            if message {
                w.write_str(value)
            } else if value
                .bytes()
                .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
            {
                w.write_char('"')?;
                w.write_str(value)?;
                w.write_char('"')
            } else {
                write!(w, "{value:?}")
            }
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |w| w.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |w| w.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, |w| write!(w, "{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use time::macros::datetime;
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Self;
        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    fn logged(emit: impl FnOnce()) -> String {
        let sink = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .event_format(Line)
            .fmt_fields(Fields)
            .with_writer(sink.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        String::from_utf8(sink.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn a_line_has_the_default_layout() {
        let line = logged(|| {
            let span = tracing::info_span!("request", request_id = "r-1", method = %"GET");
            span.in_scope(|| {
                tracing::info!(
                    route = "/a b",
                    status = 200u16,
                    took = -3i64,
                    ok = true,
                    "done"
                );
            });
        });
        let (stamp, rest) = line.split_at(28);
        assert!(stamp.ends_with("Z "), "{line}");
        assert_eq!(
            rest,
            " INFO request{request_id=\"r-1\" method=GET}: \
             zenzefi_bootstrap::log_line::tests: done route=\"/a b\" status=200 took=-3 ok=true\n"
        );
    }

    #[test]
    fn strings_cannot_forge_lines_or_fields() {
        let line = logged(|| tracing::warn!(email = "x\" admin=\"1\nERROR y", "refused"));
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(
            line.ends_with("refused email=\"x\\\" admin=\\\"1\\nERROR y\"\n"),
            "{line}"
        );
    }

    #[test]
    fn timestamps_are_fixed_width_utc() {
        let mut out = String::new();
        write_timestamp(&mut out, datetime!(2026-03-04 05:06:07.000089 UTC)).unwrap();
        assert_eq!(out, "2026-03-04T05:06:07.000089Z ");
    }
}
