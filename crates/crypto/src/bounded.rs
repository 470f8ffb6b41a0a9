//! A password hasher under a process-wide concurrency limit with a bounded
//! queue. An argon2id hash holds ~19 MiB while it runs, so a burst of
//! registrations or logins must wait its turn or be refused, never fan out
//! onto the blocking pool (hundreds of threads, gigabytes).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Semaphore;
use zenzefi_domain::PortError;
use zenzefi_domain::ports::PasswordHasher;
use zenzefi_domain::user::{Password, PasswordHash};

/// What a refused caller is told to wait: a full queue drains in about
/// this long at a few hashes per core and second.
const RETRY_AFTER: Duration = Duration::from_secs(1);

pub struct BoundedHasher<H> {
    inner: H,
    running: Semaphore,
    /// Hashes running or waiting; past `limit + queue` callers are refused.
    admitted: AtomicUsize,
    capacity: usize,
}

impl<H> BoundedHasher<H> {
    /// At most `limit` (at least 1) hashes at once and `queue` more waiting.
    pub fn new(inner: H, limit: usize, queue: usize) -> Self {
        let limit = limit.max(1);
        Self {
            inner,
            running: Semaphore::new(limit),
            admitted: AtomicUsize::new(0),
            capacity: limit + queue,
        }
    }

    /// A place in the queue, or `Busy` when it is full; the place is given
    /// back when the returned guard drops (also if the caller goes away).
    fn enter(&self) -> Result<Place<'_>, PortError> {
        let before = self.admitted.fetch_add(1, Ordering::AcqRel);
        let place = Place(&self.admitted);
        if before >= self.capacity {
            return Err(PortError::Busy {
                retry_after: RETRY_AFTER,
            });
        }
        Ok(place)
    }

    async fn run<T>(
        &self,
        job: impl Future<Output = Result<T, PortError>>,
    ) -> Result<T, PortError> {
        let _place = self.enter()?;
        let _permit = self
            .running
            .acquire()
            .await
            .map_err(PortError::unexpected)?;
        job.await
    }
}

struct Place<'a>(&'a AtomicUsize);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[async_trait]
impl<H: PasswordHasher> PasswordHasher for BoundedHasher<H> {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, PortError> {
        self.run(self.inner.hash(password)).await
    }

    async fn verify(
        &self,
        password: &Password,
        hash: Option<&PasswordHash>,
    ) -> Result<bool, PortError> {
        self.run(self.inner.verify(password, hash)).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::Notify;

    use super::*;

    /// Hashes only when told to, counting how many run at once.
    #[derive(Default)]
    struct Gate {
        open: Notify,
        running: AtomicUsize,
        most: AtomicUsize,
    }

    struct Gated(Arc<Gate>);

    #[async_trait]
    impl PasswordHasher for Gated {
        async fn hash(&self, _: &Password) -> Result<PasswordHash, PortError> {
            let gate = &self.0;
            let now = gate.running.fetch_add(1, Ordering::SeqCst) + 1;
            gate.most.fetch_max(now, Ordering::SeqCst);
            gate.open.notified().await;
            gate.running.fetch_sub(1, Ordering::SeqCst);
            Ok(PasswordHash::new("h".into()))
        }

        async fn verify(&self, _: &Password, _: Option<&PasswordHash>) -> Result<bool, PortError> {
            Ok(false)
        }
    }

    #[tokio::test]
    async fn runs_at_most_the_limit_and_refuses_past_the_queue() {
        let gate = Arc::new(Gate::default());
        let hasher = Arc::new(BoundedHasher::new(Gated(gate.clone()), 2, 3));
        let password = Password::parse("correct horse 1".into()).unwrap();
        let calls: Vec<_> = (0..5)
            .map(|_| {
                let (hasher, password) = (hasher.clone(), password.clone());
                tokio::spawn(async move { hasher.hash(&password).await })
            })
            .collect();
        while gate.running.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        tokio::task::yield_now().await;
        let refused = hasher.hash(&password).await.unwrap_err();
        assert!(matches!(refused, PortError::Busy { .. }), "{refused:?}");
        for call in calls {
            while !call.is_finished() {
                gate.open.notify_waiters();
                tokio::task::yield_now().await;
            }
            call.await.unwrap().unwrap();
        }
        assert_eq!(gate.most.load(Ordering::SeqCst), 2);
        // The queue emptied: a new caller gets through again.
        let again = tokio::spawn({
            let (hasher, password) = (hasher.clone(), password.clone());
            async move { hasher.hash(&password).await }
        });
        while !again.is_finished() {
            gate.open.notify_waiters();
            tokio::task::yield_now().await;
        }
        again.await.unwrap().unwrap();
    }
}
