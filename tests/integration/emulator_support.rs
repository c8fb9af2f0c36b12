//! Starts `bulkops emulate` as a real process on a free loopback port and
//! points a profiles file at it; the process is killed when dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

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

/// A running emulator.
pub(crate) struct Emulator {
    child: Child,
    pub(crate) address: String,
}

impl Emulator {
    /// Serves the directory database `db` with extra `emulate` arguments.
    pub(crate) fn start(db: &Path, extra: &[&str]) -> Self {
        Self::start_env(db, extra, &[])
    }

    /// [`Emulator::start`] with environment variables for the emulator.
    pub(crate) fn start_env(db: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bulkops"))
            .envs(env.iter().copied())
            .args(["emulate", "--listen", "127.0.0.1:0", "--directory"])
            .arg(db)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the emulator starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout is piped"))
            .read_line(&mut line)
            .expect("the emulator prints its address");
        let address = line
            .split_whitespace()
            .find_map(|word| word.strip_prefix("http://"))
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        Self { child, address }
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

    /// The emulator's request counters.
    pub(crate) fn stats(&self) -> serde_json::Value {
        let body = crate::wire::exchange(
            &self.address,
            "GET /_emulator/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .body;
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
