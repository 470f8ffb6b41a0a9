//! Amounts on the wire: clients may send `"18.50"` or `18.5`; both must
//! be exact to the cent (no floats are involved: the number's text is read).
//! A string is taken as it is: `" 18.50"` is refused, as the schema says.

use serde_json::Value;
use zenzefi_domain::Money;
use zenzefi_domain::validation::ValidationErrors;

pub fn parse_amount(field: &'static str, value: &Value) -> Result<Money, ValidationErrors> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    text.parse::<Money>()
        .map_err(|_| ValidationErrors::single(field, "must be an amount with at most two decimals"))
}
