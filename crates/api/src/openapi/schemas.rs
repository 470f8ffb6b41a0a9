//! Named schemas the derives cannot infer: amounts as decimal strings, and
//! the wire forms of closed sets, read from the same tables the code uses.
//! Each is an uninhabited type that fields name with
//! `#[schema(value_type = …)]` (or `#[param(value_type = …)]`), so that the
//! field keeps its own description and required-ness.

use serde_json::Value;
use utoipa::openapi::schema::{
    KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type,
};
use zenzefi_domain::Money as Amount;
use zenzefi_domain::health::{CheckOutcome as Outcome, HealthStatus as Status};
use zenzefi_domain::user::{
    EMAIL_MAX_CHARS, FULL_NAME_MAX_CHARS, PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS,
};
use zenzefi_domain::{audit, ledger, session, token, usage};

use super::amount_pattern::amount_pattern;

/// What `Password::parse` requires beyond its length: an ASCII letter and
/// an ASCII digit, in either order, anywhere (`[\s\S]` is any character in
/// every dialect, a line break included).
pub const PASSWORD_PATTERN: &str = r"[A-Za-z][\s\S]*[0-9]|[0-9][\s\S]*[A-Za-z]";
/// Control characters (`char::is_control`, Unicode category Cc) nowhere.
pub const NO_CONTROL_CHARACTERS: &str = r"^[^\x00-\x1F\x7F-\x9F]*$";
/// What `Email::parse` requires, before trimming: a non-empty local part,
/// one `@`, a domain with a dot that neither starts nor ends it; no
/// whitespace or control character anywhere.
pub const EMAIL_PATTERN: &str = r"^[^@\s\x00-\x1F\x7F-\x9F]+@[^@.\s\x00-\x1F\x7F-\x9F][^@\s\x00-\x1F\x7F-\x9F]*\.[^@\s\x00-\x1F\x7F-\x9F]*[^@.\s\x00-\x1F\x7F-\x9F]$";

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

/// An amount a client sends, within `min..=max`: `"18.50"` or `18.5`, at
/// most two decimals. A number is read from its text, so no float rounding
/// happens.
pub fn amount_input(min: Amount, max: Amount) -> Schema {
    let decimal = |cents: Amount| cents.to_string().parse::<f64>().unwrap_or_default();
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::Custom("decimal".into())))
                .pattern(Some(amount_pattern(min, max)))
                .examples([max.to_string()]),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Number)
                .minimum(Some(decimal(min)))
                .maximum(Some(decimal(max)))
                .multiple_of(Some(0.01))
                .examples([decimal(max)]),
        )
        .description(Some(format!(
            "An amount from {min} to {max}: `\"{max}\"` or `{max}`, at most two decimals; \
             a number is read from its text, never rounded"
        )))
        .build()
        .into()
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
    /// A new password: 8–128 characters, with an ASCII letter and an ASCII
    /// digit.
    NewPassword => ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password)))
        .min_length(Some(PASSWORD_MIN_CHARS))
        .max_length(Some(PASSWORD_MAX_CHARS))
        .pattern(Some(PASSWORD_PATTERN))
        .examples(["Correct-Horse-9"])
        .build()
        .into();
    /// An email address; unique, case-insensitive.
    EmailAddress => ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
        .max_length(Some(EMAIL_MAX_CHARS))
        .pattern(Some(EMAIL_PATTERN))
        .examples(["ada@example.com"])
        .build()
        .into();
    /// A person's name, without control characters; blank means none.
    FullName => ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(FULL_NAME_MAX_CHARS))
        .pattern(Some(NO_CONTROL_CHARACTERS))
        .examples(["Ada Lovelace"])
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

#[cfg(test)]
mod tests {
    use regex::Regex;
    use zenzefi_domain::user::{Email, FullName, Password};

    use super::*;

    /// Strings of every kind the rules tell apart: ASCII and not, letters,
    /// digits, whitespace and control characters in every position.
    fn samples() -> Vec<String> {
        let parts = [
            "", "a", "Z", "7", "ab", "12", " ", "\t", "\n", "\u{0}", "\u{85}", "\u{a0}", "é", "я",
            "٣", "@", ".", "-", "_", "\u{feff}", "x.y", "a@b.c", "@b.c", "a@.c", "a@b.", "a@b",
            "a@b@c.d", "😀",
        ];
        let mut texts = Vec::new();
        for a in parts {
            for b in parts {
                for c in ["", "a", "1", "@x.io", "aaaaaaa", "1111111", "passwor"] {
                    texts.push(format!("{a}{b}{c}"));
                    texts.push(format!("{c}{a}{b}"));
                }
            }
        }
        texts.push("a1".repeat(64));
        texts.push(format!("{}1", "a".repeat(128)));
        texts.push(format!("{}1", "я".repeat(127)));
        texts.push(format!("{}@x.io", "a".repeat(249)));
        texts.push(format!("{}@x.io", "a".repeat(250)));
        texts.push("ё".repeat(200));
        texts.push("ё".repeat(201));
        texts
    }

    /// `pattern` plus the character bounds, as a JSON Schema validator
    /// reads them (JSON Schema patterns are unanchored).
    fn schema(pattern: &str, min_chars: usize, max_chars: usize) -> impl Fn(&str) -> bool {
        let pattern = Regex::new(pattern).unwrap();
        move |text| {
            pattern.is_match(text) && (min_chars..=max_chars).contains(&text.chars().count())
        }
    }

    #[test]
    fn a_new_password_is_schema_valid_exactly_when_the_domain_accepts_it() {
        let valid = schema(PASSWORD_PATTERN, PASSWORD_MIN_CHARS, PASSWORD_MAX_CHARS);
        for text in samples() {
            assert_eq!(
                valid(&text),
                Password::parse(text.clone()).is_ok(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_schema_valid_email_or_name_is_accepted() {
        // The schema may refuse more than the domain (the domain trims
        // surrounding whitespace), never less.
        let email = schema(EMAIL_PATTERN, 0, EMAIL_MAX_CHARS);
        let name = schema(NO_CONTROL_CHARACTERS, 0, FULL_NAME_MAX_CHARS);
        for text in samples() {
            if email(&text) {
                assert!(Email::parse(&text).is_ok(), "email {text:?}");
            }
            if name(&text) {
                assert!(FullName::parse(&text).is_ok(), "name {text:?}");
            }
        }
        for text in ["a@b.c", "Ann.Lee+x@mail.example.org", "ä@ö.ü"] {
            assert!(email(text), "{text:?}");
        }
    }
}
