//! A compact set of 128-bit identities for spotting repeated rows in lists of
//! millions: a sorted vector (16 bytes an entry, no hash table overhead) that
//! absorbs each batch's new entries once the batch is done.

use std::collections::HashSet;

/// Identities seen so far.
#[derive(Debug, Default)]
pub(super) struct SeenSet {
    /// Everything from earlier batches, sorted.
    sorted: Vec<u128>,
    /// The current batch.
    fresh: HashSet<u128>,
}

impl SeenSet {
    /// A set with room for `capacity` identities.
    pub(super) fn with_capacity(capacity: usize) -> Self {
        Self {
            sorted: Vec::with_capacity(capacity),
            fresh: HashSet::new(),
        }
    }

    /// Records `identity`; returns whether it is new.
    pub(super) fn insert(&mut self, identity: u128) -> bool {
        self.sorted.binary_search(&identity).is_err() && self.fresh.insert(identity)
    }

    /// Ends a batch: merges its identities into the sorted part, in place.
    pub(super) fn end_batch(&mut self) {
        let mut fresh: Vec<u128> = self.fresh.drain().collect();
        fresh.sort_unstable();
        let old = self.sorted.len();
        self.sorted.resize(old + fresh.len(), 0);
        let (mut left, mut right, mut write) = (old, fresh.len(), self.sorted.len());
        while right > 0 {
            write -= 1;
            if left > 0 && self.sorted[left - 1] > fresh[right - 1] {
                left -= 1;
                self.sorted[write] = self.sorted[left];
            } else {
                right -= 1;
                self.sorted[write] = fresh[right];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_across_batches() {
        let mut seen = SeenSet::with_capacity(8);
        assert!(seen.insert(5) && seen.insert(1) && seen.insert(9));
        assert!(!seen.insert(5), "repeated within a batch");
        seen.end_batch();
        assert!(!seen.insert(9), "repeated across batches");
        assert!(seen.insert(3) && seen.insert(10) && seen.insert(0));
        seen.end_batch();
        assert_eq!(seen.sorted, [0, 1, 3, 5, 9, 10]);
        for old in [0, 1, 3, 5, 9, 10] {
            assert!(!seen.insert(old));
        }
        assert!(seen.insert(4));
    }
}
