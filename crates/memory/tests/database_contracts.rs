//! The in-memory database against the store contracts every database
//! adapter runs.

use zenzefi_memory::InMemoryDatabase;

zenzefi_testkit::database_contracts!(Some(InMemoryDatabase::default()), |db| &db);
