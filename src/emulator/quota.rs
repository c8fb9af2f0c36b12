//! Throttling by Microsoft Graph's published identity limits, per app and
//! tenant: resource units per 10 s by tenant size, 3,000 writes per 150 s,
//! 3,000 device writes per 150 s. Windows shrink by `--time-scale` so tests
//! meet the limits in seconds.
//!
//! Synthetic choices (Graph does not document them): a bind PATCH costs one
//! write unless `--bind-write-cost per3` asks for ceil(n/3); a throttled
//! request spends resource units but no writes; Retry-After is the time until
//! the request would fit, in fractional seconds.

use std::time::Duration;

pub use crate::msgraph::pace::BindWriteCost;
pub use crate::msgraph::pace::resource_units;
use crate::msgraph::pace::{Budget, Quota};

/// What one request costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cost {
    pub resource_units: u32,
    pub writes: u32,
    pub device_writes: u32,
}

/// A request the quotas refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: Duration,
    /// `x-ms-throttle-scope` limit part: `Write` or `ReadWrite`.
    pub limit: &'static str,
    /// `x-ms-throttle-information`.
    pub information: &'static str,
}

/// The quota state of the emulated app and tenant.
#[derive(Debug)]
pub struct Throttle {
    resource_units: Budget,
    writes: Budget,
    device_writes: Budget,
    /// Writes asked for, admitted or not, over the write window.
    asked_writes: Budget,
    /// The most writes asked for in one write window so far.
    peak_asked_writes: u32,
    /// Requests refused because the write quota was spent.
    write_throttles: u64,
    /// When the first and the last admitted write came.
    writes_between: Option<(Duration, Duration)>,
}

/// How clients kept to the write quota, for the stats document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WritePeaks {
    /// The most writes asked for (admitted or refused) in any window.
    pub peak_asked: u32,
    /// The write quota: units per window.
    pub limit: u32,
    /// Requests refused with `WriteLimitExceeded`.
    pub throttles: u64,
    /// When the first and the last admitted write came (since the start).
    pub between: Option<(Duration, Duration)>,
}

impl Throttle {
    /// Budgets for a tenant with `users` users, windows divided by `time_scale`.
    pub fn new(users: u64, time_scale: u32) -> Self {
        Self {
            resource_units: Budget::new(Quota::resource_units(users).scaled(time_scale)),
            writes: Budget::new(Quota::WRITES.scaled(time_scale)),
            device_writes: Budget::new(Quota::WRITES.scaled(time_scale)),
            asked_writes: Budget::new(Quota::WRITES.scaled(time_scale)),
            peak_asked_writes: 0,
            write_throttles: 0,
            writes_between: None,
        }
    }

    /// How clients kept to the write quota so far.
    pub fn write_peaks(&self) -> WritePeaks {
        WritePeaks {
            peak_asked: self.peak_asked_writes,
            limit: Quota::WRITES.limit,
            throttles: self.write_throttles,
            between: self.writes_between,
        }
    }

    /// Admits a request at `now` (time since the emulator started), or says
    /// how long to wait.
    pub fn admit(&mut self, now: Duration, cost: Cost) -> Result<(), Throttled> {
        if cost.writes > 0 {
            self.asked_writes.spend(now, cost.writes);
            self.peak_asked_writes = self.peak_asked_writes.max(self.asked_writes.spent(now));
        }
        let write_wait = self
            .writes
            .wait_for(now, cost.writes)
            .max(self.device_writes.wait_for(now, cost.device_writes));
        let unit_wait = self.resource_units.wait_for(now, cost.resource_units);
        if write_wait.is_zero() && unit_wait.is_zero() {
            self.resource_units.spend(now, cost.resource_units);
            self.writes.spend(now, cost.writes);
            self.device_writes.spend(now, cost.device_writes);
            if cost.writes > 0 {
                let first = self.writes_between.map_or(now, |(first, _)| first);
                self.writes_between = Some((first, now));
            }
            return Ok(());
        }
        self.resource_units.spend(now, cost.resource_units);
        self.write_throttles += u64::from(write_wait >= unit_wait);
        Err(if write_wait >= unit_wait {
            Throttled {
                retry_after: write_wait,
                limit: "Write",
                information: "WriteLimitExceeded",
            }
        } else {
            Throttled {
                retry_after: unit_wait,
                limit: "ReadWrite",
                information: "ResourceUnitLimitExceeded",
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_costs_follow_the_chosen_model() {
        assert_eq!(BindWriteCost::Request.writes(20), 1);
        assert_eq!(BindWriteCost::Per3.writes(20), 7);
        assert_eq!(BindWriteCost::Per3.writes(1), 1);
    }

    #[test]
    fn resource_units_follow_the_published_costs() {
        assert_eq!(
            resource_units("GET", "/groups/{id}/members", true, Some(999)),
            2
        );
        assert_eq!(resource_units("GET", "/groups", false, None), 1);
        assert_eq!(resource_units("PATCH", "/groups/{id}", false, None), 1);
        assert_eq!(
            resource_units("POST", "/directoryObjects/getByIds", false, None),
            5
        );
    }

    #[test]
    fn writes_beyond_the_quota_wait_for_the_window() {
        let mut throttle = Throttle::new(1_000, 100);
        let write = Cost {
            resource_units: 1,
            writes: 1,
            device_writes: 0,
        };
        for _ in 0..3_000 {
            throttle.admit(Duration::ZERO, write).unwrap();
        }
        let refused = throttle
            .admit(Duration::from_millis(500), write)
            .unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(1));
        assert_eq!(refused.information, "WriteLimitExceeded");
        throttle.admit(Duration::from_millis(1_500), write).unwrap();
    }
}
