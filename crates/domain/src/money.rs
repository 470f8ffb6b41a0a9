//! Exact amounts of ZNC, held as integer cents.

use std::fmt;
use std::str::FromStr;

/// An amount in cents. Formats as a two-place decimal (`"18.00"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an amount with at most two decimal places: {0:?}")]
pub struct ParseMoneyError(String);

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_cents(cents: i64) -> Self {
        Self(cents)
    }

    pub const fn cents(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }
}

impl std::ops::Neg for Money {
    type Output = Money;

    fn neg(self) -> Money {
        Money(-self.0)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl FromStr for Money {
    type Err = ParseMoneyError;

    /// Accepts `"18"`, `"18.5"`, `"18.50"`, `"-3.00"`; rejects exponents,
    /// more than two decimals and anything that would overflow.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseMoneyError(s.to_owned());
        let (negative, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(frac) || frac.len() > 2 {
            return Err(err());
        }
        if digits.contains('.') && frac.is_empty() {
            return Err(err());
        }
        let whole: i64 = whole.parse().map_err(|_| err())?;
        let frac: i64 = format!("{frac:0<2}").parse().map_err(|_| err())?;
        let cents = whole
            .checked_mul(100)
            .and_then(|c| c.checked_add(frac))
            .ok_or_else(err)?;
        Ok(Money(if negative { -cents } else { cents }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_two_places() {
        assert_eq!(Money::from_cents(1800).to_string(), "18.00");
        assert_eq!(Money::from_cents(5).to_string(), "0.05");
        assert_eq!(Money::from_cents(-1234).to_string(), "-12.34");
    }

    #[test]
    fn parses_exact_decimals_and_rejects_the_rest() {
        assert_eq!("18".parse(), Ok(Money::from_cents(1800)));
        assert_eq!("18.5".parse(), Ok(Money::from_cents(1850)));
        assert_eq!("0.01".parse(), Ok(Money::from_cents(1)));
        assert_eq!("-3.00".parse(), Ok(Money::from_cents(-300)));
        for bad in [
            "",
            ".5",
            "1.",
            "1.234",
            "1e3",
            "abc",
            "1,00",
            "99999999999999999999",
        ] {
            assert!(bad.parse::<Money>().is_err(), "{bad:?} parsed");
        }
    }
}
