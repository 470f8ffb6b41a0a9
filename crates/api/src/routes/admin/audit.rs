//! The audit trail: filtered pages, and the whole filtered trail as a
//! streamed NDJSON or CSV download.

use actix_web::HttpResponse;
use actix_web::http::header;
use actix_web::web::{self, Bytes, BytesMut};
use futures::{StreamExt, stream};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use zenzefi_domain::PortError;
use zenzefi_domain::admin::{AuditFilter, AuditRecord};
use zenzefi_domain::audit::{AuditAction, ResourceType};
use zenzefi_domain::user::UserId;
use zenzefi_domain::validation::ValidationErrors;

use super::{Checked, Listing, OwnerFields, page_of};
use crate::error::ApiError;
use crate::extract::Superuser;
use crate::openapi::problem;
use crate::openapi::schemas;
use crate::routes::pagination::{CursorQuery, PageQuery, PagedResponse};
use crate::state::AppState;

/// Records encoded into one chunk of the download, when that many are ready.
const EXPORT_BATCH: usize = 256;

#[derive(Serialize, ToSchema)]
#[schema(as = AuditLogEntry)]
struct AuditResponse {
    id: Uuid,
    /// Who acted; `null` for anonymous attempts such as a failed login.
    user_id: Option<Uuid>,
    #[schema(value_type = schemas::AuditAction)]
    action: &'static str,
    #[schema(value_type = schemas::ResourceType)]
    resource_type: &'static str,
    resource_id: Option<Uuid>,
    /// What the action changed or attempted; its shape depends on `action`.
    #[schema(value_type = Object)]
    details: Value,
    ip_address: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(flatten)]
    owner: OwnerFields,
}

impl From<AuditRecord> for AuditResponse {
    fn from(record: AuditRecord) -> Self {
        let entry = record.entry;
        Self {
            id: entry.id,
            user_id: entry.actor.map(|a| a.0),
            action: entry.action.as_str(),
            resource_type: entry.resource_type.as_str(),
            resource_id: entry.resource_id,
            details: entry.details,
            ip_address: entry.context.ip.map(|ip| ip.to_string()),
            user_agent: entry.context.user_agent,
            request_id: entry.context.request_id,
            created_at: entry.created_at,
            owner: OwnerFields::from(record.actor),
        }
    }
}

/// The filters both the list and the export take.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct FilterQuery {
    /// Only entries of this actor.
    #[param(value_type = Uuid, required = false)]
    user_id: Option<String>,
    #[param(value_type = Option<schemas::AuditAction>, inline)]
    action: Option<String>,
    #[param(value_type = Option<schemas::ResourceType>, inline)]
    resource_type: Option<String>,
    #[param(value_type = Uuid, required = false)]
    resource_id: Option<String>,
    /// Inclusive, RFC 3339.
    #[param(value_type = String, format = DateTime, required = false)]
    since: Option<String>,
    /// Exclusive, RFC 3339.
    #[param(value_type = String, format = DateTime, required = false)]
    until: Option<String>,
}

impl FilterQuery {
    fn read(&self, checked: &mut Checked) -> AuditFilter {
        AuditFilter {
            user_id: checked.uuid("user_id", self.user_id.as_deref()).map(UserId),
            action: checked.one_of(
                "action",
                self.action.as_deref(),
                AuditAction::ALL,
                AuditAction::as_str,
            ),
            resource_type: checked.one_of(
                "resource_type",
                self.resource_type.as_deref(),
                ResourceType::ALL,
                ResourceType::as_str,
            ),
            resource_id: checked.uuid("resource_id", self.resource_id.as_deref()),
            since: checked.instant("since", self.since.as_deref()),
            until: checked.instant("until", self.until.as_deref()),
        }
    }
}

#[utoipa::path(
    get,
    path = "/audit-logs",
    operation_id = "admin_list_audit_logs",
    tag = "admin",
    summary = "The audit trail, newest first",
    security(("bearer_jwt" = [])),
    params(PageQuery, CursorQuery, FilterQuery),
    responses(
        (status = 200, description = "One page of entries", body = PagedResponse<AuditResponse>),
        problem::AdminRefusals,
    )
)]
pub(super) async fn list(
    state: web::Data<AppState>,
    _: Superuser,
    query: web::Query<Listing<FilterQuery>>,
) -> Result<HttpResponse, ApiError> {
    let (page, filter) = query.read(FilterQuery::read)?;
    let entries = state.admin.audit(&filter, page).await?;
    Ok(page_of(entries, page, AuditResponse::from))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Ndjson,
    Csv,
}

impl Format {
    const ALL: &[Format] = &[Format::Ndjson, Format::Csv];

    fn as_str(self) -> &'static str {
        match self {
            Self::Ndjson => "ndjson",
            Self::Csv => "csv",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Ndjson => "application/x-ndjson",
            Self::Csv => "text/csv; charset=utf-8",
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ExportQuery {
    /// `ndjson` (one entry per line, as in the list) or `csv`.
    #[param(value_type = ExportFormat, inline, required = true)]
    format: Option<String>,
    /// Documented as its own parameters: IntoParams cannot flatten.
    #[serde(flatten)]
    #[param(ignore)]
    filter: FilterQuery,
}

schemas::named_schemas! {
    /// The audit export's file formats.
    ExportFormat => schemas::strings(Format::ALL.iter().map(|f| f.as_str()));
}

/// Streams every matching entry, newest first. The adapter reads in
/// bounded batches, so memory stays flat however long the trail is; a
/// failure midway cuts the download short (the status is sent already).
#[utoipa::path(
    get,
    path = "/audit-logs/export",
    operation_id = "admin_export_audit_logs",
    tag = "admin",
    summary = "Download the filtered audit trail",
    description = "Every matching entry, newest first, streamed. NDJSON lines have the \
                   `AuditLogEntry` shape; CSV has a header row and quotes per RFC 4180.",
    security(("bearer_jwt" = [])),
    params(ExportQuery, FilterQuery),
    responses(
        (status = 200, description = "The download",
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"audit-logs.<format>\"`")),
            content(
                (String = "application/x-ndjson"),
                (String = "text/csv"),
            )),
        problem::AdminRefusals,
    )
)]
pub(super) async fn export(
    state: web::Data<AppState>,
    _: Superuser,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut checked = Checked::default();
    let format = checked.one_of(
        "format",
        query.format.as_deref(),
        Format::ALL,
        Format::as_str,
    );
    let filter = query.filter.read(&mut checked);
    checked.done()?;
    let format =
        format.ok_or_else(|| ValidationErrors::single("format", "is required: ndjson or csv"))?;

    let header_row = match format {
        Format::Ndjson => None,
        Format::Csv => Some(Ok(Bytes::from_static(CSV_HEADER.as_bytes()))),
    };
    let rows = state
        .admin
        .export_audit(filter)
        .ready_chunks(EXPORT_BATCH)
        .map(move |batch| encode(format, batch))
        .inspect(|chunk| {
            if let Err(err) = chunk {
                tracing::error!(error = %err, "audit export cut short");
            }
        });
    let body = stream::iter(header_row).chain(rows);
    let filename = format!("audit-logs.{}", format.as_str());
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .streaming(body))
}

fn encode(format: Format, batch: Vec<Result<AuditRecord, PortError>>) -> Result<Bytes, PortError> {
    let mut out = BytesMut::new();
    for record in batch {
        let row = AuditResponse::from(record?);
        match format {
            Format::Ndjson => {
                let line = serde_json::to_vec(&row).map_err(PortError::unexpected)?;
                out.extend_from_slice(&line);
                out.extend_from_slice(b"\n");
            }
            Format::Csv => out.extend_from_slice(csv_row(&row).as_bytes()),
        }
    }
    Ok(out.freeze())
}

const CSV_HEADER: &str = "id,created_at,action,resource_type,resource_id,user_id,user_email,\
                          user_username,ip_address,user_agent,request_id,details\r\n";

fn csv_row(row: &AuditResponse) -> String {
    let text = |v: Option<&str>| v.unwrap_or_default().to_owned();
    let uuid = |v: Option<Uuid>| v.map(|u| u.to_string()).unwrap_or_default();
    let fields = [
        row.id.to_string(),
        row.created_at.format(&Rfc3339).unwrap_or_default(),
        row.action.to_owned(),
        row.resource_type.to_owned(),
        uuid(row.resource_id),
        uuid(row.user_id),
        text(row.owner.user_email.as_deref()),
        text(row.owner.user_username.as_deref()),
        text(row.ip_address.as_deref()),
        text(row.user_agent.as_deref()),
        text(row.request_id.as_deref()),
        row.details.to_string(),
    ];
    let mut line = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// One RFC 4180 field: quoted when it holds a separator, a quote or a line
/// break, quotes doubled. A value a spreadsheet would run as a formula
/// (user agents and attempted emails come from anyone) is defused with a
/// leading `'`, as OWASP advises for CSV exports.
fn csv_field(value: &str) -> String {
    let formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let value = if formula {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if formula || value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field(""), "");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("{\"k\":1}"), "\"{\"\"k\"\":1}\"");
    }

    #[test]
    fn csv_fields_that_look_like_formulas_are_defused() {
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("@cmd"), "\"'@cmd\"");
    }
}
