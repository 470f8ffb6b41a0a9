//! The list conventions of SPEC §11: `limit`/`offset` in, `{items, total,
//! limit, offset}` out.

use serde::{Deserialize, Serialize};
use zenzefi_domain::page::{Page, Paged};
use zenzefi_domain::validation::ValidationErrors;

#[derive(Deserialize)]
pub struct PageQuery {
    limit: Option<String>,
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

#[derive(Serialize)]
pub struct PagedResponse<T> {
    items: Vec<T>,
    total: u64,
    limit: u32,
    offset: u64,
}

impl<T> PagedResponse<T> {
    pub fn new<D>(paged: Paged<D>, page: Page, item: impl FnMut(D) -> T) -> Self {
        Self {
            items: paged.items.into_iter().map(item).collect(),
            total: paged.total,
            limit: page.limit,
            offset: page.offset,
        }
    }
}
