//! Pagination of list endpoints.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::validation::ValidationErrors;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 100;

/// A validated window: `limit` in 1..=100, `offset` ≥ 0, and for the
/// operators' lists optionally `after`: the rows past a cursor, read from
/// an index instead of skipping `offset` rows (which then counts from the
/// cursor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: u32,
    pub offset: u64,
    pub after: Option<Cursor>,
}

impl Default for Page {
    fn default() -> Self {
        Self {
            limit: DEFAULT_LIMIT,
            offset: 0,
            after: None,
        }
    }
}

/// A position in a newest-first list: the `(created_at, id)` of the last
/// row seen. The next page is the rows strictly before it in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub at: OffsetDateTime,
    pub id: Uuid,
}

impl Cursor {
    /// `<unix nanoseconds>_<uuid>`, as [`Cursor::encode`] writes it.
    pub fn parse(text: &str) -> Result<Self, ValidationErrors> {
        let invalid = || ValidationErrors::single("cursor", "must be a next_cursor of a list");
        let (nanos, id) = text.split_once('_').ok_or_else(invalid)?;
        let nanos: i128 = nanos.parse().map_err(|_| invalid())?;
        Ok(Self {
            at: OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| invalid())?,
            id: Uuid::try_parse(id).map_err(|_| invalid())?,
        })
    }

    /// URL-safe and exact to the nanosecond.
    pub fn encode(&self) -> String {
        format!("{}_{}", self.at.unix_timestamp_nanos(), self.id)
    }
}

/// A row of a list that pages by [`Cursor`].
pub trait Keyed {
    fn cursor(&self) -> Cursor;
}

impl Page {
    pub fn parse(limit: Option<i64>, offset: Option<i64>) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let limit = errors.check(
            "limit",
            match limit {
                None => Ok(DEFAULT_LIMIT),
                Some(n) if (1..=i64::from(MAX_LIMIT)).contains(&n) => Ok(n as u32),
                Some(_) => Err(format!("must be between 1 and {MAX_LIMIT}")),
            },
        );
        let offset = errors.check(
            "offset",
            match offset {
                None => Ok(0),
                Some(n) if n >= 0 => Ok(n as u64),
                Some(_) => Err("must not be negative".to_owned()),
            },
        );
        match (limit, offset) {
            (Some(limit), Some(offset)) => Ok(Self {
                limit,
                offset,
                after: None,
            }),
            _ => Err(errors),
        }
    }
}

/// One page of items and the number of items in all pages: exact, or
/// (`estimated`) the planner's estimate where counting would read millions
/// of rows for every page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub estimated: bool,
}

impl<T> Paged<T> {
    pub fn exact(items: Vec<T>, total: u64) -> Self {
        Self {
            items,
            total,
            estimated: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Cursor;
    use time::macros::datetime;
    use uuid::Uuid;

    #[test]
    fn a_cursor_reads_back_what_it_wrote_and_refuses_anything_else() {
        let cursor = Cursor {
            at: datetime!(2026-01-02 03:04:05.123456789 UTC),
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::parse(&cursor.encode()).unwrap(), cursor);
        for bad in [
            "",
            "12",
            "x_y",
            "1_not-a-uuid",
            "99999999999999999999999999_0",
        ] {
            assert!(Cursor::parse(bad).is_err(), "{bad}");
        }
    }
}
