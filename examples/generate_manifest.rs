//! Writes a generated benchmark manifest to stdout:
//!
//! ```sh
//! cargo run --release --example generate_manifest -- 10000 3 42 > /tmp/synthetic.yaml
//! ```
//!
//! Arguments: step count (default 10000), dependencies per step (default 3), seed (default 42).

#[path = "../benches/support/synthetic.rs"]
mod synthetic;

fn main() {
    let mut args = std::env::args().skip(1).map(|arg| arg.parse::<u64>());
    let mut next = |default: u64| match args.next() {
        Some(Ok(value)) => value,
        Some(Err(error)) => {
            eprintln!("arguments are whole numbers: STEPS DEPENDENCIES SEED ({error})");
            std::process::exit(64);
        }
        None => default,
    };
    let steps = usize::try_from(next(10_000)).unwrap_or(usize::MAX);
    let dependencies = usize::try_from(next(3)).unwrap_or(3);
    let seed = next(42);
    print!("{}", synthetic::manifest(steps, dependencies, seed));
}
