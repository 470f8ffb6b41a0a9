//! Token prices by duration (`pricing.prices`).

use std::collections::BTreeMap;

use crate::money::Money;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pricing(BTreeMap<u32, Money>);

impl Pricing {
    pub fn new(prices: BTreeMap<u32, Money>) -> Self {
        Self(prices)
    }

    pub fn price(&self, duration_hours: u32) -> Option<Money> {
        self.0.get(&duration_hours).copied()
    }

    /// `(duration_hours, price)`, shortest first.
    pub fn list(&self) -> impl Iterator<Item = (u32, Money)> + '_ {
        self.0.iter().map(|(h, p)| (*h, *p))
    }

    pub fn durations(&self) -> Vec<u32> {
        self.0.keys().copied().collect()
    }
}
