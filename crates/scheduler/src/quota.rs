//! Per-user call limits on this host (SPEC §12): calls accepted and not finished, and calls
//! started per minute. The limits come with each call (the server looks them up per user);
//! what is counted lives here. Chained calls are not counted: they are bounded by their
//! tree's limits, and refusing one would fail a call that was already admitted.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use faasm_api::{ApiError, UserLimits};
use parking_lot::Mutex;

#[derive(Default)]
pub(crate) struct CallQuotas {
    users: Mutex<HashMap<Arc<str>, UserCalls>>,
}

#[derive(Default)]
struct UserCalls {
    running: u32,
    bucket: Option<Bucket>,
}

/// `calls_per_minute` as a token bucket: it holds at most that many calls and refills evenly
/// over a minute, so a burst of a minute's calls passes and the rate after it is the limit.
struct Bucket {
    level: f64,
    at: Instant,
}

impl Bucket {
    /// Takes one call, or says in how many seconds one will be there.
    fn take(&mut self, per_minute: u32, now: Instant) -> Result<(), u64> {
        let capacity = f64::from(per_minute);
        let rate = capacity / 60.0;
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.level = (self.level + elapsed * rate).min(capacity);
        self.at = now;
        if self.level >= 1.0 {
            self.level -= 1.0;
            return Ok(());
        }
        if rate == 0.0 {
            return Err(60);
        }
        Err(((1.0 - self.level) / rate).ceil().max(1.0) as u64)
    }
}

/// A call's place in its user's count of running calls, given back on drop.
pub(crate) struct QuotaHold {
    quotas: Arc<CallQuotas>,
    user: Arc<str>,
}

impl Drop for QuotaHold {
    fn drop(&mut self) {
        if let Some(calls) = self.quotas.users.lock().get_mut(&self.user) {
            calls.running = calls.running.saturating_sub(1);
        }
    }
}

impl CallQuotas {
    /// Admits a call of `user` within `limits`, or refuses it with 429 naming the limit.
    pub fn admit(self: &Arc<Self>, user: &str, limits: &UserLimits) -> Result<QuotaHold, ApiError> {
        let now = Instant::now();
        let mut users = self.users.lock();
        let user = users
            .get_key_value(user)
            .map_or_else(|| Arc::from(user), |(key, _)| key.clone());
        let calls = users.entry(user.clone()).or_default();
        if let Some(max) = limits.concurrent_calls
            && calls.running >= max
        {
            return Err(ApiError::TooManyRequests {
                message: format!(
                    "User {user} has {} calls running: its concurrent-calls limit is {max}",
                    calls.running
                ),
                retry_after: 1,
            });
        }
        if let Some(per_minute) = limits.calls_per_minute {
            let bucket = calls.bucket.get_or_insert(Bucket {
                level: f64::from(per_minute),
                at: now,
            });
            bucket
                .take(per_minute, now)
                .map_err(|retry_after| ApiError::TooManyRequests {
                    message: format!(
                        "User {user} is over its calls-per-minute limit of {per_minute}: \
                         retry in {retry_after} s"
                    ),
                    retry_after,
                })?;
        }
        calls.running += 1;
        Ok(QuotaHold {
            quotas: self.clone(),
            user,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn concurrent_calls_are_counted_until_dropped() {
        let quotas = Arc::new(CallQuotas::default());
        let limits = UserLimits {
            concurrent_calls: Some(2),
            ..UserLimits::default()
        };
        let a = quotas.admit("alice", &limits).unwrap();
        let _b = quotas.admit("alice", &limits).unwrap();
        let err = quotas.admit("alice", &limits).err().unwrap();
        assert_eq!(err.status_code(), 429);
        assert!(
            err.to_string().contains("concurrent-calls limit is 2"),
            "{err}"
        );
        quotas.admit("bob", &limits).unwrap();
        drop(a);
        quotas.admit("alice", &limits).unwrap();
    }

    #[test]
    fn the_bucket_refills_over_the_minute() {
        let start = Instant::now();
        let mut bucket = Bucket {
            level: 2.0,
            at: start,
        };
        // 120 a minute: two a second.
        assert_eq!(bucket.take(120, start), Ok(()));
        assert_eq!(bucket.take(120, start), Ok(()));
        assert_eq!(bucket.take(120, start), Err(1));
        assert_eq!(bucket.take(120, start + Duration::from_millis(500)), Ok(()));
        assert_eq!(bucket.take(120, start + Duration::from_millis(500)), Err(1));
        // 1 a minute: the next after a minute.
        let mut slow = Bucket {
            level: 0.0,
            at: start,
        };
        assert_eq!(slow.take(1, start), Err(60));
        assert_eq!(slow.take(1, start + Duration::from_secs(60)), Ok(()));
        assert_eq!(slow.take(0, start), Err(60));
    }
}
