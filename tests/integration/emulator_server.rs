//! `bulkops emulate` as a server under attack, over real sockets: tokens that
//! cannot be guessed and are bound to tenant and client, the token checked
//! before any body is read, bodies above the limit refused, slow clients cut
//! off, a connection cap that recovers, no spinning when file descriptors
//! run out, links built from its own address whatever `Host` says, and a
//! second writer on the database answered 503 with Retry-After. And the Graph
//! client never sends its token anywhere but the configured Graph origin.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::emulator_support::{Emulator, demo_database};
use crate::wire::{demo_emulator, exchange, send, sign_in};

const TOKEN_FORM: &str = "client_id=6731de76-14a6-49ae-97bc-6eba6914391e&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&client_secret=s&grant_type=client_credentials";

fn token(emulator: &Emulator, tenant: &str, form: &str) -> crate::wire::RawAnswer {
    send(
        emulator,
        "POST",
        &format!("/{tenant}/oauth2/v2.0/token"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(form),
    )
}

#[test]
fn tokens_are_unique_jwts_bound_to_the_tenant_and_client_allowed() {
    let (_dir, emulator) = demo_emulator(&[
        "--tenant",
        "contoso.onmicrosoft.com",
        "--client-id",
        "6731de76-14a6-49ae-97bc-6eba6914391e",
    ]);
    let first = sign_in(&emulator).bearer;
    let second = sign_in(&emulator).bearer;
    assert_ne!(first, second);
    let jwt = first.strip_prefix("Bearer ").unwrap();
    assert_eq!(jwt.split('.').count(), 3, "a JWT: {jwt}");
    // A token with one character of its signature changed is not a token.
    let mut forged = jwt.to_owned().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = format!("Bearer {}", String::from_utf8(forged).unwrap());
    let refused = send(
        &emulator,
        "GET",
        "/v1.0/groups",
        &[("Authorization", &forged)],
        None,
    );
    assert_eq!(refused.status, 401, "{}", refused.body);
    let other_tenant = token(&emulator, "fabrikam.onmicrosoft.com", TOKEN_FORM);
    assert_eq!(other_tenant.status, 400, "{}", other_tenant.body);
    assert!(
        other_tenant.body.contains("AADSTS90002"),
        "{}",
        other_tenant.body
    );
    let other_client = token(
        &emulator,
        "contoso.onmicrosoft.com",
        &TOKEN_FORM.replace("6731de76", "0731de76"),
    );
    assert_eq!(other_client.status, 400, "{}", other_client.body);
    assert!(
        other_client.body.contains("AADSTS700016"),
        "{}",
        other_client.body
    );
}

/// Sends a request head announcing `length` body bytes, and a few of them.
fn announce(address: &str, head: &str, length: u64) -> crate::wire::RawAnswer {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let request =
        format!("{head}Content-Length: {length}\r\nConnection: close\r\n\r\n{{\"requests\":");
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (status_line, rest) = text.split_once("\r\n").expect("an answer");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let body = rest
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    crate::wire::RawAnswer {
        status,
        headers: Vec::new(),
        body,
    }
}

#[test]
fn the_token_is_checked_before_the_body_and_large_bodies_are_refused() {
    let (_dir, emulator) = demo_emulator(&[]);
    let head = format!(
        "POST /v1.0/$batch HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n",
        emulator.address
    );
    // A gigabyte announced without a token: answered at once, nothing read.
    let started = Instant::now();
    let anonymous = announce(&emulator.address, &head, 1 << 30);
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    assert!(started.elapsed() < Duration::from_secs(30));
    let session = sign_in(&emulator);
    let authorized = format!("{head}Authorization: {}\r\n", session.bearer);
    let large = announce(&emulator.address, &authorized, 5 * 1024 * 1024);
    assert_eq!(large.status, 413, "{}", large.body);
    assert!(
        large.body.contains("larger than 4194304 bytes"),
        "{}",
        large.body
    );
    // The same without a length: read up to the limit, then refused.
    let mut stream = TcpStream::connect(&emulator.address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let chunked = format!("{authorized}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    stream.write_all(chunked.as_bytes()).unwrap();
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..5 {
        if stream
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .is_err()
            || stream.write_all(&chunk).is_err()
            || stream.write_all(b"\r\n").is_err()
        {
            break;
        }
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[test]
fn slow_clients_are_cut_off_and_the_connection_cap_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = Emulator::start(
        &demo_database(dir.path()),
        &["--header-timeout", "500ms", "--max-connections", "2"],
    );
    // Two clients that never finish their headers hold both connections.
    let mut slow: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut stream = TcpStream::connect(&emulator.address).unwrap();
            stream
                .write_all(b"GET /v1.0/groups HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            stream
        })
        .collect();
    for stream in &mut slow {
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut rest = Vec::new();
        // The server closes them (after a 408 or without a word).
        let _ = stream.read_to_end(&mut rest);
    }
    // And serves the next client.
    let session = sign_in(&emulator);
    let page = session.get("/v1.0/groups?$top=1", &[]);
    assert_eq!(page.status, 200, "{}", page.body);
}

#[test]
fn links_are_built_from_the_emulators_own_address() {
    let (_dir, emulator) = demo_emulator(&[]);
    let session = sign_in(&emulator);
    let request = format!(
        "GET /v1.0/groups?$top=2 HTTP/1.1\r\nHost: evil.example\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
        session.bearer
    );
    let page = exchange(&emulator.address, &request);
    assert_eq!(page.status, 200, "{}", page.body);
    let next = page.json()["@odata.nextLink"].as_str().unwrap().to_owned();
    assert!(
        next.starts_with(&format!("http://{}/v1.0/", emulator.address)),
        "{next}"
    );
    assert!(!page.body.contains("evil.example"), "{}", page.body);
}

#[test]
fn a_second_writer_on_the_database_gets_busy_answers_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_database(dir.path());
    let emulator = Emulator::start(&db, &[]);
    let session = sign_in(&emulator);
    let lock = rusqlite::Connection::open(&db).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let body = serde_json::json!({
        "@odata.id": format!("{}/v1.0/directoryObjects/d67e4d92-8a83-4817-8d64-5fa6d13c513a", emulator.url())
    });
    let busy = session.write(
        "POST",
        "/v1.0/groups/ea667e41-e369-433b-bc84-bb902ea775ad/members/$ref",
        Some(&body),
    );
    assert_eq!(busy.status, 503, "{}", busy.body);
    assert_eq!(busy.header("Retry-After"), Some("1"));
    lock.execute_batch("ROLLBACK").unwrap();
    let done = session.write(
        "POST",
        "/v1.0/groups/ea667e41-e369-433b-bc84-bb902ea775ad/members/$ref",
        Some(&body),
    );
    assert_eq!(done.status, 204, "{}", done.body);
}

#[test]
fn running_out_of_file_descriptors_does_not_spin() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_database(dir.path());
    let mut child = std::process::Command::new("prlimit")
        .args(["--nofile=48:48", "--"])
        .arg(env!("CARGO_BIN_EXE_bulkops"))
        .args(["emulate", "--listen", "127.0.0.1:0", "--directory"])
        .arg(&db)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let address = line
        .split_whitespace()
        .find_map(|word| word.strip_prefix("http://"))
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_owned();
    let cpu_ticks = |pid: u32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    // More connections than descriptors: accept fails until some close.
    let held: Vec<TcpStream> = (0..80)
        .filter_map(|_| TcpStream::connect(&address).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let before = cpu_ticks(child.id());
    std::thread::sleep(Duration::from_secs(2));
    let spent = cpu_ticks(child.id()) - before;
    assert!(spent < 60, "the emulator spun: {spent} ticks of CPU in 2 s");
    drop(held);
    let listener_alive = TcpStream::connect(&address).is_ok();
    let _ = child.kill();
    let _ = child.wait();
    assert!(listener_alive, "the emulator still listens");
}

#[test]
fn the_graph_client_sends_its_token_to_the_graph_origin_only() {
    // A server that answers sign-in and a first page whose next link points
    // at another origin, which records every connection it gets.
    let graph = TcpListener::bind("127.0.0.1:0").unwrap();
    let elsewhere = TcpListener::bind("127.0.0.1:0").unwrap();
    let graph_address = graph.local_addr().unwrap();
    let elsewhere_address = elsewhere.local_addr().unwrap();
    elsewhere.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        for stream in graph.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buffer = [0u8; 8192];
            let read = stream.read(&mut buffer).unwrap_or(0);
            let request = String::from_utf8_lossy(&buffer[..read]).into_owned();
            let body = if request.starts_with("POST") {
                r#"{"token_type":"Bearer","expires_in":3599,"access_token":"secret-token"}"#
                    .to_owned()
            } else {
                format!(
                    r#"{{"value":[],"@odata.nextLink":"http://{elsewhere_address}/v1.0/groups?page=2"}}"#
                )
            };
            let _ = stream.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bulkops.yaml"),
        format!(
            "profiles:\n  evil:\n    tenant: contoso.onmicrosoft.com\n    clientId: 6731de76-14a6-49ae-97bc-6eba6914391e\n    secret: {{ env: BULKOPS_TEST_GRAPH_SECRET }}\n    loginUrl: http://{graph_address}\n    graphUrl: http://{graph_address}\n    pacing: {{ deadlineSeconds: 5 }}\n"
        ),
    )
    .unwrap();
    let manifest = "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: listing\nspec:\n  directory: evil\n  steps:\n    - id: groups\n      downloadGroups:\n        output: groups.csv\n";
    std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
    let run = crate::support::bulkops_env(
        dir.path(),
        &["apply", "m.yaml"],
        &[("BULKOPS_TEST_GRAPH_SECRET", "x")],
    );
    assert_ne!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stderr_text().contains(&format!(
            "refused to follow `http://{elsewhere_address}/v1.0/groups`: it is not on the configured Graph origin"
        )),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        elsewhere.accept().is_err(),
        "the other origin never got a connection"
    );
}
