//! The sea-orm database against the store contracts every database
//! adapter runs: on SQLite, and on PostgreSQL when `TEST_DATABASE_URL` is
//! set.

use zenzefi_persistence::testing::TestDatabase;

mod sqlite {
    use super::*;

    zenzefi_testkit::database_contracts!(Some(TestDatabase::sqlite().await), |test_db| test_db
        .db());
}

mod postgres {
    use super::*;

    zenzefi_testkit::database_contracts!(TestDatabase::postgres().await, |test_db| test_db.db());
}
