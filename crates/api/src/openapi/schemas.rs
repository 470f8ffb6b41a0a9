//! Named schemas the derives cannot infer: amounts as decimal strings, and
//! the wire forms of closed sets, read from the same tables the code uses.
//! Each is an uninhabited type that fields name with
//! `#[schema(value_type = …)]` (or `#[param(value_type = …)]`), so that the
//! field keeps its own description and required-ness.

use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type};
use zenzefi_domain::health::{CheckOutcome as Outcome, HealthStatus as Status};
use zenzefi_domain::{audit, ledger, session, token, usage};

/// Declares each schema as an uninhabited type named after it, its doc
/// comment the schema's description.
macro_rules! named_schemas {
    ($($(#[doc = $doc:literal])+ $name:ident => $schema:expr;)+) => {
        $(
            $(#[doc = $doc])+
            pub enum $name {}

            impl utoipa::PartialSchema for $name {
                fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                    let description = [$($doc.trim()),+].join("\n");
                    utoipa::openapi::RefOr::T($crate::openapi::schemas::with_description(
                        $schema,
                        description,
                    ))
                }
            }

            impl utoipa::ToSchema for $name {}
        )+
    };
}
pub(crate) use named_schemas;

pub fn with_description(schema: Schema, description: String) -> Schema {
    match schema {
        Schema::Object(mut object) => {
            object.description = Some(description);
            Schema::Object(object)
        }
        Schema::OneOf(mut one_of) => {
            one_of.description = Some(description);
            Schema::OneOf(one_of)
        }
        other => other,
    }
}

pub fn strings<'a>(values: impl IntoIterator<Item = &'a str>) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.into_iter().map(Value::from)))
        .build()
        .into()
}

named_schemas! {
    /// An amount as the API writes it: a decimal string with exactly two
    /// places (ZNC unless the field says otherwise), never a float.
    Money => ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::Custom("decimal".into())))
        .pattern(Some(r"^-?[0-9]+\.[0-9]{2}$"))
        .examples(["18.00"])
        .build()
        .into();
    /// An amount a client sends: `"18.50"` or `18.5`, at most two decimals.
    /// A number is read from its text, so no float rounding happens.
    AmountInput => OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::Custom("decimal".into())))
                .pattern(Some(r"^-?[0-9]+(\.[0-9]{1,2})?$"))
                .examples(["18.50"]),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Number)
                .multiple_of(Some(0.01))
                .examples([18.5]),
        )
        .build()
        .into();
    /// What a token may reach through the proxy: `certificates_only` allows
    /// only the certificate paths.
    Scope => strings(token::Scope::ALL.iter().map(|s| s.as_str()));
    /// Why the balance moved.
    TransactionType => strings(ledger::EntryKind::ALL.iter().map(|k| k.as_str()));
    /// Only `succeeded` entries count towards the balance.
    TransactionStatus => strings(ledger::EntryStatus::ALL.iter().map(|s| s.as_str()));
    /// Why a session ended.
    EndReason => strings(session::EndReason::ALL.iter().map(|r| r.as_str()));
    /// What an audit entry records.
    AuditAction => strings(audit::AuditAction::ALL.iter().map(|a| a.as_str()));
    /// The kind of thing an audit entry is about.
    ResourceType => strings(audit::ResourceType::ALL.iter().map(|r| r.as_str()));
    /// `degraded`: only the upstream is down; `unhealthy`: the database or
    /// Redis is down, or the last check is too old.
    HealthStatus => strings([Status::Healthy, Status::Degraded, Status::Unhealthy].map(|s| s.as_str()));
    /// `not_configured`: the dependency is not part of this deployment.
    CheckOutcome => strings([Outcome::Ok, Outcome::Unavailable, Outcome::NotConfigured].map(|o| o.as_str()));
    /// The payment provider's events the webhook acts on.
    PaymentEvent => strings(["payment.succeeded", "payment.canceled"]);
    /// The step of a usage series.
    Granularity => strings(usage::Granularity::ALL.iter().map(|g| g.as_str()));
    /// What a usage top list ranks by (`bytes`: request and response bytes).
    TopBy => strings(["requests", "bytes"]);
    /// What a usage top list ranks: tokens or users.
    TopGroup => strings(["token", "user"]);
    /// What the mock payment page can decide.
    PaymentOutcome => strings(["succeeded", "canceled"]);
}
