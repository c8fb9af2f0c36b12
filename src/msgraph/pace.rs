//! Pacing writes to Microsoft Graph's published quotas instead of running into
//! 429s: a sliding-window budget per quota (3,000 writes per 150 s per app and
//! tenant; resource units per 10 s by tenant size), and a concurrency level
//! that halves on throttling and grows back slowly.
//!
//! Time is passed in as the offset since the pacer started, so the logic is
//! tested without clocks; the HTTP client supplies `Instant::elapsed`.

use std::collections::VecDeque;
use std::time::Duration;

/// A limit of `limit` units in any window of `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub window: Duration,
}

impl Quota {
    /// Writes per app per tenant: 3,000 per 2 min 30 s.
    pub const WRITES: Quota = Quota {
        limit: 3_000,
        window: Duration::from_secs(150),
    };

    /// Resource units per app per tenant per 10 s, by tenant size (users).
    pub fn resource_units(users: u64) -> Quota {
        let limit = match users {
            0..50 => 3_500,
            50..=500 => 5_000,
            _ => 8_000,
        };
        Quota {
            limit,
            window: Duration::from_secs(10),
        }
    }

    /// The same quota with its window divided by `scale`, for an emulator that
    /// compresses time.
    #[must_use]
    pub fn scaled(self, scale: u32) -> Quota {
        Quota {
            limit: self.limit,
            window: self.window / scale.max(1),
        }
    }
}

/// How a `members@odata.bind` PATCH is charged against the write quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BindWriteCost {
    /// One write per request, like any other write.
    #[default]
    Request,
    /// ceil(n/3) writes for n members, as Graph users report (undocumented).
    Per3,
}

impl BindWriteCost {
    /// Writes charged for a bind of `members` members.
    pub fn writes(self, members: usize) -> u32 {
        match self {
            Self::Request => 1,
            Self::Per3 => u32::try_from(members.div_ceil(3))
                .unwrap_or(u32::MAX)
                .max(1),
        }
    }
}

/// Spending against one quota over a sliding window.
#[derive(Debug, Clone)]
pub struct Budget {
    quota: Quota,
    spent: VecDeque<(Duration, u32)>,
    total: u32,
}

impl Budget {
    /// An unspent budget.
    pub fn new(quota: Quota) -> Self {
        Self {
            quota,
            spent: VecDeque::new(),
            total: 0,
        }
    }

    fn forget_before(&mut self, now: Duration) {
        while let Some((at, cost)) = self.spent.front().copied() {
            if now.saturating_sub(at) < self.quota.window {
                break;
            }
            self.spent.pop_front();
            self.total -= cost;
        }
    }

    /// How long to wait, from `now`, until `cost` more fits the quota.
    pub fn wait_for(&mut self, now: Duration, cost: u32) -> Duration {
        self.forget_before(now);
        let cost = cost.min(self.quota.limit);
        let mut excess = (self.total + cost).saturating_sub(self.quota.limit);
        for (at, spent) in &self.spent {
            if excess == 0 {
                break;
            }
            excess = excess.saturating_sub(*spent);
            if excess == 0 {
                return (*at + self.quota.window).saturating_sub(now);
            }
        }
        Duration::ZERO
    }

    /// Records `cost` spent at `now`.
    pub fn spend(&mut self, now: Duration, cost: u32) {
        self.forget_before(now);
        self.spent.push_back((now, cost));
        self.total += cost;
    }

    /// The units spent in the window ending at `now`.
    pub fn spent(&mut self, now: Duration) -> u32 {
        self.forget_before(now);
        self.total
    }

    /// The share of the quota spent in the window ending at `now`, 0 to 1.
    pub fn used(&mut self, now: Duration) -> f64 {
        self.forget_before(now);
        f64::from(self.total) / f64::from(self.quota.limit.max(1))
    }
}

/// How many requests may be in flight: halves when Graph throttles, and grows
/// by one after a run of successes, within bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concurrency {
    current: u32,
    minimum: u32,
    maximum: u32,
    successes: u32,
}

/// Successes in a row before one more request may be in flight.
const GROW_AFTER: u32 = 20;

impl Concurrency {
    /// Starts at the maximum.
    pub fn new(minimum: u32, maximum: u32) -> Self {
        let minimum = minimum.max(1);
        Self {
            current: maximum.max(minimum),
            minimum,
            maximum: maximum.max(minimum),
            successes: 0,
        }
    }

    /// Requests allowed in flight now.
    pub fn current(&self) -> u32 {
        self.current
    }

    /// Graph answered 429 or 503.
    pub fn throttled(&mut self) {
        self.current = (self.current / 2).max(self.minimum);
        self.successes = 0;
    }

    /// A request succeeded.
    pub fn succeeded(&mut self) {
        self.successes += 1;
        if self.successes >= GROW_AFTER {
            self.current = (self.current + 1).min(self.maximum);
            self.successes = 0;
        }
    }
}

/// Resource units of a request, by Graph's published base costs and modifiers.
pub fn resource_units(method: &str, route: &str, select: bool, top: Option<u32>) -> u32 {
    let base: u32 = match (method, route) {
        ("GET", "/users") => 2,
        ("GET", "/groups/{id}/members") => 3,
        ("POST", "/directoryObjects/getByIds") => {
            return if select { 2 } else { 5 };
        }
        _ => 1,
    };
    let mut cost = base;
    if method == "GET" && select {
        cost = cost.saturating_sub(1);
    }
    if top.is_some_and(|top| top < 20) {
        cost = cost.saturating_sub(1);
    }
    cost.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_budget_tells_the_share_used() {
        let mut budget = Budget::new(Quota {
            limit: 10,
            window: secs(10),
        });
        budget.spend(secs(0), 4);
        assert!((budget.used(secs(5)) - 0.4).abs() < f64::EPSILON);
        assert!(budget.used(secs(10)).abs() < f64::EPSILON);
    }

    #[test]
    fn a_budget_waits_until_the_oldest_spending_leaves_the_window() {
        let mut budget = Budget::new(Quota {
            limit: 10,
            window: secs(10),
        });
        assert_eq!(budget.wait_for(secs(0), 6), Duration::ZERO);
        budget.spend(secs(0), 6);
        budget.spend(secs(4), 4);
        assert_eq!(
            budget.wait_for(secs(5), 1),
            secs(5),
            "the 6 spent at 0 s leave at 10 s"
        );
        assert_eq!(budget.wait_for(secs(10), 6), Duration::ZERO);
        budget.spend(secs(10), 6);
        assert_eq!(
            budget.wait_for(secs(11), 4),
            secs(3),
            "needs the 4 spent at 4 s gone at 14 s"
        );
        assert_eq!(
            budget.wait_for(secs(11), 5),
            secs(9),
            "and then part of the 6 spent at 10 s"
        );
    }

    #[test]
    fn the_write_quota_allows_3000_writes_per_150_seconds() {
        let mut budget = Budget::new(Quota::WRITES);
        for second in 0..150 {
            budget.spend(secs(second), 20);
        }
        assert_eq!(budget.wait_for(secs(149), 1), secs(1));
        assert_eq!(
            Quota::WRITES.scaled(100).window,
            Duration::from_millis(1_500)
        );
        assert_eq!(Quota::resource_units(200).limit, 5_000);
    }

    #[test]
    fn concurrency_halves_on_throttling_and_grows_back_slowly() {
        let mut level = Concurrency::new(1, 8);
        level.throttled();
        level.throttled();
        assert_eq!(level.current(), 2);
        (0..GROW_AFTER).for_each(|_| level.succeeded());
        assert_eq!(level.current(), 3);
        (0..10).for_each(|_| level.throttled());
        assert_eq!(level.current(), 1);
    }
}
