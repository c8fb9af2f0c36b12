//! What the tests add to a `bulkops emulate` process: the demo database it
//! serves, the faults of the parity suite, and a profiles file pointing at it.

use std::path::Path;

/// The environment variable the test profiles read the client secret from.
pub(crate) const SECRET_ENV: &str = "BULKOPS_TEST_GRAPH_SECRET";

/// The faults the parity suite runs under: 10% 429, 2% 503, 20 ms latency,
/// 1% dropped connections, with Graph's quotas at a hundredth of their windows;
/// a batch with throttled requests answers 424, as Graph's older documentation says.
pub(crate) const FAULTS: &[&str] = &[
    "--throttle",
    "graph",
    "--time-scale",
    "100",
    "--fail-rate",
    "429:0.1",
    "--fail-rate",
    "503:0.02",
    "--latency",
    "20ms",
    "--drop-rate",
    "0.01",
    "--throttled-batch-status",
    "424",
];

/// Creates `directory.db` with the demo tenant in `dir` and returns its path.
pub(crate) fn demo_database(dir: &Path) -> std::path::PathBuf {
    let made = crate::support::bulkops_in(dir, &["directory", "--db", "directory.db", "init"]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    dir.join("directory.db")
}

/// A running emulator, with what tests add to it.
pub(crate) use crate::emulator_process::EmulatorProcess as Emulator;

impl Emulator {
    /// Serves the directory database `db` with extra `emulate` arguments.
    pub(crate) fn start(db: &Path, extra: &[&str]) -> Self {
        Self::spawn(db, extra, &[])
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Writes `bulkops.yaml` with profile `emu` for this emulator into `dir`.
    pub(crate) fn write_profiles(&self, dir: &Path, time_scale: u32) {
        let url = self.url();
        std::fs::write(
            dir.join("bulkops.yaml"),
            format!(
                "profiles:\n  emu:\n    tenant: contoso.onmicrosoft.com\n    clientId: 6731de76-14a6-49ae-97bc-6eba6914391e\n\
                 \x20   secret: {{ env: {SECRET_ENV} }}\n    loginUrl: {url}\n    graphUrl: {url}\n\
                 \x20   pacing: {{ timeScale: {time_scale}, deadlineSeconds: 120 }}\n"
            ),
        )
        .unwrap();
    }
}
