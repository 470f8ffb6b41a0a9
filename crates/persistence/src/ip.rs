//! IP address columns: `INET` on PostgreSQL needs an explicit cast, SQLite
//! stores text.

use std::net::IpAddr;

use sea_orm::DbBackend;
use sea_orm::sea_query::{Alias, Expr, Func};

pub fn ip_value(backend: DbBackend, ip: Option<IpAddr>) -> Expr {
    let text = ip.map(|ip| ip.to_string());
    match backend {
        DbBackend::Postgres => Func::cast_as(text, Alias::new("inet")).into(),
        _ => Expr::val(text),
    }
}
