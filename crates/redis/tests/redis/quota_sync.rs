use zenzefi_domain::ports::{QuotaDelta, QuotaSync};
use zenzefi_domain::quotas::QuotaKey;
use zenzefi_domain::token::TokenId;
use zenzefi_redis::RedisQuotaSync;

use crate::{NEAR, near_with, unique_prefix};

fn token() -> QuotaKey {
    QuotaKey::Token(TokenId(uuid::Uuid::new_v4()))
}

#[tokio::test]
async fn instances_add_up_their_hits_and_old_seconds_leave_the_window() {
    let prefix = unique_prefix();
    let Some(a) = near_with(&prefix, NEAR).await else {
        return;
    };
    let b = near_with(&prefix, NEAR).await.unwrap();
    let (a, b) = (RedisQuotaSync::new(a), RedisQuotaSync::new(b));
    let key = token();
    let now = 2_000_000_000;
    let pushed = a
        .exchange(
            now,
            &[QuotaDelta {
                key,
                hits: vec![(now - 60, 4), (now - 61, 100)],
            }],
        )
        .await
        .unwrap();
    assert_eq!(pushed.counts[0].total, 4, "a second 61 s old is out");
    assert_eq!(pushed.counts[0].oldest, Some(now - 60));
    let seen = b
        .exchange(
            now,
            &[QuotaDelta {
                key,
                hits: vec![(now, 3)],
            }],
        )
        .await
        .unwrap();
    assert_eq!(seen.instances, 2);
    assert_eq!(seen.counts[0].total, 7);
    let later = a
        .exchange(now + 1, &[QuotaDelta { key, hits: vec![] }])
        .await
        .unwrap();
    assert_eq!(later.counts[0].total, 3);
    assert_eq!(later.counts[0].oldest, Some(now));
}
