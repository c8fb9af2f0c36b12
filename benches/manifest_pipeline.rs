//! Benchmark: load, validate and plan a generated 10,000-step manifest.
//!
//! ```sh
//! cargo bench --bench manifest_pipeline
//! ```
//!
//! Measures the library pipeline in process (read, YAML with positions, schema
//! check, deserialization, resolution, dag order and layers) and the whole
//! `bulkops plan --format json` process, and prints the minimum, median and
//! maximum of several runs. The goal is under 200 ms. For reference, the same
//! run times `serde_yaml` parsing the same text into a plain value, without
//! positions, schema check or planning.

mod support;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::synthetic;

const STEPS: usize = 10_000;
const DEPENDENCIES: usize = 3;
const SEED: u64 = 42;
const RUNS: usize = 15;

fn main() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("synthetic.yaml");
    let text = synthetic::manifest(STEPS, DEPENDENCIES, SEED);
    std::fs::write(&path, &text).expect("the manifest is written");
    println!(
        "manifest: {STEPS} steps, about {DEPENDENCIES} dependencies each, {} bytes, seed {SEED}",
        text.len()
    );

    let edges = check_once(&path);
    println!("dag: {edges} edges");
    report(
        "load + validate + plan (in process)",
        &time(|| {
            let loaded =
                bulkops::manifest::load_file(&path).expect("the synthetic manifest is valid");
            std::hint::black_box((loaded.plan.order(), loaded.plan.dag.layers()));
        }),
    );
    report(
        "bulkops plan --format json (whole process)",
        &time(|| run_binary(&path)),
    );
    report(
        "reference: serde_yaml::from_str to a value (parse only)",
        &time(|| {
            let value: serde_yaml::Value =
                serde_yaml::from_str(&text).expect("the manifest is YAML");
            std::hint::black_box(value);
        }),
    );
}

/// Loads once to prove the manifest is valid and to count its edges.
fn check_once(path: &Path) -> usize {
    let loaded = bulkops::manifest::load_file(path).expect("the synthetic manifest is valid");
    assert_eq!(loaded.plan.steps.len(), STEPS);
    assert_eq!(
        loaded.plan.order().len(),
        STEPS,
        "the generated graph is a dag"
    );
    loaded.plan.dag.edges().len()
}

fn run_binary(path: &Path) {
    let output = Command::new(env!("CARGO_BIN_EXE_bulkops"))
        .args(["plan", "--format", "json"])
        .arg(path)
        .output()
        .expect("bulkops starts");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn time(mut work: impl FnMut()) -> Vec<Duration> {
    work(); // warm-up: the schema is compiled once per process
    let mut samples: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed()
        })
        .collect();
    samples.sort_unstable();
    samples
}

fn report(name: &str, samples: &[Duration]) {
    let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
    println!(
        "{name}: min {:.1} ms, median {:.1} ms, max {:.1} ms ({} runs)",
        ms(samples[0]),
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() - 1]),
        samples.len()
    );
}
