//! The `bulkops` command: parses arguments, runs the command, and exits with a
//! documented code.

fn main() {
    std::process::exit(bulkops::cli::main());
}

// Loading a large manifest allocates hundreds of thousands of small nodes;
// mimalloc makes that about a sixth faster than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
