//! The `bulkops` command: parses arguments, runs the command, and exits with a
//! documented code.

fn main() {
    std::process::exit(bulkops::cli::main());
}
