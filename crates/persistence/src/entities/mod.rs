//! sea-orm entities: the tables as the adapter reads and writes them. They
//! never leave this crate; the domain sees its own types.

pub mod audit_logs;
pub mod users;
