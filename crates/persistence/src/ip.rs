//! IP address columns: `INET` on PostgreSQL needs an explicit cast, SQLite
//! stores text.

use std::net::IpAddr;

use sea_orm::DbBackend;
use sea_orm::sea_query::{Alias, Expr, Func, IntoColumnRef};

pub fn ip_value(backend: DbBackend, ip: Option<IpAddr>) -> Expr {
    let text = ip.map(|ip| ip.to_string());
    match backend {
        DbBackend::Postgres => Func::cast_as(text, Alias::new("inet")).into(),
        _ => Expr::val(text),
    }
}

/// An IP column read back as the bare address text: `host()` on PostgreSQL
/// (a plain cast to text would append the netmask, `/32`).
pub fn ip_text(backend: DbBackend, col: impl IntoColumnRef) -> Expr {
    match backend {
        DbBackend::Postgres => Func::cust("host").arg(Expr::col(col)).into(),
        _ => Expr::col(col),
    }
}
