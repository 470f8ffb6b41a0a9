//! The regular expression of amount strings within bounds: what
//! [`crate::money::parse_amount`] reads, then a range check, accepts. JSON
//! Schema has no numeric bounds for strings, so a bounded amount string is
//! documented by a pattern built from its bounds. Only ASCII classes are
//! used, so the pattern means the same in ECMA-262, Rust and Python.

use zenzefi_domain::Money;

/// `^…$` matching exactly the texts `Money` parses (digits, at most two
/// decimals, leading zeros allowed, a `-` only on zero) whose value lies in
/// `min..=max`. Both bounds must be non-negative, `min <= max`.
pub fn amount_pattern(min: Money, max: Money) -> String {
    assert!(
        Money::ZERO <= min && min <= max,
        "amount bounds {min}..={max}"
    );
    let (min_whole, min_cents) = split(min);
    let (max_whole, max_cents) = split(max);
    let mut alternatives = Vec::new();
    if min_whole == max_whole {
        alternatives.push(format!(
            "{}{}",
            whole(min_whole, max_whole),
            fraction(min_cents, max_cents)
        ));
    } else {
        alternatives.push(format!(
            "{}{}",
            whole(min_whole, min_whole),
            fraction(min_cents, 99)
        ));
        if max_whole - min_whole > 1 {
            alternatives.push(format!(
                "{}{}",
                whole(min_whole + 1, max_whole - 1),
                fraction(0, 99)
            ));
        }
        alternatives.push(format!(
            "{}{}",
            whole(max_whole, max_whole),
            fraction(0, max_cents)
        ));
    }
    if min == Money::ZERO {
        // `Money` reads "-0", "-0.00" as zero.
        alternatives.push(format!("-0+{}", fraction(0, 0)));
    }
    format!("^({})$", alternatives.join("|"))
}

fn split(amount: Money) -> (u64, u8) {
    let cents = amount.cents().unsigned_abs();
    (cents / 100, (cents % 100) as u8)
}

/// The whole part: `lo..=hi`, leading zeros allowed.
fn whole(lo: u64, hi: u64) -> String {
    format!("0*({})", integers(lo, hi).join("|"))
}

/// The optional fraction (none, one or two digits) whose value in cents
/// lies in `lo..=hi` ("5" is 50 cents).
fn fraction(lo: u8, hi: u8) -> String {
    let mut forms = Vec::new();
    let (tenths_lo, tenths_hi) = (lo.div_ceil(10), hi / 10);
    if tenths_lo <= tenths_hi {
        forms.push(format!("[{tenths_lo}-{tenths_hi}]"));
    }
    forms.extend(same_width(&format!("{lo:02}"), &format!("{hi:02}")));
    let digits = format!(r"\.({})", forms.join("|"));
    if lo == 0 {
        format!("({digits})?")
    } else {
        digits
    }
}

/// Alternatives matching the decimal integers `lo..=hi` written without
/// leading zeros.
fn integers(lo: u64, hi: u64) -> Vec<String> {
    let mut alternatives = Vec::new();
    let mut from = lo;
    while from <= hi {
        let width = from.to_string().len() as u32;
        let widest = 10u64.saturating_pow(width) - 1;
        let to = hi.min(widest);
        alternatives.extend(same_width(&from.to_string(), &to.to_string()));
        from = to + 1;
    }
    alternatives
}

/// Alternatives matching the digit strings of `lo`'s width between `lo`
/// and `hi` (same width, `lo <= hi`).
fn same_width(lo: &str, hi: &str) -> Vec<String> {
    let (Some(a), Some(b)) = (lo.chars().next(), hi.chars().next()) else {
        return vec![String::new()];
    };
    let (lo_rest, hi_rest) = (&lo[1..], &hi[1..]);
    let any = |n: usize| match n {
        0 => String::new(),
        n => format!("[0-9]{{{n}}}"),
    };
    if a == b {
        return same_width(lo_rest, hi_rest)
            .into_iter()
            .map(|rest| format!("{a}{rest}"))
            .collect();
    }
    if lo_rest.bytes().all(|d| d == b'0') && hi_rest.bytes().all(|d| d == b'9') {
        return vec![format!("[{a}-{b}]{}", any(lo_rest.len()))];
    }
    let nines = "9".repeat(lo_rest.len());
    let zeros = "0".repeat(hi_rest.len());
    let mut alternatives: Vec<String> = same_width(lo_rest, &nines)
        .into_iter()
        .map(|rest| format!("{a}{rest}"))
        .collect();
    let (after_a, before_b) = ((a as u8 + 1) as char, (b as u8 - 1) as char);
    if after_a <= before_b {
        alternatives.push(format!("[{after_a}-{before_b}]{}", any(lo_rest.len())));
    }
    alternatives.extend(
        same_width(&zeros, hi_rest)
            .into_iter()
            .map(|rest| format!("{b}{rest}")),
    );
    alternatives
}

#[cfg(test)]
mod tests {
    use regex::Regex;
    use serde_json::Value;

    use super::*;
    use crate::money::parse_amount;

    /// What the handlers do with an amount string: parse, then range-check.
    fn accepted(text: &str, min: Money, max: Money) -> bool {
        parse_amount("amount", &Value::from(text)).is_ok_and(|m| (min..=max).contains(&m))
    }

    /// Texts around the bounds and of every shape the parser meets.
    fn samples(min: Money, max: Money) -> Vec<String> {
        let mut texts = Vec::new();
        let near = |m: Money| (-120..=120).map(move |d| m.cents() + d);
        for cents in near(min).chain(near(max)).chain(near(Money::ZERO)) {
            let money = Money::from_cents(cents).to_string();
            let trimmed = money.trim_end_matches('0').trim_end_matches('.');
            let tenths = money.strip_suffix('0').unwrap_or(&money);
            for text in [&money, trimmed, tenths] {
                texts.push(text.to_owned());
                texts.push(format!("0{text}"));
                texts.push(format!(" {text}"));
                texts.push(format!("{text} "));
                texts.push(format!("{text}0"));
                texts.push(format!("+{text}"));
            }
        }
        for extra in [
            "", ".", "-", "-0", "-0.0", "-0.00", "00", "0.", ".5", "1e3", "1,00", "١٢", "1.234",
        ] {
            texts.push(extra.to_owned());
        }
        texts
    }

    #[test]
    fn the_pattern_accepts_exactly_what_the_handlers_accept() {
        let bounds = [
            ("1.00", "100000.00"),
            ("0.00", "10000000.00"),
            ("0.00", "12345.67"),
            ("3.45", "3.90"),
            ("0.05", "7.00"),
            ("9.99", "10.01"),
            ("0.00", "0.00"),
        ];
        for (min, max) in bounds {
            let (min, max): (Money, Money) = (min.parse().unwrap(), max.parse().unwrap());
            let pattern = Regex::new(&amount_pattern(min, max)).unwrap();
            for text in samples(min, max) {
                assert_eq!(
                    pattern.is_match(&text),
                    accepted(&text, min, max),
                    "{text:?} within {min}..={max}: {pattern}"
                );
            }
        }
    }
}
