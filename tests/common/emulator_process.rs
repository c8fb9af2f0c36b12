//! A `bulkops emulate` process on a free loopback port, shared by the
//! integration tests and the benchmarks: started with its arguments and
//! environment, read for its address and its request counters, and killed
//! when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running emulator.
pub(crate) struct EmulatorProcess {
    child: Child,
    pub(crate) address: String,
}

impl EmulatorProcess {
    /// Serves the directory database `db` with extra `emulate` arguments and
    /// environment variables, once it has printed its address.
    pub(crate) fn spawn(db: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_bulkops"));
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("BULKOPS_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .envs(env.iter().copied())
            .args(["emulate", "--listen", "127.0.0.1:0", "--init", "--db"])
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
            .find_map(|word| {
                word.strip_prefix("http://")
                    .or_else(|| word.strip_prefix("https://"))
            })
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        Self { child, address }
    }

    /// The emulator's request counters (`GET /_emulator/stats`).
    pub(crate) fn stats(&self) -> serde_json::Value {
        let mut stream = TcpStream::connect(&self.address).expect("the emulator listens");
        stream
            .write_all(b"GET /_emulator/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("a request");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("an answer");
        let body = answer.split_once("\r\n\r\n").expect("a body").1;
        serde_json::from_str(body).expect("JSON stats")
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
