//! Pagination of list endpoints.

use crate::validation::ValidationErrors;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 100;

/// A validated window: `limit` in 1..=100, `offset` ≥ 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: u32,
    pub offset: u64,
}

impl Default for Page {
    fn default() -> Self {
        Self {
            limit: DEFAULT_LIMIT,
            offset: 0,
        }
    }
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
            (Some(limit), Some(offset)) => Ok(Self { limit, offset }),
            _ => Err(errors),
        }
    }
}

/// One page of items and the number of items in all pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub total: u64,
}
