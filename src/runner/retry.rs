//! Retry delays as a pure iterator: fixed or exponential from the policy, capped
//! at `maxDelay`, with optional jitter drawn from a seeded generator so tests
//! can predict every delay.

use std::time::Duration;

use crate::manifest::spec::BackoffKind;
use crate::plan::RetryPolicy;

/// The delays before the second, third, ... attempt.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: RetryPolicy,
    retry: u32,
    seed: u64,
}

impl Backoff {
    /// The delays of a policy; `seed` drives the jitter.
    pub fn new(policy: RetryPolicy, seed: u64) -> Self {
        Self {
            policy,
            retry: 0,
            seed: seed | 1,
        }
    }

    fn jitter(&mut self, delay: Duration) -> Duration {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        // Between half and the whole delay ("equal jitter").
        let thousandths = u32::try_from(self.seed % 1_000).unwrap_or(0);
        let fraction = 0.5 + f64::from(thousandths) / 2_000.0;
        delay.mul_f64(fraction)
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.retry + 1 >= self.policy.attempts {
            return None;
        }
        let base = match self.policy.backoff {
            BackoffKind::Fixed => self.policy.delay,
            BackoffKind::Exponential => self
                .policy
                .delay
                .saturating_mul(2u32.saturating_pow(self.retry)),
        };
        self.retry += 1;
        let capped = base.min(self.policy.max_delay);
        Some(if self.policy.jitter {
            self.jitter(capped)
        } else {
            capped
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(backoff: BackoffKind, jitter: bool) -> RetryPolicy {
        RetryPolicy {
            attempts: 5,
            backoff,
            delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
            jitter,
        }
    }

    #[test]
    fn exponential_delays_double_up_to_the_cap() {
        let delays: Vec<u64> = Backoff::new(policy(BackoffKind::Exponential, false), 1)
            .map(|d| d.as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4, 5]);
    }

    #[test]
    fn fixed_delays_stay_the_same() {
        let delays: Vec<u64> = Backoff::new(policy(BackoffKind::Fixed, false), 1)
            .map(|d| d.as_secs())
            .collect();
        assert_eq!(delays, [1, 1, 1, 1]);
    }

    #[test]
    fn jitter_keeps_delays_between_half_and_whole() {
        for (delay, cap) in
            Backoff::new(policy(BackoffKind::Exponential, true), 7).zip([1, 2, 4, 5])
        {
            let cap = Duration::from_secs(cap);
            assert!(delay >= cap / 2 && delay <= cap, "{delay:?} for {cap:?}");
        }
    }
}
