//! The list conventions: `limit`/`offset` in, `{items, total,
//! limit, offset}` out.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use zenzefi_domain::page::{Page, Paged};
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

/// One page of a list, newest first.
#[derive(Serialize, ToSchema)]
pub struct PagedResponse<T> {
    items: Vec<T>,
    /// Matching items on all pages.
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
