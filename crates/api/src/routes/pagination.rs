//! The list conventions: `limit`/`offset` in, `{items, total,
//! limit, offset}` out.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use zenzefi_domain::page::{Cursor, Keyed, Page, Paged};
use zenzefi_domain::validation::ValidationErrors;

/// Read as text so that a non-number is a 422 like an out-of-range one;
/// documented as the integers they must be.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1–100.
    #[param(value_type = u32, required = false, minimum = 1, maximum = 100, default = 50)]
    limit: Option<String>,
    /// Items to skip.
    #[param(value_type = u64, required = false, minimum = 0, default = 0)]
    offset: Option<String>,
}

impl PageQuery {
    /// Non-numeric values get the same 422 as out-of-range ones.
    pub fn parse(&self) -> Result<Page, ValidationErrors> {
        let number = |field: &'static str, raw: &Option<String>| match raw {
            None => Ok(None),
            Some(raw) => raw
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ValidationErrors::single(field, "must be an integer")),
        };
        Page::parse(
            number("limit", &self.limit)?,
            number("offset", &self.offset)?,
        )
    }
}

/// The operators' lists also page by keyset: deep pages cost what the
/// first one does.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CursorQuery {
    /// A `next_cursor` of the previous page: the rows after it (then
    /// `offset` counts from there).
    #[param(
        pattern = r"^-?[0-9]{1,19}_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    cursor: Option<String>,
}

impl CursorQuery {
    pub fn parse(&self) -> Result<Option<Cursor>, ValidationErrors> {
        self.cursor.as_deref().map(Cursor::parse).transpose()
    }
}

/// One page of a list, newest first.
#[derive(Serialize, ToSchema)]
pub struct PagedResponse<T> {
    items: Vec<T>,
    /// Matching items on all pages; see `total_estimated`.
    total: u64,
    /// `true` when `total` is the database's estimate: on PostgreSQL a
    /// list counts at most 10 000 matching rows, not millions per page.
    total_estimated: bool,
    limit: u32,
    offset: u64,
    /// Pass as `cursor` for the next page (operators' lists); `null` when
    /// this page is the last or the list has no cursor.
    next_cursor: Option<String>,
}

impl<T> PagedResponse<T> {
    pub fn new<D>(paged: Paged<D>, page: Page, item: impl FnMut(D) -> T) -> Self {
        Self::with_cursor(paged, page, None, item)
    }

    /// A page of a list that pages by cursor too.
    pub fn keyed<D: Keyed>(paged: Paged<D>, page: Page, item: impl FnMut(D) -> T) -> Self {
        let full = paged.items.len() == page.limit as usize;
        let next = paged.items.last().filter(|_| full).map(Keyed::cursor);
        Self::with_cursor(paged, page, next, item)
    }

    fn with_cursor<D>(
        paged: Paged<D>,
        page: Page,
        next: Option<Cursor>,
        item: impl FnMut(D) -> T,
    ) -> Self {
        Self {
            items: paged.items.into_iter().map(item).collect(),
            total: paged.total,
            total_estimated: paged.estimated,
            limit: page.limit,
            offset: page.offset,
            next_cursor: next.map(|cursor| cursor.encode()),
        }
    }
}
