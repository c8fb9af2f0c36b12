//! The command line: argument parsing with clap, one file per command, and the
//! mapping from results to exit codes.

mod apply;
mod directory;
mod emulate;
mod jobs;
mod plan;
mod plan_folder;
mod report;
mod schema;
mod validate;
mod watch;

use clap::{Parser, Subcommand};

pub use report::{MessageFormat, Reporter};

use crate::error::Error;
use crate::exit_code;

/// Declarative, resumable bulk operations for Microsoft Entra ID groups and devices.
#[derive(Debug, Parser)]
#[command(name = "bulkops", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines on stderr are written: `text` for people, `json` (one
    /// object per line) for log collectors. `BULKOPS_LOG=debug` shows more.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "BULKOPS_LOG_FORMAT")]
    log_format: LogFormat,
}

/// The formats of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a workflow, or finish an interrupted run with `--resume RUN_ID`.
    Apply(apply::ApplyArgs),
    /// Check manifests: YAML, schema, step references, cycles, templates, output paths.
    Validate(validate::ValidateArgs),
    /// Show the steps of a workflow and the order they run in.
    Plan(plan::PlanArgs),
    /// Print the JSON Schema of the manifest language.
    Schema(schema::SchemaArgs),
    /// Create, generate and inspect the local directory.
    Directory(directory::DirectoryArgs),
    /// List, show, download and delete bulk jobs.
    Jobs(jobs::JobsArgs),
    /// Run each file dropped into a watched folder through its workflow, once, when it is complete.
    Watch(watch::WatchArgs),
    /// Serve the local directory as Microsoft Graph v1.0 on loopback, for rehearsals and tests.
    Emulate(emulate::EmulateArgs),
}

/// What a successful command reports to the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done; nothing more to say.
    Success,
    /// `plan --detailed-exitcode`: a run would change something.
    ChangesPending,
}

/// Runs `bulkops` with the process arguments and returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error),
    };
    init_logging(cli.log_format);
    let reporter = Reporter::for_stderr();
    match run(cli, &reporter) {
        Ok(Outcome::Success) => exit_code::SUCCESS,
        Ok(Outcome::ChangesPending) => exit_code::CHANGES_PENDING,
        Err(error) => {
            reporter.emit(&error);
            error.exit_code()
        }
    }
}

fn usage_error(error: &clap::Error) -> i32 {
    // `--help` and `--version` arrive as errors too; clap prints them to stdout.
    let _ = error.print();
    if error.use_stderr() {
        exit_code::USAGE
    } else {
        exit_code::SUCCESS
    }
}

fn run(cli: Cli, reporter: &Reporter) -> Result<Outcome, Error> {
    match cli.command {
        Command::Apply(args) => apply::run(&args, reporter),
        Command::Validate(args) => validate::run(&args, reporter),
        Command::Plan(args) => plan::run(&args, reporter),
        Command::Schema(args) => schema::run(&args),
        Command::Directory(args) => directory::run(&args),
        Command::Jobs(args) => jobs::run(&args),
        Command::Emulate(args) => emulate::run(&args),
        Command::Watch(args) => watch::run(&args),
    }
}

/// The async runtime a command runs on: two workers, timers and I/O.
fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::Runtime)
}

/// Asks a yes/no question on the terminal; only `y` or `yes` is yes.
fn confirm(question: &str) -> Result<bool, Error> {
    use std::io::{BufRead, Write};
    let mut stderr = std::io::stderr().lock();
    write!(stderr, "{question}[y/N] ")
        .and_then(|()| stderr.flush())
        .map_err(Error::Output)?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(Error::Output)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Writes command output to stdout, turning a closed pipe or full disk into an error.
fn write_stdout(text: &str) -> Result<(), Error> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(Error::Output)
}

/// Log lines go to stderr; `BULKOPS_LOG=debug` shows more, `--log-format json`
/// writes one JSON object per line for log collectors.
fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    // On a terminal, progress bars and the summary tell the story; log lines
    // would tear the bars, so only warnings show unless asked for.
    let terminal = std::io::stderr().is_terminal() && format == LogFormat::Text;
    let level = match std::env::var("BULKOPS_LOG").as_deref() {
        Ok("debug") => tracing::Level::DEBUG,
        Ok("info") => tracing::Level::INFO,
        Ok("warn") => tracing::Level::WARN,
        Ok("error") => tracing::Level::ERROR,
        _ if terminal => tracing::Level::WARN,
        _ => tracing::Level::INFO,
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_target(false)
        // A closed stderr (`apply … 2>&1 | head`) must not end the run.
        .log_internal_errors(false);
    if format == LogFormat::Json {
        builder.json().init();
    } else {
        builder.fmt_fields(escaped_fields()).init();
    }
}

/// Text log fields with control characters escaped: a display name with a
/// line break cannot forge a log line, nor an escape sequence a terminal.
fn escaped_fields() -> impl for<'writer> tracing_subscriber::fmt::FormatFields<'writer> {
    use tracing_subscriber::field::MakeExt;
    tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
        let text = format!("{value:?}");
        let text = crate::text::printable(&text);
        if field.name() == "message" {
            write!(writer, "{text}")
        } else {
            write!(writer, "{field}={text}")
        }
    })
    .delimited(" ")
}
