//! Users, tokens and sessions as operators list them: filtered, newest
//! first, with the total of every page and (for tokens and sessions) the
//! owner's email and username from one join.

use sea_orm::sea_query::{Expr, ExprTrait, Func, IntoColumnRef, LikeExpr};
use sea_orm::{ColumnTrait, Condition, EntityTrait, FromQueryResult, JoinType, QueryFilter};
use zenzefi_domain::PortError;
use zenzefi_domain::admin::{SessionFilter, SessionRecord, TokenFilter, TokenRecord, UserFilter};
use zenzefi_domain::page::{Page, Paged};
use zenzefi_domain::user::User;

use super::{Keyset, page_with_total, required_owner, with_owner};
use crate::entities::{access_tokens, proxy_sessions, users};
use crate::errors::port_error;
use crate::store::{SeaDatabase, sessions, tokens};

pub(super) async fn users(
    db: &SeaDatabase,
    filter: &UserFilter,
    page: Page,
) -> Result<Paged<User>, PortError> {
    let condition = Condition::all()
        .add_option(filter.search.as_deref().map(|search| {
            let pattern = contains_pattern(search);
            Condition::any()
                .add(matches(users::Column::Email, &pattern))
                .add(matches(users::Column::Username, &pattern))
        }))
        .add_option(
            filter
                .is_active
                .map(|active| users::Column::IsActive.eq(active)),
        );
    let select = users::Entity::find().filter(condition.clone());
    // Rows of the same instant: ids are UUIDv7, later ones first.
    let keyset = Keyset::new(
        (users::Entity, users::Column::CreatedAt),
        (users::Entity, users::Column::Id),
    );
    let (rows, total, estimated) = page_with_total(db, select, &keyset, page, condition).await?;
    let items = rows
        .iter()
        .map(|row| {
            let stored = users::Model::from_query_result(row, "").map_err(port_error)?;
            crate::store::users::to_domain(stored)
        })
        .collect::<Result<_, _>>()?;
    Ok(Paged {
        items,
        total,
        estimated,
    })
}

pub(super) async fn tokens(
    db: &SeaDatabase,
    filter: &TokenFilter,
    page: Page,
) -> Result<Paged<TokenRecord>, PortError> {
    let backend = db.conn.get_database_backend();
    let condition = Condition::all()
        .add_option(
            filter
                .user_id
                .map(|user| access_tokens::Column::UserId.eq(user.0)),
        )
        .add_option(filter.usable_at.map(|at| tokens::usable_at(backend, at)));
    let select = with_owner(
        access_tokens::Entity::find(),
        access_tokens::Column::UserId,
        JoinType::InnerJoin,
    )
    .filter(condition.clone());
    let keyset = Keyset::new(
        (access_tokens::Entity, access_tokens::Column::CreatedAt),
        (access_tokens::Entity, access_tokens::Column::Id),
    );
    let (rows, total, estimated) = page_with_total(db, select, &keyset, page, condition).await?;
    let items = rows
        .iter()
        .map(|row| {
            let stored = access_tokens::Model::from_query_result(row, "").map_err(port_error)?;
            let last_used_at = stored.last_used_at;
            Ok(TokenRecord {
                token: tokens::to_domain(stored)?,
                last_used_at,
                owner: required_owner(row, "access_tokens")?,
            })
        })
        .collect::<Result<_, PortError>>()?;
    Ok(Paged {
        items,
        total,
        estimated,
    })
}

pub(super) async fn sessions(
    db: &SeaDatabase,
    filter: &SessionFilter,
    page: Page,
) -> Result<Paged<SessionRecord>, PortError> {
    use proxy_sessions::{Column, Entity};
    let backend = db.conn.get_database_backend();
    let condition = Condition::all()
        .add_option(filter.active_only.then(|| Column::IsActive.eq(true)))
        .add_option(filter.user_id.map(|user| Column::UserId.eq(user.0)))
        .add_option(filter.token_id.map(|token| Column::TokenId.eq(token.0)));
    let select = with_owner(
        sessions::select_sessions(backend),
        Column::UserId,
        JoinType::InnerJoin,
    )
    .filter(condition.clone());
    let keyset = Keyset::new((Entity, Column::StartedAt), (Entity, Column::Id));
    let (rows, total, estimated) = page_with_total(db, select, &keyset, page, condition).await?;
    let items = rows
        .iter()
        .map(|row| {
            let stored = proxy_sessions::Model::from_query_result(row, "").map_err(port_error)?;
            Ok(SessionRecord {
                session: sessions::to_domain(stored)?,
                owner: required_owner(row, "proxy_sessions")?,
            })
        })
        .collect::<Result<_, PortError>>()?;
    Ok(Paged {
        items,
        total,
        estimated,
    })
}

/// `lower(col) LIKE pattern ESCAPE '\'`, on both backends.
fn matches(col: impl IntoColumnRef, pattern: &str) -> Expr {
    Expr::expr(Func::lower(Expr::col(col))).like(LikeExpr::new(pattern).escape('\\'))
}

/// A LIKE pattern for "contains `search`", lower-cased, with the wildcards
/// and the escape character in it escaped so that they match themselves.
/// Lower-cased here rather than by SQL `lower()`, which on SQLite folds
/// ASCII only; stored emails are lower-cased by the domain the same way.
fn contains_pattern(search: &str) -> String {
    let mut pattern = String::with_capacity(search.len() + 2);
    pattern.push('%');
    for c in search.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn a_search_becomes_a_lower_case_pattern_with_its_wildcards_escaped() {
        assert_eq!(contains_pattern("Ann"), "%ann%");
        assert_eq!(contains_pattern("a_b"), r"%a\_b%");
        assert_eq!(contains_pattern("100%"), r"%100\%%");
        assert_eq!(contains_pattern(r"a\b"), r"%a\\b%");
        assert_eq!(contains_pattern(""), "%%");
    }
}
