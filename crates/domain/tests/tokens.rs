//! Currency and token use-cases against the in-memory adapters and a
//! manual clock.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use time::{Duration, OffsetDateTime};
use zenzefi_domain::Money;
use zenzefi_domain::admin::{AdminService, UserPatch};
use zenzefi_domain::audit::AuditAction;
use zenzefi_domain::balance::BalanceLimit;
use zenzefi_domain::context::RequestContext;
use zenzefi_domain::currency::{
    CurrencyService, DepositAmount, DepositError, PaymentOutcome, SettleError,
};
use zenzefi_domain::ledger::{EntryKind, EntryStatus};
use zenzefi_domain::page::Page;
use zenzefi_domain::ports::{
    CacheLookup, Clock, Entropy, LedgerStore, TokenCache, TokenStore, UserStore,
};
use zenzefi_domain::pricing::Pricing;
use zenzefi_domain::token::TokenHash;
use zenzefi_domain::tokens::{PurchaseError, RevokeError, TokenOrder, TokenService, ValidateError};
use zenzefi_domain::user::{User, UserId};
use zenzefi_memory::{InMemoryDatabase, InMemorySessionClaims, InMemoryTokenCache, ManualClock};
use zenzefi_testkit::fixtures;

/// Distinct, predictable secrets.
#[derive(Default)]
struct CountingEntropy(AtomicU8);

impl Entropy for CountingEntropy {
    fn bytes32(&self) -> [u8; 32] {
        [self.0.fetch_add(1, Ordering::Relaxed); 32]
    }
}

/// The harness's `currency.max_balance`: 200.00.
const LIMIT: Money = Money::from_cents(20_000);

fn limit() -> BalanceLimit {
    BalanceLimit::new(LIMIT).unwrap()
}

struct Harness {
    db: InMemoryDatabase,
    clock: Arc<ManualClock>,
    currency: CurrencyService,
    tokens: Arc<TokenService>,
    /// Shares the token service's cache, as one process does.
    admin: AdminService,
    cache: Arc<InMemoryTokenCache>,
}

fn harness() -> Harness {
    let db = InMemoryDatabase::default();
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let prices = BTreeMap::from([(1, Money::from_cents(100)), (24, Money::from_cents(1800))]);
    let cache = Arc::new(InMemoryTokenCache::default());
    let claims = Arc::new(InMemorySessionClaims::default());
    let tokens = Arc::new(TokenService::new(
        Arc::new(db.clone()),
        cache.clone(),
        claims.clone(),
        clock.clone(),
        Arc::new(CountingEntropy::default()),
        Pricing::new(prices),
        limit(),
    ));
    Harness {
        currency: CurrencyService::new(
            Arc::new(db.clone()),
            clock.clone(),
            Money::from_cents(1000),
            limit(),
        ),
        admin: AdminService::new(
            Arc::new(db.clone()),
            cache.clone(),
            claims,
            tokens.clone(),
            clock.clone(),
        ),
        tokens,
        db,
        clock,
        cache,
    }
}

fn ctx() -> RequestContext {
    RequestContext::default()
}

impl Harness {
    async fn user_with(&self, name: &str, cents: i64) -> UserId {
        let user = fixtures::user(name, self.clock.now());
        self.db.insert_user(&user).await.unwrap();
        if cents > 0 {
            self.deposit(user.id, cents).await;
        }
        user.id
    }

    async fn superuser(&self, name: &str) -> User {
        let user = User {
            is_superuser: true,
            ..fixtures::user(name, self.clock.now())
        };
        self.db.insert_user(&user).await.unwrap();
        user
    }

    async fn deposit(&self, user: UserId, cents: i64) -> String {
        let amount = DepositAmount::parse(Money::from_cents(cents)).unwrap();
        let entry = self.currency.start_deposit(user, amount).await.unwrap();
        let payment_id = entry.payment_id.unwrap();
        let settled = self
            .currency
            .settle_payment(&payment_id, PaymentOutcome::Succeeded, &ctx())
            .await
            .unwrap();
        assert!(settled);
        payment_id
    }

    fn order(&self, hours: i64) -> TokenOrder {
        TokenOrder::parse(self.tokens.pricing(), hours, None).unwrap()
    }

    async fn balance(&self, user: UserId) -> Money {
        self.currency.balance(user).await.unwrap()
    }
}

#[tokio::test]
async fn a_purchase_debits_and_writes_token_ledger_and_audit_together() {
    let h = harness();
    let ann = h.user_with("ann", 5000).await;
    let bought = h.tokens.purchase(ann, h.order(24), &ctx()).await.unwrap();

    assert_eq!(bought.balance_after, Money::from_cents(3200));
    assert_eq!(h.balance(ann).await, Money::from_cents(3200));
    let secret = bought.secret.expose();
    assert!(secret.starts_with("zzf_") && secret.len() == 68, "{secret}");
    assert_eq!(bought.token.token_prefix, &secret[..8]);
    assert_eq!(bought.token.token_hash, TokenHash::of(secret));
    assert!(
        !format!("{bought:?}").contains(secret),
        "Debug hides the secret"
    );
    let stored = h.db.token_by_hash(&TokenHash::of(secret)).await.unwrap();
    assert_eq!(stored, Some(bought.token.clone()));

    let ledger =
        h.db.entries_of_user(ann, None, Page::default())
            .await
            .unwrap();
    let amounts: Vec<_> = ledger
        .items
        .iter()
        .map(|e| (e.kind, e.amount.cents()))
        .collect();
    assert_eq!(
        amounts,
        [(EntryKind::Purchase, -1800), (EntryKind::Deposit, 5000)]
    );
    let actions: Vec<_> =
        h.db.audit_entries()
            .await
            .iter()
            .map(|e| e.action)
            .collect();
    assert_eq!(
        actions,
        [AuditAction::CurrencyDeposit, AuditAction::TokenPurchase]
    );
}

#[tokio::test]
async fn a_purchase_beyond_the_balance_is_refused_and_writes_nothing() {
    let h = harness();
    let ann = h.user_with("ann", 1000).await;
    let err = h
        .tokens
        .purchase(ann, h.order(24), &ctx())
        .await
        .unwrap_err();
    let PurchaseError::InsufficientBalance {
        required,
        available,
    } = err
    else {
        panic!("{err:?}");
    };
    assert_eq!((required.cents(), available.cents()), (1800, 1000));
    assert!(h.tokens.tokens_of(ann, false).await.unwrap().is_empty());
    let ledger =
        h.db.entries_of_user(ann, None, Page::default())
            .await
            .unwrap();
    assert_eq!(ledger.total, 1, "only the deposit");
}

#[test]
fn orders_name_every_invalid_field() {
    let h = harness();
    let errors = TokenOrder::parse(h.tokens.pricing(), 5, Some("root")).unwrap_err();
    let fields: Vec<_> = errors.0.iter().map(|e| e.field).collect();
    assert_eq!(fields, ["duration_hours", "scope"]);
}

#[tokio::test]
async fn refunds_follow_the_unused_share_rounded_down() {
    let h = harness();
    let ann = h.user_with("ann", 10_000).await;
    let refund_after = |used: Option<Duration>, hours: i64| {
        let h = &h;
        async move {
            let bought = h
                .tokens
                .purchase(ann, h.order(hours), &ctx())
                .await
                .unwrap();
            if let Some(used) = used {
                h.tokens
                    .validate(bought.secret.expose(), true)
                    .await
                    .unwrap();
                h.clock.advance(used);
            }
            h.tokens
                .revoke(ann, bought.token.id, &ctx())
                .await
                .unwrap()
                .refund
        }
    };
    assert_eq!(
        refund_after(None, 24).await.cents(),
        1800,
        "never activated"
    );
    assert_eq!(
        refund_after(Some(Duration::hours(12)), 24).await.cents(),
        900
    );
    // 1.00 with 40 of 60 minutes left is 66.66… cents: 66.
    assert_eq!(
        refund_after(Some(Duration::minutes(20)), 1).await.cents(),
        66
    );
    assert_eq!(
        refund_after(Some(Duration::hours(25)), 24).await.cents(),
        0,
        "expired"
    );

    // The balance equals the sum of the ledger.
    let ledger =
        h.db.entries_of_user(
            ann,
            None,
            Page {
                limit: 100,
                offset: 0,
                ..Page::default()
            },
        )
        .await
        .unwrap();
    let sum: i64 = ledger.items.iter().map(|e| e.amount.cents()).sum();
    assert_eq!(h.balance(ann).await.cents(), sum);
    let refunds = ledger
        .items
        .iter()
        .filter(|e| e.kind == EntryKind::Refund)
        .count();
    assert_eq!(refunds, 3, "no ledger row for a zero refund");
}

#[tokio::test]
async fn only_the_owner_revokes_and_only_once() {
    let h = harness();
    let ann = h.user_with("ann", 5000).await;
    let bob = h.user_with("bob", 0).await;
    let bought = h.tokens.purchase(ann, h.order(1), &ctx()).await.unwrap();
    let id = bought.token.id;
    assert!(matches!(
        h.tokens.revoke(bob, id, &ctx()).await,
        Err(RevokeError::NotFound)
    ));
    h.tokens.revoke(ann, id, &ctx()).await.unwrap();
    assert!(matches!(
        h.tokens.revoke(ann, id, &ctx()).await,
        Err(RevokeError::AlreadyRevoked)
    ));
    let actions: Vec<_> =
        h.db.audit_entries()
            .await
            .iter()
            .map(|e| e.action)
            .collect();
    assert_eq!(actions.last(), Some(&AuditAction::TokenRevoke));
}

#[tokio::test]
async fn validation_activates_once_and_sees_revocation_at_once() {
    let h = harness();
    let ann = h.user_with("ann", 5000).await;
    let bought = h.tokens.purchase(ann, h.order(24), &ctx()).await.unwrap();
    let secret = bought.secret.expose();

    assert!(matches!(
        h.tokens.validate("zzf_nope", true).await,
        Err(ValidateError::Invalid)
    ));
    let peeked = h.tokens.validate(secret, false).await.unwrap();
    assert_eq!(peeked.activated_at, None, "a status check never activates");
    let started = h.clock.now();
    let used = h.tokens.validate(secret, true).await.unwrap();
    assert_eq!(used.activated_at, Some(started));
    h.clock.advance(Duration::minutes(5));
    let again = h.tokens.validate(secret, true).await.unwrap();
    assert_eq!(again.activated_at, Some(started), "activated once");

    h.tokens.revoke(ann, bought.token.id, &ctx()).await.unwrap();
    assert!(matches!(
        h.tokens.validate(secret, true).await,
        Err(ValidateError::Invalid)
    ));
}

/// Once a change is committed, the next validation caches what the
/// database says again: the token's requests do not each read the
/// database for the rest of the invalidation window.
#[tokio::test]
async fn after_a_committed_change_one_validation_caches_the_new_state() {
    let h = harness();
    let ann = h.user_with("ann", 5000).await;
    let root = h.superuser("root").await;
    let bought = h.tokens.purchase(ann, h.order(24), &ctx()).await.unwrap();
    let secret = bought.secret.expose();
    let hash = TokenHash::of(secret);
    let cached = || async { h.cache.get(&hash).await.unwrap() };
    h.tokens.validate(secret, false).await.unwrap();
    assert!(matches!(cached().await, CacheLookup::Hit(_)));

    h.admin
        .set_token_rate_limit(&root, bought.token.id, Some(7), &ctx())
        .await
        .unwrap();
    assert!(matches!(cached().await, CacheLookup::Settled(_)));
    let seen = h.tokens.validate(secret, false).await.unwrap();
    assert_eq!(seen.rate_limit_per_minute, Some(7));
    let CacheLookup::Hit(entry) = cached().await else {
        panic!("the new limit was not cached");
    };
    assert_eq!(entry.token.rate_limit_per_minute, Some(7));

    h.tokens.revoke(ann, bought.token.id, &ctx()).await.unwrap();
    assert!(matches!(
        h.tokens.validate(secret, false).await,
        Err(ValidateError::Invalid)
    ));
    let CacheLookup::Hit(entry) = cached().await else {
        panic!("the revocation was not cached");
    };
    assert!(
        entry.token.revoked_at.is_some(),
        "refused from the cache from now on"
    );
}

#[tokio::test]
async fn expired_tokens_and_deactivated_owners_are_refused() {
    let h = harness();
    let ann = h.user_with("ann", 5000).await;
    let first = h.tokens.purchase(ann, h.order(1), &ctx()).await.unwrap();
    let second = h.tokens.purchase(ann, h.order(24), &ctx()).await.unwrap();
    h.tokens
        .validate(first.secret.expose(), true)
        .await
        .unwrap();
    h.tokens
        .validate(second.secret.expose(), true)
        .await
        .unwrap();
    h.clock.advance(Duration::hours(1));
    assert!(matches!(
        h.tokens.validate(first.secret.expose(), true).await,
        Err(ValidateError::Invalid)
    ));
    assert_eq!(h.tokens.tokens_of(ann, true).await.unwrap().len(), 1);

    // The second token's validation is cached as of an active owner: the
    // deactivation must make the token service forget it.
    let root = h.superuser("root").await;
    let deactivate = UserPatch::parse(Some(false), None, None, limit()).unwrap();
    h.admin
        .update_user(&root, ann, deactivate, &ctx())
        .await
        .unwrap();
    assert!(matches!(
        h.tokens.validate(second.secret.expose(), true).await,
        Err(ValidateError::UserInactive { .. })
    ));
}

#[tokio::test]
async fn a_payment_settles_once_and_unknown_payments_are_reported() {
    let h = harness();
    let ann = h.user_with("ann", 0).await;
    let payment_id = h.deposit(ann, 2500).await;
    for outcome in [PaymentOutcome::Succeeded, PaymentOutcome::Canceled] {
        let again = h
            .currency
            .settle_payment(&payment_id, outcome, &ctx())
            .await;
        assert!(!again.unwrap(), "already settled");
    }
    assert_eq!(h.balance(ann).await.cents(), 2500);

    let amount = DepositAmount::parse(Money::from_cents(700)).unwrap();
    let canceled = h.currency.start_deposit(ann, amount).await.unwrap();
    let canceled_id = canceled.payment_id.unwrap();
    let done = h
        .currency
        .settle_payment(&canceled_id, PaymentOutcome::Canceled, &ctx())
        .await;
    assert!(done.unwrap());
    assert_eq!(
        h.balance(ann).await.cents(),
        2500,
        "a canceled deposit credits nothing"
    );
    assert!(matches!(
        h.currency
            .settle_payment("nope", PaymentOutcome::Succeeded, &ctx())
            .await,
        Err(SettleError::UnknownPayment)
    ));
    assert!(DepositAmount::parse(Money::from_cents(99)).is_err());
    assert!(DepositAmount::parse(Money::from_cents(10_000_001)).is_err());
}

#[tokio::test]
async fn a_deposit_that_would_pass_the_balance_limit_is_refused_and_credits_nothing() {
    let h = harness();
    let ann = h.user_with("ann", 15_000).await;
    let amount = |cents| DepositAmount::parse(Money::from_cents(cents)).unwrap();
    // Refused before the user pays.
    assert!(matches!(
        h.currency.start_deposit(ann, amount(5_001)).await,
        Err(DepositError::BalanceLimit(max)) if max == LIMIT
    ));
    // Each fits alone; the second to settle no longer does.
    let first = h.currency.start_deposit(ann, amount(4_000)).await.unwrap();
    let second = h.currency.start_deposit(ann, amount(4_000)).await.unwrap();
    let settle = |entry: &zenzefi_domain::ledger::LedgerEntry| {
        let payment_id = entry.payment_id.clone().unwrap();
        let h = &h;
        async move {
            h.currency
                .settle_payment(&payment_id, PaymentOutcome::Succeeded, &ctx())
                .await
        }
    };
    assert!(settle(&first).await.unwrap());
    assert!(matches!(
        settle(&second).await,
        Err(SettleError::BalanceLimit(max)) if max == LIMIT
    ));
    assert_eq!(h.balance(ann).await.cents(), 19_000);
    let left =
        h.db.entry_by_payment_id(second.payment_id.as_deref().unwrap());
    assert_eq!(
        left.await.unwrap().unwrap().status,
        EntryStatus::Pending,
        "left for a retry once there is room"
    );
    // Room again: the provider's retry credits it.
    for _ in 0..2 {
        h.tokens.purchase(ann, h.order(24), &ctx()).await.unwrap();
    }
    assert!(settle(&second).await.unwrap());
    assert_eq!(h.balance(ann).await.cents(), 19_000 - 3_600 + 4_000);
}

#[tokio::test]
async fn a_refund_that_would_pass_the_balance_limit_keeps_the_token() {
    let h = harness();
    let ann = h.user_with("ann", 10_000).await;
    let bought = h.tokens.purchase(ann, h.order(24), &ctx()).await.unwrap();
    h.deposit(ann, 11_800).await;
    assert_eq!(h.balance(ann).await, LIMIT);
    let refused = h.tokens.revoke(ann, bought.token.id, &ctx()).await;
    assert!(matches!(refused, Err(RevokeError::BalanceLimit(max)) if max == LIMIT));
    assert_eq!(h.balance(ann).await, LIMIT);
    assert_eq!(h.tokens.tokens_of(ann, true).await.unwrap().len(), 1);
}

#[test]
fn an_operator_may_set_a_balance_from_zero_to_the_limit_only() {
    let patch = |cents| UserPatch::parse(None, None, Some(Money::from_cents(cents)), limit());
    assert!(patch(0).is_ok());
    assert!(patch(LIMIT.cents()).is_ok());
    assert!(patch(LIMIT.cents() + 1).is_err());
    assert!(patch(-1).is_err());
}
