//! `headroom-cli monitor --serve`: the exporter as a user starts it, read by curl-like requests and by another
//! `headroom-cli monitor --source headroom:URL`; the snapshot of a remote source follows the snapshot schema.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};

use super::contract::{assert_valid, validator};
use super::{assert_exit, cli, cli_command, ok_json, stderr_of};

/// A `headroom-cli monitor --serve` process, killed by pid when dropped.
struct Serving {
    child: Child,
    addr: String,
    /// What it said on stderr before it served.
    said: String,
}

impl Serving {
    fn start(dir: &std::path::Path, args: &[&str]) -> Serving {
        let mut child = cli_command(dir)
            .args(["monitor", "--source", "fake:training", "--gpus", "2"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut said = String::new();
        // The first lines say where it serves (after any warning); EOF means it exited and says why.
        let addr = loop {
            let mut line = String::new();
            if stderr.read_line(&mut line).unwrap() == 0 {
                let _ = child.kill();
                panic!("headroom-cli exited before serving: {said}");
            }
            said.push_str(&line);
            if let Some(rest) = line.trim().strip_prefix("headroom-cli: serving http://") {
                break rest.trim_end_matches("/metrics").to_string();
            }
        };
        // Keep draining stderr so the process never blocks on a full pipe.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        });
        Serving { child, addr, said }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.1 GET; the status line and the body.
fn get(addr: &str, path: &str, token: Option<&str>) -> (String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// GETs /metrics until the first reading is in (503 before it).
fn metrics(addr: &str, token: Option<&str>) -> String {
    for _ in 0..200 {
        let (status, body) = get(addr, "/metrics", token);
        if status.contains(" 200 ") {
            return body;
        }
        assert!(status.contains(" 503 "), "{status}: {body}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("no reading served after 200 tries");
}

#[test]
fn serve_exports_the_fake_and_another_cli_reads_it_back_as_a_host() {
    let dir = tempfile::tempdir().unwrap();
    let serving = Serving::start(dir.path(), &["--serve", "127.0.0.1:0", "--serve-processes"]);
    let page = metrics(&serving.addr, None);
    for name in [
        "headroom_gpu_memory_used_bytes",
        "headroom_gpu_memory_total_bytes",
        "headroom_gpu_memory_reserved_bytes",
        "headroom_gpu_utilization_ratio",
        "headroom_gpu_temperature_celsius",
        "headroom_gpu_power_watts",
        "headroom_gpu_alert_state",
        "headroom_process_memory_used_bytes",
    ] {
        assert!(
            page.contains(&format!("# TYPE {name} gauge\n")),
            "{name} missing:\n{page}"
        );
    }
    assert!(page.contains("gpu=\"1\",uuid=\"GPU-fake-"), "{page}");
    assert_eq!(
        get(&serving.addr, "/other", None).0.split(' ').nth(1),
        Some("404")
    );

    let source = format!("headroom:http://{}", serving.addr);
    let snap = ok_json(&cli(
        dir.path(),
        &["monitor", "--once", "--json", "--source", &source],
    ));
    assert_valid(&validator("monitor-snapshot.schema.json"), &source, &snap);
    assert_eq!(snap["source"], format!("{source}/metrics"));
    assert_eq!(snap["gpus"].as_array().unwrap().len(), 2);
    assert_eq!(snap["hosts"][0]["reachable"], true);
    assert!(snap["gpus"][1]["memory"]["total_bytes"].is_u64());
    assert_eq!(snap["gpus"][1]["host_gpu"], 1);
    let text = cli(dir.path(), &["monitor", "--once", "--source", &source]);
    assert_exit(&text, 0);
    assert!(String::from_utf8_lossy(&text.stdout).contains("GPU 1 Headroom demo GPU 1"));
}

#[test]
fn a_token_file_guards_the_page_and_the_reader_sends_it_from_its_own_file() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "tok-123\n").unwrap();
    let serving = Serving::start(
        dir.path(),
        &[
            "--serve",
            "127.0.0.1:0",
            "--token-file",
            token.to_str().unwrap(),
        ],
    );
    metrics(&serving.addr, Some("tok-123"));
    let (status, _) = get(&serving.addr, "/metrics", None);
    assert!(status.contains(" 401 "), "{status}");
    let (status, _) = get(&serving.addr, "/metrics", Some("tok-124"));
    assert!(status.contains(" 401 "), "{status}");

    let source = format!("headroom:http://{}", serving.addr);
    let refused = ok_json(&cli(
        dir.path(),
        &["monitor", "--once", "--json", "--source", &source],
    ));
    assert_eq!(refused["hosts"][0]["reachable"], false);
    assert!(refused["hosts"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("401"));
    let read = ok_json(&cli(
        dir.path(),
        &[
            "monitor",
            "--once",
            "--json",
            "--source",
            &source,
            "--source-token-file",
            token.to_str().unwrap(),
        ],
    ));
    assert_eq!(read["hosts"][0]["reachable"], true);
    assert_eq!(read["gpus"].as_array().unwrap().len(), 2);
    // The token is in no output.
    assert!(!read.to_string().contains("tok-123") && !serving.said.contains("tok-123"));
}

#[test]
fn listening_beyond_loopback_without_a_token_warns() {
    let dir = tempfile::tempdir().unwrap();
    let serving = Serving::start(dir.path(), &["--serve", "0.0.0.0:0"]);
    assert!(
        serving.said.contains("warning: 0.0.0.0:"),
        "{}",
        serving.said
    );
    assert!(
        serving.said.contains("HEADROOM_EXPORTER_TOKEN"),
        "{}",
        serving.said
    );
}

#[test]
fn bad_serve_and_source_arguments_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(
        dir.path(),
        &["monitor", "--source", "fake:idle", "--serve", "here"],
    );
    assert_exit(&out, 2);
    assert!(
        stderr_of(&out).contains("serve: `here`"),
        "{}",
        stderr_of(&out)
    );
    // A token file only means something to the exporter.
    let out = cli(dir.path(), &["monitor", "--token-file", "t"]);
    assert_exit(&out, 2);
    let out = cli(
        dir.path(),
        &["monitor", "--once", "--source", "dcgm:gpu-host:9400"],
    );
    assert!(
        stderr_of(&out).contains("source: `gpu-host:9400`: needs http://"),
        "{}",
        stderr_of(&out)
    );
    // A user without a password, and none in the environment or a file.
    let out = cli_command(dir.path())
        .args([
            "monitor",
            "--once",
            "--source",
            "prometheus:http://me@127.0.0.1:1",
        ])
        .env_remove("HEADROOM_SOURCE_PASSWORD")
        .output()
        .unwrap();
    assert!(
        stderr_of(&out).contains("HEADROOM_SOURCE_PASSWORD"),
        "{}",
        stderr_of(&out)
    );
    // A password in the URL never comes back in what is printed.
    let out = cli(
        dir.path(),
        &[
            "monitor",
            "--once",
            "--json",
            "--source",
            "prometheus:http://me:hunter2@127.0.0.1:1",
        ],
    );
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr_of(&out)
    );
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("prometheus:http://127.0.0.1:1"), "{shown}");
}
