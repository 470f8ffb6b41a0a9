//! What every adapter of a port must do, written once: each adapter's own
//! tests run these scenarios against it, next to the checks only it has.
//! A database adapter runs all of its scenarios with [`database_contracts!`].
//!
//! [`database_contracts!`]: crate::database_contracts

pub mod admin_lists;
pub mod audit;
pub mod job_runs;
pub mod ledger;
pub mod retention;
pub mod session_claims;
pub mod sessions;
pub mod stats;
pub mod token_cache;
pub mod tokens;
pub mod unit_of_work;
pub mod usage;
pub mod users;

use time::OffsetDateTime;
use time::macros::datetime;
use zenzefi_domain::admin::Owner;
use zenzefi_domain::ports::Database;
use zenzefi_domain::token::AccessToken;
use zenzefi_domain::user::User;

use crate::fixtures::{token, user};

/// The time the database scenarios start from: whole seconds, which every
/// adapter stores exactly (SQLite keeps milliseconds, PostgreSQL
/// microseconds).
pub const T0: OffsetDateTime = datetime!(2026-01-01 12:00 UTC);

/// A user `name` created at `t`, stored.
async fn stored_user(db: &dyn Database, name: &str, t: OffsetDateTime) -> User {
    let user = user(name, t);
    db.insert_user(&user).await.unwrap();
    user
}

/// A fresh token of `owner` bought at `t`, stored.
async fn stored_token(db: &dyn Database, owner: &User, seed: u8, t: OffsetDateTime) -> AccessToken {
    let token = token(owner.id, seed, t);
    db.insert_token(&token).await.unwrap();
    token
}

/// How the operators' lists name `user`.
fn owner(user: &User) -> Owner {
    Owner {
        email: user.email.as_str().to_owned(),
        username: user.username.as_str().to_owned(),
    }
}

/// Declares one `#[tokio::test]` per database scenario (the store ports
/// and the job-run claims), each on a database of its own.
///
/// `$open` is evaluated in each test (it may `.await`) and gives
/// `Option<handle>`, `None` to skip the test (a server that is not
/// configured); `|handle| expr` turns the handle into a reference to an
/// adapter implementing `Database` and `JobRuns`. The handle lives until
/// the test ends, so a handle that drops its database on drop is fine.
///
/// ```ignore
/// mod sqlite {
///     zenzefi_testkit::database_contracts!(
///         Some(TestDatabase::sqlite().await),
///         |test_db| test_db.db()
///     );
/// }
/// ```
#[macro_export]
macro_rules! database_contracts {
    ($open:expr, |$handle:ident| $db:expr) => {
        $crate::database_contracts!(@scenarios ($open, $handle, $db)
            users::a_user_is_found_by_id_and_by_email,
            users::a_taken_email_or_username_is_refused_by_field,
            users::an_update_writes_profile_and_flags_but_never_the_balance,
            unit_of_work::a_dropped_unit_of_work_leaves_nothing_behind,
            unit_of_work::a_committed_unit_of_work_shows_every_write,
            unit_of_work::a_failed_write_inside_a_unit_of_work_leaves_nothing_once_dropped,
            ledger::an_entry_is_found_by_its_payment_id,
            ledger::a_second_entry_with_a_used_payment_id_is_refused,
            ledger::a_pending_entry_is_settled_once,
            ledger::a_users_entries_are_newest_first_filtered_by_kind_and_paged,
            ledger::a_balance_moves_by_the_delta_and_never_below_zero,
            ledger::a_credit_stops_at_the_ceiling_without_overflowing,
            tokens::a_token_is_found_by_id_and_by_hash,
            tokens::a_second_token_with_a_stored_hash_is_refused,
            tokens::a_token_is_activated_once_and_its_expiry_follows,
            tokens::a_token_is_revoked_once,
            tokens::a_tokens_own_rate_limit_is_set_and_cleared,
            tokens::a_users_tokens_are_newest_first_and_with_a_time_only_the_usable_ones,
            sessions::a_session_is_found_by_id_and_a_live_one_by_its_token,
            sessions::a_token_has_one_live_session_until_it_ends,
            sessions::a_session_id_is_stored_once,
            sessions::ending_the_live_session_of_a_token_returns_its_id_once,
            sessions::a_live_session_is_replaced_only_by_its_device_or_once_idle,
            sessions::a_users_live_sessions_end_together,
            sessions::stale_sessions_end_as_revoked_expired_or_idle,
            sessions::flushed_activity_adds_up_and_moves_times_forward_only,
            sessions::a_users_sessions_are_newest_first_and_paged_with_a_total,
            admin_lists::user_search_is_a_literal_case_insensitive_substring_of_email_or_username,
            admin_lists::users_are_newest_first_filtered_by_activity_and_paged_with_a_total,
            admin_lists::tokens_carry_owner_and_last_use_and_filter_by_user_and_usability,
            admin_lists::sessions_filter_by_liveness_user_and_token_with_the_owner,
            audit::audit_is_newest_first_filtered_with_the_actor_and_a_total,
            audit::an_export_yields_every_matching_entry_newest_first_across_batches,
            retention::old_audit_entries_are_deleted_oldest_first_in_batches,
            retention::stale_pending_deposits_are_canceled_in_batches_and_nothing_else,
            stats::counts_cover_usable_tokens_of_active_owners_open_sessions_and_every_user,
            job_runs::an_occurrence_is_claimed_once,
            job_runs::each_jobs_last_success_is_reported,
            usage::flushed_usage_adds_up_at_every_step,
            usage::folding_minutes_hours_and_days_changes_no_total,
            usage::the_top_ranks_tokens_or_users_with_their_owner,
        );
    };
    (@scenarios ($open:expr, $handle:ident, $db:expr) $($module:ident :: $scenario:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $scenario() {
                let Some($handle) = $open else {
                    return;
                };
                $crate::contracts::$module::$scenario($db, $crate::contracts::T0).await;
            }
        )*
    };
}
