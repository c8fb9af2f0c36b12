//! Guards as a budget for a whole run: every removal and device deletion a
//! run journals is charged before it is applied, so no run exceeds
//! `guards.maxRemovals` or `guards.maxDeviceDeletions` — not through a step
//! whose effect the preview could not know, not through a resume, not
//! through an input that grew.

use crate::store::Charged;

/// The limits of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub removals: u64,
    pub device_deletions: u64,
}

/// What a run may still remove and delete.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    limits: Limits,
    charged: Charged,
}

/// A change the guards refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum GuardRefusal {
    #[error(
        "removing {planned} more members would exceed the guard: {charged} removed or planned so far in this run, `guards.maxRemovals` allows {limit}"
    )]
    #[diagnostic(
        code(bulkops::guard::removals),
        help(
            "check the step's input; if the removals are intended, resume with `--allow-removals N` or raise `guards.maxRemovals`"
        )
    )]
    Removals {
        planned: u64,
        charged: u64,
        limit: u64,
    },
    #[error(
        "deleting {planned} more devices would exceed the guard: {charged} deleted or planned so far in this run, `guards.maxDeviceDeletions` allows {limit}"
    )]
    #[diagnostic(
        code(bulkops::guard::device_deletions),
        help(
            "deleted devices cannot be restored; check the step's input, and if the deletions are intended, raise `guards.maxDeviceDeletions`"
        )
    )]
    DeviceDeletions {
        planned: u64,
        charged: u64,
        limit: u64,
    },
    #[error(
        "removing {planned} of the {size} members of `{group}` would exceed the guard: `guards.maxRemovals: {share}` allows {allowed}"
    )]
    #[diagnostic(
        code(bulkops::guard::group_share),
        help(
            "check the list; if the removals are intended, raise `guards.maxRemovals` (a percentage of each group, or a count for the run)"
        )
    )]
    GroupShare {
        group: String,
        planned: u64,
        size: u64,
        share: String,
        allowed: u64,
    },
}

impl Budget {
    /// A budget with `charged` spent already (by the journal of a resumed run).
    pub fn new(limits: Limits, charged: Charged) -> Self {
        Self { limits, charged }
    }

    /// Whether `extra` fits in what is left.
    pub fn fits(&self, extra: Charged) -> Result<(), GuardRefusal> {
        if self.charged.removals + extra.removals > self.limits.removals {
            return Err(GuardRefusal::Removals {
                planned: extra.removals,
                charged: self.charged.removals,
                limit: self.limits.removals,
            });
        }
        if self.charged.device_deletions + extra.device_deletions > self.limits.device_deletions {
            return Err(GuardRefusal::DeviceDeletions {
                planned: extra.device_deletions,
                charged: self.charged.device_deletions,
                limit: self.limits.device_deletions,
            });
        }
        Ok(())
    }

    /// Spends `extra` if it fits.
    pub fn charge(&mut self, extra: Charged) -> Result<(), GuardRefusal> {
        self.fits(extra)?;
        self.charged.removals += extra.removals;
        self.charged.device_deletions += extra.device_deletions;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_until_the_limit() {
        let limits = Limits {
            removals: 5,
            device_deletions: 1,
        };
        let mut budget = Budget::new(
            limits,
            Charged {
                removals: 2,
                device_deletions: 0,
            },
        );
        let three = Charged {
            removals: 3,
            device_deletions: 0,
        };
        budget.charge(three).unwrap();
        let one = Charged {
            removals: 1,
            device_deletions: 0,
        };
        assert_eq!(
            budget.charge(one),
            Err(GuardRefusal::Removals {
                planned: 1,
                charged: 5,
                limit: 5
            })
        );
        let two_devices = Charged {
            removals: 0,
            device_deletions: 2,
        };
        assert!(matches!(
            budget.fits(two_devices),
            Err(GuardRefusal::DeviceDeletions { .. })
        ));
    }
}
