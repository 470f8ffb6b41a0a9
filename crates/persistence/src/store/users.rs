use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    SqlErr,
};
use zenzefi_domain::Money;
use zenzefi_domain::PortError;
use zenzefi_domain::ports::{InsertUserError, UserStore};
use zenzefi_domain::user::{Email, FullName, PasswordHash, User, UserId, Username};

use super::SeaStore;
use crate::entities::users;
use crate::errors::{corrupt_row, port_error};

pub(super) fn to_domain(row: users::Model) -> Result<User, PortError> {
    let corrupt = |detail: String| corrupt_row("users", detail);
    Ok(User {
        id: UserId(row.id),
        email: Email::parse(&row.email).map_err(corrupt)?,
        username: Username::parse(&row.username).map_err(corrupt)?,
        password_hash: PasswordHash::new(row.password_hash),
        password_version: row.password_version,
        full_name: match row.full_name {
            Some(name) => FullName::parse(&name).map_err(corrupt)?,
            None => None,
        },
        is_active: row.is_active,
        is_superuser: row.is_superuser,
        balance: Money::from_cents(row.balance_cents),
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

#[async_trait]
impl<C: ConnectionTrait + Send + Sync> UserStore for SeaStore<C> {
    async fn insert_user(&self, user: &User) -> Result<(), InsertUserError> {
        let row = users::ActiveModel {
            id: Set(user.id.0),
            email: Set(user.email.as_str().to_owned()),
            username: Set(user.username.as_str().to_owned()),
            password_hash: Set(user.password_hash.as_str().to_owned()),
            password_version: Set(user.password_version),
            full_name: Set(user.full_name.as_ref().map(|n| n.as_str().to_owned())),
            is_active: Set(user.is_active),
            is_superuser: Set(user.is_superuser),
            balance_cents: Set(user.balance.cents()),
            created_at: Set(user.created_at),
            updated_at: Set(user.updated_at),
        };
        match users::Entity::insert(row)
            .exec_without_returning(&self.conn)
            .await
        {
            Ok(_) => Ok(()),
            // Both backends name the index or column in the message.
            Err(err) => match err.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(msg)) if msg.contains("email") => {
                    Err(InsertUserError::EmailTaken)
                }
                Some(SqlErr::UniqueConstraintViolation(msg)) if msg.contains("username") => {
                    Err(InsertUserError::UsernameTaken)
                }
                _ => Err(port_error(err).into()),
            },
        }
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, PortError> {
        let row = users::Entity::find_by_id(id.0)
            .one(&self.conn)
            .await
            .map_err(port_error)?;
        row.map(to_domain).transpose()
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, PortError> {
        let row = users::Entity::find()
            .filter(users::Column::Email.eq(email.as_str()))
            .one(&self.conn)
            .await
            .map_err(port_error)?;
        row.map(to_domain).transpose()
    }

    async fn username_taken(&self, username: &Username) -> Result<bool, PortError> {
        let found = users::Entity::find()
            .filter(
                Expr::expr(Func::lower(Expr::col(users::Column::Username)))
                    .eq(username.as_str().to_lowercase()),
            )
            .count(&self.conn)
            .await
            .map_err(port_error)?;
        Ok(found > 0)
    }

    async fn update_user(&self, user: &User) -> Result<(), PortError> {
        users::Entity::update_many()
            .col_expr(
                users::Column::FullName,
                Expr::value(user.full_name.as_ref().map(|n| n.as_str().to_owned())),
            )
            .col_expr(
                users::Column::PasswordHash,
                Expr::value(user.password_hash.as_str()),
            )
            .col_expr(
                users::Column::PasswordVersion,
                Expr::value(user.password_version),
            )
            .col_expr(users::Column::IsActive, Expr::value(user.is_active))
            .col_expr(users::Column::IsSuperuser, Expr::value(user.is_superuser))
            .col_expr(users::Column::UpdatedAt, Expr::value(user.updated_at))
            .filter(users::Column::Id.eq(user.id.0))
            .exec(&self.conn)
            .await
            .map(drop)
            .map_err(port_error)
    }
}
