//! Remote sources and the exporter over real loopback HTTP: Headroom's exporter read back directly
//! (`headroom:`) and through a real Prometheus server (`prometheus:`), DCGM-exporter's format from a recorded
//! page (`dcgm:`), and hosts that refuse, time out or want a token.
//!
//! The Prometheus test needs the Debian `prometheus` package (`bash .ci/dev install` installs it); without it the
//! test is skipped with a printed reason, unless CI or HEADROOM_TEST_PROMETHEUS is set: then it fails.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use headroom_core::monitor::expo;
use headroom_core::monitor::exporter::{Exporter, ExporterConfig};
use headroom_core::monitor::fake::{FakeConfig, Scenario};
use headroom_core::monitor::metrics::{self, render, RenderOptions};
use headroom_core::monitor::procs::ProcFs;
use headroom_core::monitor::remote::{
    RemoteAuth, RemoteKind, RemoteSource, RemoteSpec, Secret, SecretInputs,
};
use headroom_core::monitor::sampler::{SamplerConfig, SamplerCore, Tick};
use headroom_core::monitor::source::{GpuSource, SampleRequest};
use headroom_core::monitor::{
    open_source, GpuSample, GpuStatus, Snapshot, SourceSpec, Timestamp, MIB,
};

const DCGM_PAGE: &str = include_str!("../fixtures/dcgm/metrics.txt");

/// One reading of a seeded fake with `gpus` GPUs, a few steps into its training run (memory and utilization set).
fn fake_tick(gpus: u32) -> Tick {
    let spec = SourceSpec::Fake(FakeConfig {
        scenario: Scenario::Training,
        gpus,
        processes: gpus,
        seed: 3,
        ..FakeConfig::default()
    });
    let mut core = SamplerCore::new(
        open_source(&spec, ProcFs::default()).unwrap(),
        SamplerConfig::default(),
    )
    .unwrap();
    let mut tick = None;
    for i in 0..5 {
        tick = core.tick(Timestamp(1_700_000_000_000 + i * 1000)).unwrap();
    }
    tick.unwrap()
}

fn exporter(token: Option<&str>, processes: bool) -> Exporter {
    Exporter::start(ExporterConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        token: token.map(|t| Secret::new("token", t).unwrap()),
        render: RenderOptions {
            hostname: "gpu-host-a".into(),
            processes,
        },
    })
    .unwrap()
}

fn read(spec: RemoteSpec) -> Snapshot {
    RemoteSource::new(spec)
        .sample(SampleRequest {
            at: Timestamp(1),
            processes: true,
        })
        .unwrap()
        .unwrap()
}

fn spec(kind: RemoteKind, url: &str) -> RemoteSpec {
    RemoteSpec::parse(kind, url).unwrap()
}

/// Every reading the exporter serves comes back from the page as the same bytes, watts and degrees.
fn assert_same_gpus(read: &Snapshot, served: &Snapshot, host: &str) {
    assert_eq!(read.gpus.len(), served.gpus.len(), "{read:#?}");
    for (r, s) in read.gpus.iter().zip(&served.gpus) {
        assert_eq!(r.host.as_deref(), Some(host));
        assert_eq!(r.host_gpu, Some(s.index));
        assert_eq!(r.status, GpuStatus::Ok);
        assert_eq!(r.memory, s.memory, "GPU {}", s.index);
        assert_eq!(r.utilization_percent, s.utilization_percent);
        assert_eq!(r.temperature_c, s.temperature_c);
        assert_eq!(r.power_watts, s.power_watts);
        assert_eq!(
            (&r.name, &r.uuid, &r.pci_bus_id),
            (&s.name, &s.uuid, &s.pci_bus_id)
        );
    }
}

#[test]
fn a_headroom_exporter_read_back_gives_the_same_bytes_and_processes_when_exported() {
    let tick = fake_tick(2);
    let server = exporter(None, true);
    server.publish(&tick);
    let snap = read(spec(
        RemoteKind::Headroom,
        &format!("http://{}", server.addr()),
    ));
    assert_eq!(
        snap.source,
        format!("headroom:http://{}/metrics", server.addr())
    );
    assert_same_gpus(&snap, &tick.snapshot, "gpu-host-a");
    let hosts = snap.hosts.unwrap();
    assert_eq!(hosts.len(), 1);
    assert!(hosts[0].reachable && hosts[0].reason.is_none());
    for (r, s) in snap.gpus.iter().zip(&tick.snapshot.gpus) {
        let want: Vec<_> = s
            .processes
            .iter()
            .flatten()
            .map(|p| (p.pid, p.used_bytes))
            .collect();
        let got: Vec<_> = r
            .processes
            .iter()
            .flatten()
            .map(|p| (p.pid, p.used_bytes))
            .collect();
        assert_eq!(got, want);
        assert!(!want.is_empty());
    }
}

#[test]
fn an_exporter_with_a_token_refuses_without_it_and_answers_with_it() {
    let tick = fake_tick(1);
    let server = exporter(Some("s3cret-token"), false);
    server.publish(&tick);
    let url = format!("http://{}", server.addr());
    let refused = read(spec(RemoteKind::Headroom, &url));
    let host = &refused.hosts.as_ref().unwrap()[0];
    assert!(!host.reachable);
    assert!(
        host.reason.as_deref().unwrap().contains("HTTP 401"),
        "{host:?}"
    );
    assert!(
        refused.gpus.is_empty(),
        "never seen, so nothing to show lost"
    );

    let mut wrong = spec(RemoteKind::Headroom, &url);
    wrong.auth = RemoteAuth::Bearer(Secret::new("t", "s3cret-tokeN").unwrap());
    assert!(!read(wrong).hosts.unwrap()[0].reachable);

    let mut right = spec(RemoteKind::Headroom, &url);
    right.auth = RemoteAuth::Bearer(Secret::new("t", "s3cret-token").unwrap());
    let snap = read(right);
    assert_same_gpus(&snap, &tick.snapshot, "gpu-host-a");
    assert!(
        snap.gpus[0].processes.is_none(),
        "processes are exported only when asked"
    );
}

#[test]
fn a_scrape_before_the_first_reading_is_an_error_not_an_empty_host() {
    let server = exporter(None, false);
    let snap = read(spec(
        RemoteKind::Headroom,
        &format!("http://{}", server.addr()),
    ));
    assert!(snap.hosts.unwrap()[0]
        .reason
        .as_deref()
        .unwrap()
        .contains("HTTP 503"));
}

/// Serves `body` at every path until dropped.
struct Page {
    server: Arc<tiny_http::Server>,
    addr: SocketAddr,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Page {
    fn serve(body: &'static str) -> Page {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let addr = server.server_addr().to_ip().unwrap();
        let s = server.clone();
        let thread = std::thread::spawn(move || {
            for r in s.incoming_requests() {
                let _ = r.respond(tiny_http::Response::from_string(body));
            }
        });
        Page {
            server,
            addr,
            thread: Some(thread),
        }
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A port nothing listens on: bound, then released.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn dcgm_exporters_page_converts_mib_percent_and_keeps_pod_labels() {
    let page = Page::serve(DCGM_PAGE);
    let down = closed_port();
    let snap = read(spec(
        RemoteKind::Dcgm,
        &format!("http://{},http://127.0.0.1:{down}", page.addr),
    ));
    assert_eq!(snap.gpus.len(), 2, "{snap:#?}");
    let g0 = &snap.gpus[0];
    assert_eq!(g0.host.as_deref(), Some("dgx-a"));
    assert_eq!(g0.name.as_deref(), Some("NVIDIA H100 80GB HBM3"));
    assert_eq!(
        g0.uuid.as_deref(),
        Some("GPU-8f6d2b1e-4c3a-9e2f-1b7d-5a6c3e9f0d12")
    );
    assert_eq!(g0.pci_bus_id.as_deref(), Some("00000000:18:00.0"));
    assert_eq!(g0.memory.used_bytes, Some(62_410 * MIB));
    assert_eq!(g0.memory.free_bytes, Some(18_624 * MIB));
    assert_eq!(g0.memory.reserved_bytes, Some(525 * MIB));
    assert_eq!(g0.memory.total_bytes, Some(81_559 * MIB));
    assert_eq!(g0.utilization_percent, Some(97));
    assert_eq!(g0.temperature_c, Some(61));
    assert_eq!(g0.power_watts, Some(512.347));
    let pod: BTreeMap<String, String> = [
        ("container", "trainer"),
        ("namespace", "ml"),
        ("pod", "llama-ft-0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(g0.labels.as_ref(), Some(&pod));
    let g1 = &snap.gpus[1];
    assert_eq!(
        (g1.host_gpu, g1.memory.used_bytes),
        (Some(1), Some(4 * MIB))
    );
    assert_eq!(g1.labels, None, "empty pod labels are not kept");
    // The second endpoint refuses: reported unreachable with the reason, beside the host that answered.
    let hosts = snap.hosts.unwrap();
    assert_eq!(hosts.len(), 2);
    let dead = hosts.iter().find(|h| !h.reachable).unwrap();
    assert_eq!(dead.host, format!("127.0.0.1:{down}"));
    assert!(
        dead.reason
            .as_deref()
            .unwrap()
            .contains("connection refused"),
        "{dead:?}"
    );
    assert!(hosts.iter().any(|h| h.host == "dgx-a" && h.reachable));
}

#[test]
fn a_host_that_accepts_but_never_answers_times_out_as_unreachable() {
    // Connections queue in the backlog and are never read: the request can only end by its timeout.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = spec(
        RemoteKind::Headroom,
        &format!("http://{}", silent.local_addr().unwrap()),
    );
    s.timeout = Duration::from_millis(300);
    let snap = read(s);
    let host = &snap.hosts.unwrap()[0];
    assert!(!host.reachable);
    assert!(
        host.reason.as_deref().unwrap().contains("timed out"),
        "{host:?}"
    );
}

#[test]
fn gpus_of_a_host_that_stops_answering_stay_as_lost_never_as_zero() {
    let tick = fake_tick(2);
    let server = exporter(None, false);
    server.publish(&tick);
    let mut source = RemoteSource::new(spec(
        RemoteKind::Headroom,
        &format!("http://{}", server.addr()),
    ));
    let at = SampleRequest {
        at: Timestamp(1),
        processes: false,
    };
    let first = source.sample(at).unwrap().unwrap();
    assert_eq!(first.gpus.len(), 2);
    drop(server);
    let after = source.sample(at).unwrap().unwrap();
    assert_eq!(after.gpus.len(), 2);
    for (g, before) in after.gpus.iter().zip(&first.gpus) {
        assert_eq!(g.status, GpuStatus::Lost);
        assert_eq!(g.memory.used_bytes, None);
        assert_eq!(
            (g.index, &g.uuid, &g.host),
            (before.index, &before.uuid, &before.host)
        );
    }
    let host = &after.hosts.unwrap()[0];
    assert_eq!((host.host.as_str(), host.reachable), ("gpu-host-a", false));
    assert!(after
        .unavailable
        .iter()
        .any(|u| u.contains("gpu-host-a: unreachable")));
}

// ---- a real Prometheus ----

/// The Prometheus to test with: HEADROOM_TEST_PROMETHEUS (set by `bash .ci/dev test`), else the Debian
/// package's. Missing when asked for by name or under CI is a failure; otherwise a printed skip.
fn prometheus_binary() -> Option<PathBuf> {
    let named = std::env::var_os("HEADROOM_TEST_PROMETHEUS").filter(|p| !p.is_empty());
    let path = named
        .clone()
        .map_or_else(|| PathBuf::from("/usr/bin/prometheus"), PathBuf::from);
    if path.is_file() {
        return Some(path);
    }
    if named.is_some() || std::env::var_os("CI").is_some() {
        panic!(
            "{} is missing: `bash .ci/dev install` installs the Debian prometheus package",
            path.display()
        );
    }
    eprintln!(
        "skipped: {} is missing (apt-get install prometheus, or set HEADROOM_TEST_PROMETHEUS)",
        path.display()
    );
    None
}

/// A Prometheus process, killed by pid when dropped.
struct Prometheus {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Prometheus {
    fn start(binary: &Path, dir: &Path, target: SocketAddr) -> Prometheus {
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n  - job_name: headroom\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let port = closed_port();
        let log = dir.join("prometheus.log");
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// Samples until `done` says so; a hang guard, not a timing check: Prometheus scrapes every second, so a
    /// minute without the expected reading means it is broken, and its log says why.
    fn sample_until(
        &mut self,
        source: &mut RemoteSource,
        done: impl Fn(&Snapshot) -> bool,
    ) -> Snapshot {
        let guard = Instant::now() + Duration::from_secs(60);
        loop {
            let snap = source
                .sample(SampleRequest {
                    at: Timestamp(1),
                    processes: false,
                })
                .unwrap()
                .unwrap();
            if done(&snap) {
                return snap;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "prometheus exited ({status}): {}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < guard,
                "no such reading from Prometheus in 60 s; last: {snap:#?}\nlog: {}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_real_prometheus_scraping_the_exporter_gives_back_the_fakes_bytes_and_then_the_host_down() {
    let Some(binary) = prometheus_binary() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let tick = fake_tick(2);
    let server = exporter(None, false);
    server.publish(&tick);
    let mut prometheus = Prometheus::start(&binary, dir.path(), server.addr());
    let mut source = RemoteSource::new(spec(RemoteKind::Prometheus, &prometheus.url));
    let snap = prometheus.sample_until(&mut source, |s| {
        s.gpus.len() == 2
            && s.gpus
                .iter()
                .all(|g| g.memory.reserved_bytes.is_some() && g.power_watts.is_some())
    });
    assert_eq!(snap.source, format!("prometheus:{}", prometheus.url));
    assert_same_gpus(&snap, &tick.snapshot, "gpu-host-a");
    assert!(
        snap.hosts.as_ref().unwrap().iter().all(|h| h.reachable),
        "{:?}",
        snap.hosts
    );

    // The exporter goes away: the next scrape fails, and the host is shown unreachable with Prometheus's reason.
    let addr = server.addr();
    drop(server);
    let snap = prometheus.sample_until(&mut source, |s| {
        s.hosts
            .iter()
            .flatten()
            .any(|h| h.host == "gpu-host-a" && !h.reachable)
    });
    let host = snap
        .hosts
        .unwrap()
        .into_iter()
        .find(|h| h.host == "gpu-host-a")
        .unwrap();
    let reason = host.reason.unwrap();
    assert!(reason.contains(&addr.to_string()), "{reason}");
    assert_eq!(snap.gpus.len(), 2);
    assert!(snap
        .gpus
        .iter()
        .all(|g| g.status == GpuStatus::Lost && g.memory.used_bytes.is_none()));
}

#[test]
fn a_prometheus_that_does_not_answer_is_named_with_the_reason() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let snap = read(spec(RemoteKind::Prometheus, &url));
    let host = &snap.hosts.unwrap()[0];
    assert!(!host.reachable);
    let reason = host.reason.as_deref().unwrap();
    assert!(
        reason.starts_with(&format!("Prometheus at {url}")) && reason.contains("refused"),
        "{reason}"
    );
}

#[test]
fn a_lost_gpu_is_exported_as_down_with_no_readings_never_as_zero() {
    let mut tick = fake_tick(2);
    let g = &tick.snapshot.gpus[1];
    tick.snapshot.gpus[1] = GpuSample::lost(1, g.name.clone(), g.uuid.clone());
    let page = render(
        &tick,
        &RenderOptions {
            hostname: "h".into(),
            processes: false,
        },
    );
    let samples = expo::parse(&page).unwrap();
    let of_gpu1: Vec<_> = samples
        .iter()
        .filter(|s| s.label("gpu") == Some("1") && s.name != metrics::ALERT)
        .map(|s| (s.name.as_str(), s.value))
        .collect();
    assert_eq!(of_gpu1, [(metrics::UP, 0.0)]);
    // Every family is announced once, before its samples.
    for name in [metrics::MEMORY_USED, metrics::UTILIZATION, metrics::ALERT] {
        assert_eq!(
            page.matches(&format!("# TYPE {name} gauge\n")).count(),
            1,
            "{name}"
        );
    }
}

/// The Grafana dashboard asks only for metrics the exporter serves.
#[test]
fn the_grafana_dashboard_uses_only_served_metric_names() {
    let text = include_str!("../../docs/grafana/headroom.json");
    let served = [
        metrics::MEMORY_USED,
        metrics::MEMORY_TOTAL,
        metrics::MEMORY_FREE,
        metrics::MEMORY_RESERVED,
        metrics::UTILIZATION,
        metrics::TEMPERATURE,
        metrics::POWER,
        metrics::UP,
        metrics::ALERT,
        metrics::PROCESS_MEMORY,
    ];
    let mut used = 0;
    for (at, _) in text.match_indices("headroom_") {
        let name: String = text[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        // The dashboard's uid and tags are words, not metrics.
        if name.starts_with("headroom_gpu") || name.starts_with("headroom_process") {
            assert!(
                served.contains(&name.as_str()),
                "the dashboard asks for {name}"
            );
            used += 1;
        }
    }
    assert!(used >= 10, "{used}");
    serde_json::from_str::<serde_json::Value>(text).expect("valid JSON");
}

#[test]
fn the_page_recorded_in_dcgm_exporters_readme_reads_as_one_gpu_with_unknown_memory() {
    let page = Page::serve(include_str!("../fixtures/dcgm/readme-kubernetes.txt"));
    let snap = read(spec(RemoteKind::Dcgm, &format!("http://{}", page.addr)));
    assert_eq!(snap.gpus.len(), 1, "{snap:#?}");
    let g = &snap.gpus[0];
    assert_eq!(
        g.uuid.as_deref(),
        Some("GPU-604ac76c-d9cf-fef3-62e9-d92044ab6e52")
    );
    assert_eq!(g.host_gpu, Some(0));
    // No memory counters on the page: unknown, never zeros; the blank memory temperature is no reading.
    assert_eq!(g.memory.used_bytes, None);
    assert_eq!(g.memory.total_bytes, None);
    assert_eq!(g.temperature_c, None);
    assert_eq!(g.labels, None, "empty pod labels are not kept");
    assert!(
        snap.unavailable
            .iter()
            .any(|n| n.contains("gpu 0: no memory counter")),
        "{:?}",
        snap.unavailable
    );
}

/// A TLS server on loopback with a certificate of its own CA, serving `page` at /metrics: python3's http.server
/// behind its ssl module, the certificate made by openssl for 127.0.0.1. Killed on drop.
struct TlsPage {
    child: std::process::Child,
    port: u16,
    ca: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl TlsPage {
    fn serve(page: &str) -> TlsPage {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("metrics"), page).unwrap();
        // A CA, and a server certificate for 127.0.0.1 it signs (webpki refuses a CA used as the server's own).
        let openssl = |args: &[&str]| {
            let ok = std::process::Command::new("openssl")
                .current_dir(d)
                .args(args)
                .stderr(std::process::Stdio::null())
                .status()
                .expect("openssl (Debian's openssl package)");
            assert!(ok.success(), "openssl {args:?}");
        };
        std::fs::write(
            d.join("leaf.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=headroom test CA",
            ]
            .iter()
            .copied()
            .chain(["-keyout", "ca.key", "-out", "ca.pem"])
            .collect::<Vec<_>>(),
        );
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "key.pem",
            "-out",
            "leaf.csr",
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "leaf.ext",
            "-out",
            "cert.pem",
        ]);
        let port = closed_port();
        let script = format!(
            "import http.server, ssl, os\n\
             os.chdir({dir:?})\n\
             s = http.server.ThreadingHTTPServer(('127.0.0.1', {port}), http.server.SimpleHTTPRequestHandler)\n\
             c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n\
             c.load_cert_chain('cert.pem', 'key.pem')\n\
             s.socket = c.wrap_socket(s.socket, server_side=True)\n\
             s.serve_forever()\n",
            dir = d.to_string_lossy()
        );
        let child = std::process::Command::new("python3")
            .args(["-c", &script])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait until it listens (a hang guard, not a timing).
        let start = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(30),
                "the TLS server never listened"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        TlsPage {
            child,
            port,
            ca: d.join("ca.pem"),
            _dir: dir,
        }
    }
}

impl Drop for TlsPage {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn https_sources_check_the_certificate_and_trust_a_ca_file_when_given() {
    let page = TlsPage::serve(DCGM_PAGE);
    let url = format!("https://127.0.0.1:{}", page.port);
    // The public roots do not know this CA: unreachable, and the reason says why.
    let untrusted = read(spec(RemoteKind::Dcgm, &url));
    let host = &untrusted.hosts.as_ref().unwrap()[0];
    assert!(!host.reachable, "{untrusted:#?}");
    assert!(
        host.reason
            .as_deref()
            .unwrap()
            .to_lowercase()
            .contains("certificate")
            || host.reason.as_deref().unwrap().contains("UnknownIssuer"),
        "{host:?}"
    );
    // With the CA file: read over TLS like any page.
    let trusted = spec(RemoteKind::Dcgm, &url)
        .with_secrets(
            &SecretInputs {
                ca_file: Some(page.ca.clone()),
                ..SecretInputs::default()
            },
            |_| None,
        )
        .unwrap();
    let snap = read(trusted);
    assert_eq!(snap.gpus.len(), 2, "{snap:#?}");
    assert_eq!(snap.gpus[0].memory.used_bytes, Some(62_410 * MIB));
    // A file that holds no certificate is refused, naming the field.
    let bad = page._dir.path().join("metrics");
    let err = spec(RemoteKind::Dcgm, &url)
        .with_secrets(
            &SecretInputs {
                ca_file: Some(bad),
                ..SecretInputs::default()
            },
            |_| None,
        )
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("source_ca_file:"), "{err}");
}
