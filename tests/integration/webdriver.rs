//! A small W3C `WebDriver` client for the browser tests: Debian's
//! `chromedriver` on a loopback port, driving Debian's headless `chromium`
//! with a fresh profile and a download folder of the test's own.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where Debian puts the browser and its driver.
pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";
pub(crate) const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A browser session, ended (and its driver stopped) on drop.
pub(crate) struct Browser {
    driver: Child,
    port: u16,
    session: String,
    _profile: tempfile::TempDir,
    pub(crate) downloads: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One request to the driver; its JSON answer's `value`.
fn call(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    // chromedriver keeps the connection open: the body is as long as it says.
    let mut raw = Vec::new();
    let mut block = vec![0u8; 16 * 1024];
    let (head, json) = loop {
        let read = stream.read(&mut block).map_err(|e| e.to_string())?;
        if read == 0 {
            return Err(format!("{method} {path}: the driver closed the connection"));
        }
        raw.extend_from_slice(&block[..read]);
        if let Some(split) = raw.windows(4).position(|window| window == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..split]).into_owned();
            let length = head
                .lines()
                .filter_map(|line| line.split_once(':'))
                .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, value)| value.trim().parse::<usize>().ok())
                .ok_or("an answer without its length")?;
            if raw.len() >= split + 4 + length {
                let body =
                    String::from_utf8_lossy(&raw[split + 4..split + 4 + length]).into_owned();
                break (head, body);
            }
        }
    };
    let answer: Value = serde_json::from_str(&json).map_err(|e| format!("{e}: {json}"))?;
    if head.starts_with("HTTP/1.1 200") {
        Ok(answer["value"].clone())
    } else {
        Err(format!("{method} {path}: {}", answer["value"]))
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session.
    pub(crate) fn start() -> Self {
        assert!(
            Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
            "the browser tests need Debian's chromium and chromium-driver (`apt-get install chromium chromium-driver`; .ci/run installs them)"
        );
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let started = Instant::now();
        while call(port, "GET", "/status", None).map_or(true, |status| status["ready"] != true) {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "chromedriver never got ready"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        let downloads = profile.path().join("downloads");
        std::fs::create_dir(&downloads).unwrap();
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    "--window-size=1400,900",
                    format!("--user-data-dir={}", profile.path().join("profile").display()),
                ],
                "prefs": {
                    "download.default_directory": downloads.display().to_string(),
                    "download.prompt_for_download": false,
                },
            },
        } } });
        let mut browser = Self {
            driver,
            port,
            session: String::new(),
            _profile: profile,
            downloads,
        };
        let session =
            call(port, "POST", "/session", Some(&capabilities)).expect("a browser session starts");
        session["sessionId"]
            .as_str()
            .unwrap()
            .clone_into(&mut browser.session);
        let allow = json!({ "cmd": "Browser.setDownloadBehavior", "params": {
            "behavior": "allow", "downloadPath": browser.downloads.display().to_string() } });
        browser.command("POST", "/goog/cdp/execute", Some(&allow));
        browser
    }

    fn command(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        call(
            self.port,
            method,
            &format!("/session/{}{path}", self.session),
            body,
        )
        .unwrap_or_else(|error| panic!("{error}"))
    }

    pub(crate) fn open(&self, url: &str) {
        self.command("POST", "/url", Some(&json!({ "url": url })));
    }

    pub(crate) fn url(&self) -> String {
        self.command("GET", "/url", None)
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The elements `css` finds now.
    pub(crate) fn all(&self, css: &str) -> Vec<String> {
        let found = self.command(
            "POST",
            "/elements",
            Some(&json!({ "using": "css selector", "value": css })),
        );
        found
            .as_array()
            .unwrap()
            .iter()
            .map(|element| element[ELEMENT].as_str().unwrap().to_owned())
            .collect()
    }

    /// The first element `css` finds, waiting for it to appear.
    pub(crate) fn find(&self, css: &str) -> String {
        let mut found = Vec::new();
        Self::wait(&format!("`{css}` on the page"), || {
            found = self.all(css);
            !found.is_empty()
        });
        found.remove(0)
    }

    /// Asks `what` of the element `css` finds. The page's live part is
    /// replaced every second, so an element found a moment ago may be gone
    /// (a stale element): it is found again.
    fn on_element(&self, css: &str, method: &str, what: &str, body: Option<&Value>) -> Value {
        let mut answer = Err(String::new());
        Self::wait(&format!("`{css}` to answer {what}"), || {
            let element = self.find(css);
            answer = call(
                self.port,
                method,
                &format!("/session/{}/element/{element}{what}", self.session),
                body,
            );
            !matches!(&answer, Err(error) if error.contains("stale element"))
        });
        answer.unwrap_or_else(|error| panic!("{error}"))
    }

    pub(crate) fn click(&self, css: &str) {
        self.on_element(css, "POST", "/click", Some(&json!({})));
    }

    pub(crate) fn text(&self, css: &str) -> String {
        self.on_element(css, "GET", "/text", None)
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub(crate) fn attribute(&self, css: &str, name: &str) -> Option<String> {
        self.on_element(css, "GET", &format!("/attribute/{name}"), None)
            .as_str()
            .map(str::to_owned)
    }

    /// Waits (at most two minutes) until `condition` holds.
    pub(crate) fn wait(what: &str, mut condition: impl FnMut() -> bool) {
        let started = Instant::now();
        while !condition() {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "gave up waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The page as a PNG.
    pub(crate) fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let encoded = self.command("GET", "/screenshot", None);
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap())
            .unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = call(
                self.port,
                "DELETE",
                &format!("/session/{}", self.session),
                None,
            );
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
