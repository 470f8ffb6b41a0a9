//! What the derives cannot write into the document: the values that come
//! from the configuration (the token durations on sale, the balance limit)
//! and JSON Schema keywords utoipa has no attribute for. Each edit names
//! the schema it changes; a missing one is a bug the OpenAPI tests catch.

use serde_json::{Value, json};
use zenzefi_domain::Money;

use super::schemas::amount_input;

/// What the document must say that depends on the configuration.
pub struct Limits {
    /// The durations `pricing.prices` sells, in hours.
    pub durations: Vec<u32>,
    /// `currency.max_balance`.
    pub max_balance: Money,
}

/// Applies every edit to the document `doc` (as JSON).
pub fn apply(doc: &mut Value, limits: &Limits) {
    let token_purchase = schema(doc, "TokenPurchaseRequest");
    token_purchase["properties"]["duration_hours"] = json!({
        "type": "integer",
        "enum": limits.durations,
        "description": "One of the durations `GET /api/v1/tokens/pricing` lists, in hours",
    });

    let patch = schema(doc, "AdminUserPatch");
    let mut balance = serde_json::to_value(amount_input(Money::ZERO, limits.max_balance))
        .expect("a schema serializes");
    balance["description"] = patch["properties"]["currency_balance"]["description"].take();
    patch["properties"]["currency_balance"] = balance;
    // `{}` changes nothing and is refused.
    patch["minProperties"] = json!(1);

    let update_me = schema(doc, "UpdateMeRequest");
    update_me["dependentRequired"] = json!({ "password": ["current_password"] });
}

fn schema<'a>(doc: &'a mut Value, name: &str) -> &'a mut Value {
    doc.pointer_mut(&format!("/components/schemas/{name}"))
        .filter(|schema| schema.is_object())
        .unwrap_or_else(|| panic!("the document has no schema {name}"))
}
