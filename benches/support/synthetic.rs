//! Generates large, valid workflow manifests for benchmarks: a random dag of
//! steps of every kind, each needing about three earlier steps, with templates.
//!
//! The output depends only on the step count and the seed, so figures measured
//! on different days are comparable.

use std::fmt::Write as _;

/// A small xorshift generator: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: usize) -> usize {
        usize::try_from(self.next() % bound as u64).expect("bound fits in usize")
    }
}

/// A manifest of `steps` steps whose `needs` form a random dag with about
/// `dependencies` edges per step.
pub(crate) fn manifest(steps: usize, dependencies: usize, seed: u64) -> String {
    let mut rng = Rng(seed.max(1));
    let mut out = String::with_capacity(steps * 160);
    out.push_str(
        "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: synthetic\n  description: Generated for benchmarks.\n\
         spec:\n  concurrency: 16\n  vars:\n    out: exports\n  steps:\n",
    );
    let mut group_filters: Vec<usize> = Vec::new();
    let mut device_filters: Vec<usize> = Vec::new();
    for index in 0..steps {
        let _ = writeln!(out, "    - id: s{index}");
        write_needs(&mut out, &mut rng, index, dependencies);
        write_action(
            &mut out,
            &mut rng,
            index,
            &mut group_filters,
            &mut device_filters,
        );
    }
    out
}

fn write_needs(out: &mut String, rng: &mut Rng, index: usize, dependencies: usize) {
    if index == 0 {
        return;
    }
    let mut needs: Vec<usize> = (0..dependencies.min(index))
        .map(|_| rng.below(index))
        .collect();
    needs.sort_unstable();
    needs.dedup();
    let list: Vec<String> = needs.iter().map(|n| format!("s{n}")).collect();
    let _ = writeln!(out, "      needs: [{}]", list.join(", "));
}

fn write_action(
    out: &mut String,
    rng: &mut Rng,
    index: usize,
    groups: &mut Vec<usize>,
    devices: &mut Vec<usize>,
) {
    let choice = rng.below(10);
    match (choice, groups.last(), devices.last()) {
        (0 | 1, _, _) | (2..=5, None, _) => {
            let _ = writeln!(
                out,
                "      filterGroups:\n        displayName: {{ startsWith: \"team-{index}-\" }}\n        type: security"
            );
            groups.push(index);
        }
        (2, Some(_), _) => {
            let source = groups[rng.below(groups.len())];
            let _ = writeln!(
                out,
                "      downloadMembers:\n        groups: s{source}\n        output: \"{{{{vars.out}}}}/{{{{run.date}}}}/{{{{group.displayName}}}}-{index}.csv\""
            );
        }
        (3, Some(_), _) => {
            let _ = writeln!(
                out,
                "      importMembers:\n        group: {{ displayName: team-{index} }}\n        input: \"lists/add-{index}.csv\""
            );
        }
        (4, Some(_), _) => {
            let source = groups[rng.below(groups.len())];
            let _ = writeln!(
                out,
                "      removeMembers:\n        groups: s{source}\n        input: \"lists/remove-{index}.csv\"\n        results: \"results/{{{{run.id}}}}/{{{{group.id}}}}-{index}.csv\""
            );
        }
        (5, Some(_), _) => {
            let _ = writeln!(
                out,
                "      downloadGroups:\n        groups: s{}\n        output: \"{{{{vars.out}}}}/groups-{index}.csv\"",
                groups[rng.below(groups.len())]
            );
        }
        (6, _, _) | (7 | 8, _, None) => {
            let _ = writeln!(
                out,
                "      filterDevices:\n        enabled: true\n        lastSignIn: {{ olderThan: {}d }}",
                30 + rng.below(300)
            );
            devices.push(index);
        }
        (7, _, Some(_)) => {
            let _ = writeln!(
                out,
                "      disableDevices:\n        devices: s{}",
                devices[rng.below(devices.len())]
            );
        }
        (8, _, Some(_)) => {
            let _ = writeln!(
                out,
                "      downloadDevices:\n        devices: s{}\n        output: \"devices/{index}.csv\"",
                devices[rng.below(devices.len())]
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "      deleteJobs: {{ olderThan: {}d, status: [completed] }}",
                1 + rng.below(90)
            );
        }
    }
}
