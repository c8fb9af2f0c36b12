//! Budgets a fleet shares: when several processes (workers on several
//! machines) write to one tenant with one app, Microsoft Graph counts their
//! requests together, so they must pace as one client. Each quota becomes a
//! bucket a shared store keeps (GCRA: a theoretical arrival time per quota,
//! advanced by every grant), with a burst small enough that no window of the
//! quota's length ever holds more than the quota, even for a request that
//! reaches Graph a moment after its grant.
//!
//! The client asks its [`SharedBudget`] before every request; the store
//! behind it (PostgreSQL) grants or says how long to wait, and keeps the
//! cool-down a 429's `Retry-After` sets for every process.

use std::time::Duration;

use futures_util::future::BoxFuture;

use super::pace::Quota;

/// Units of each quota one request or `$batch` spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Spend {
    pub writes: u32,
    pub device_writes: u32,
    pub resource_units: u32,
}

/// A budget kept outside the process, shared by every process using the
/// same app in the same tenant.
pub trait SharedBudget: Send + Sync {
    /// Spends `spend` if it fits now and no cool-down holds; otherwise says
    /// how long to wait before asking again (zero: granted).
    fn take(&self, spend: Spend) -> BoxFuture<'_, Result<Duration, String>>;

    /// Holds every process back for `delay` (a 429's `Retry-After`).
    fn cool_down(&self, delay: Duration) -> BoxFuture<'_, Result<(), String>>;
}

/// Share of a quota the fleet plans to use, for clock differences.
const LIMIT_SLACK: f64 = 0.98;
/// The bucket's window is this much longer than the service's.
const WINDOW_SLACK: f64 = 1.02;
/// Time a granted request may take to reach Graph (a busy machine, a lock
/// wait), on top of the window slack.
const TRANSIT: Duration = Duration::from_millis(200);
/// The burst is this share of the quota: small, so that the sustained rate
/// stays close to the quota while no window exceeds it.
const BURST_SHARE: u32 = 20;

/// One quota as a bucket: each unit moves the theoretical arrival time on by
/// `unit_us`; a grant fits while that time is at most `burst_us` ahead of now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub unit_us: i64,
    pub burst_us: i64,
    /// The most units one grant may charge (larger requests are charged this).
    pub burst: u32,
}

impl Bucket {
    /// The bucket that keeps every window of `quota.window` within
    /// `quota.limit`: a burst of `B` units and a rate of (L − B) per window,
    /// both with slack, so that any window holds at most B + (L − B) units.
    pub fn for_quota(quota: Quota) -> Self {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "quotas are small positive numbers"
        )]
        let limit = ((f64::from(quota.limit) * LIMIT_SLACK) as u32).max(2);
        let burst = (limit / BURST_SHARE).max(1);
        let window = quota.window.mul_f64(WINDOW_SLACK) + TRANSIT;
        let window_us = i64::try_from(window.as_micros()).unwrap_or(i64::MAX);
        let unit_us = (window_us / i64::from(limit - burst)).saturating_add(1);
        Self {
            unit_us,
            burst_us: unit_us.saturating_mul(i64::from(burst)),
            burst,
        }
    }

    /// What `units` units move the arrival time on by.
    pub fn cost_us(&self, units: u32) -> i64 {
        self.unit_us
            .saturating_mul(i64::from(units.min(self.burst)))
    }
}

/// The buckets of the quotas a client paces to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buckets {
    pub writes: Bucket,
    pub device_writes: Bucket,
    pub resource_units: Bucket,
}

impl Buckets {
    /// Graph's quotas with windows divided by `time_scale`. The tenant's
    /// size is not known to the client, so resource units are paced to the
    /// smallest tenants' quota.
    pub fn for_graph(time_scale: u32) -> Self {
        Self {
            writes: Bucket::for_quota(Quota::WRITES.scaled(time_scale)),
            device_writes: Bucket::for_quota(Quota::WRITES.scaled(time_scale)),
            resource_units: Bucket::for_quota(Quota::resource_units(0).scaled(time_scale)),
        }
    }

    /// Each bucket's charge for `spend`: (cost, burst) in microseconds.
    pub fn charges(&self, spend: Spend) -> [(i64, i64); 3] {
        [
            (self.writes, spend.writes),
            (self.device_writes, spend.device_writes),
            (self.resource_units, spend.resource_units),
        ]
        .map(|(bucket, units)| (bucket.cost_us(units), bucket.burst_us))
    }
}

/// Resource units of a request the client sends on its own (not in a
/// `$batch`), by its method and address.
pub fn estimated_units(method: &str, url: &str) -> u32 {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let path = path.split("/v1.0").last().unwrap_or(path);
    let route = if path.ends_with("/members") || path.ends_with("/transitiveMembers") {
        "/groups/{id}/members"
    } else {
        path
    };
    let option = |name: &str| {
        query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key == name || key == name.replace('$', "%24")).then_some(value)
        })
    };
    super::pace::resource_units(
        method,
        route,
        option("$select").is_some(),
        option("$top").and_then(|top| top.parse().ok()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Grants as the store makes them, at the times asked, greedily.
    fn granted_times(bucket: Bucket, ask_every_us: i64, units: u32, asks: usize) -> Vec<i64> {
        let mut arrival = 0_i64;
        let mut granted = Vec::new();
        let mut now = 0_i64;
        while granted.len() < asks {
            let next = arrival.max(now) + bucket.cost_us(units);
            if next - bucket.burst_us <= now {
                arrival = next;
                granted.push(now);
            }
            now += ask_every_us;
        }
        granted
    }

    #[test]
    fn no_window_holds_more_than_the_quota_and_the_pace_stays_close_to_it() {
        let quota = Quota::WRITES.scaled(20);
        let bucket = Bucket::for_quota(quota);
        let units = 7;
        let times = granted_times(bucket, 500, units, 4_000);
        let window_us = i64::try_from(quota.window.as_micros()).unwrap();
        let most = times
            .iter()
            .enumerate()
            .map(|(first, start)| {
                times[first..]
                    .iter()
                    .take_while(|at| **at < start + window_us)
                    .count()
            })
            .max()
            .unwrap();
        let most_units = u32::try_from(most).unwrap() * units;
        assert!(most_units <= quota.limit, "{most_units} in one window");
        assert!(
            most_units >= quota.limit * 85 / 100,
            "only {most_units} of {} in the fullest window",
            quota.limit
        );
        let elapsed = times.last().unwrap() - times.first().unwrap();
        #[expect(clippy::cast_precision_loss, reason = "test figures")]
        let per_window =
            (times.len() as f64 * f64::from(units)) / (elapsed as f64 / window_us as f64);
        assert!(
            per_window > f64::from(quota.limit) * 0.85,
            "sustained {per_window:.0} per window"
        );
    }

    #[test]
    fn a_grant_larger_than_the_burst_is_charged_the_burst() {
        let bucket = Bucket::for_quota(Quota {
            limit: 100,
            window: Duration::from_secs(1),
        });
        assert_eq!(bucket.burst, 4);
        assert_eq!(bucket.cost_us(50), bucket.burst_us);
        assert_eq!(bucket.cost_us(0), 0);
    }

    #[test]
    fn member_pages_cost_more_than_other_reads() {
        assert_eq!(
            estimated_units("GET", "/groups/abc/members?$select=id&$top=999"),
            2
        );
        assert_eq!(estimated_units("GET", "/groups/abc/members"), 3);
        assert_eq!(estimated_units("GET", "/users?$top=5"), 1);
        assert_eq!(
            estimated_units(
                "GET",
                "http://127.0.0.1:1/v1.0/groups/abc/transitiveMembers"
            ),
            3
        );
        assert_eq!(estimated_units("GET", "/groups?$filter=x"), 1);
    }
}
