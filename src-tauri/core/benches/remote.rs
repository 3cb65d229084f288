//! Exporter and remote-source benchmarks (issue 15 item 4):
//! - `exporter_scrape/8gpu`: one HTTP GET of the exporter's `/metrics` over loopback with 8 GPUs (render
//!   included): the target is under 5 ms; `metrics_render/8gpu`: the rendering alone;
//! - `prometheus_parse/32x8`: parsing a Prometheus query answer for 32 hosts × 8 GPUs and grouping it by host;
//! - `prometheus_poll/32x8`: one reading of a `prometheus:` source against a loopback server that answers with
//!   that body (HTTP, parse, grouping), and a sampler tick on top of it (history, alerts); the thread CPU time
//!   per reading is printed as a share of one core at 1 Hz (the target: under 2 %). The server's own CPU
//!   time is not counted: it stands in for Prometheus.
//!
//! Run: `cargo bench -p headroom-core --bench remote`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use headroom_core::monitor::exporter::{Exporter, ExporterConfig};
use headroom_core::monitor::fake::{FakeConfig, FakeSource, Scenario};
use headroom_core::monitor::metrics::{render, RenderOptions};
use headroom_core::monitor::remote::assemble::assemble;
use headroom_core::monitor::remote::http::HttpClient;
use headroom_core::monitor::remote::{prom_api, RemoteAuth, RemoteKind, RemoteSource, RemoteSpec};
use headroom_core::monitor::sampler::{SamplerConfig, SamplerCore, Tick};
use headroom_core::monitor::source::{GpuSource, SampleRequest};
use headroom_core::monitor::Timestamp;

const T0: u64 = 1_795_982_400_000;
const HOSTS: usize = 32;
const GPUS: usize = 8;

fn fake_tick(gpus: u32) -> Tick {
    let source = FakeSource::new(FakeConfig {
        scenario: Scenario::Training,
        gpus,
        processes: gpus * 2,
        seed: 1,
        ..FakeConfig::default()
    })
    .expect("fake");
    let mut core = SamplerCore::new(Box::new(source), SamplerConfig::default()).expect("sampler");
    let mut tick = None;
    for k in 0..30 {
        tick = core.tick(Timestamp(T0 + k * 1000)).expect("tick");
    }
    tick.expect("a reading")
}

fn options() -> RenderOptions {
    RenderOptions {
        hostname: "bench-host".into(),
        processes: false,
    }
}

fn exporter_scrape(c: &mut Criterion) {
    let tick = fake_tick(8);
    c.bench_function("metrics_render/8gpu", |b| {
        b.iter(|| black_box(render(&tick, &options())))
    });
    let exporter = Exporter::start(ExporterConfig {
        addr: "127.0.0.1:0".parse().expect("addr"),
        token: None,
        render: options(),
    })
    .expect("exporter");
    exporter.publish(&tick);
    let client = HttpClient::new(&RemoteAuth::None, std::time::Duration::from_secs(2), None);
    let url = format!("http://{}/metrics", exporter.addr());
    let bytes = client.get(&url).expect("scrape").len();
    println!("exporter_scrape: {bytes} bytes for 8 GPUs");
    c.bench_function("exporter_scrape/8gpu", |b| {
        b.iter(|| black_box(client.get(&url).expect("scrape")))
    });
}

/// What Prometheus answers to the source's query for 32 hosts of 8 GPUs each, all Headroom exporters.
fn prometheus_answer() -> String {
    let tick = fake_tick(GPUS as u32);
    let mut series = Vec::new();
    for h in 0..HOSTS {
        let host = format!("gpu-node-{h:02}");
        let instance = format!("10.0.{}.{}:9464", h / 250, h % 250 + 1);
        let page = render(
            &tick,
            &RenderOptions {
                hostname: host,
                processes: false,
            },
        );
        for s in headroom_core::monitor::expo::parse(&page).expect("page") {
            if s.name == "headroom_gpu_alert_state" {
                continue; // not in the query
            }
            let mut metric = serde_json::Map::new();
            metric.insert("__name__".into(), s.name.clone().into());
            for (k, v) in &s.labels {
                metric.insert(k.clone(), v.clone().into());
            }
            metric.insert("instance".into(), instance.clone().into());
            metric.insert("job".into(), "headroom".into());
            series.push(serde_json::json!({"metric": metric, "value": [1795982400.123, s.value.to_string()]}));
        }
        series.push(serde_json::json!({"metric": {"__name__": "up", "instance": instance, "job": "headroom"}, "value": [1795982400.123, "1"]}));
    }
    serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": series}})
        .to_string()
}

fn prometheus_parse(c: &mut Criterion) {
    let body = prometheus_answer();
    let samples = prom_api::parse_vector(&body).expect("answer");
    assert_eq!(assemble(&samples, "x").len(), HOSTS);
    println!(
        "prometheus_parse: {} series, {} KiB of JSON for {HOSTS} hosts × {GPUS} GPUs",
        samples.len(),
        body.len() / 1024
    );
    c.bench_function("prometheus_parse/32x8", |b| {
        b.iter(|| {
            let samples = prom_api::parse_vector(black_box(&body)).expect("answer");
            black_box(assemble(&samples, "x"))
        })
    });
}

fn prometheus_poll(c: &mut Criterion) {
    let body: &'static str = Box::leak(prometheus_answer().into_boxed_str());
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("server"));
    let addr = server.server_addr().to_ip().expect("ip");
    let serving = server.clone();
    let thread = std::thread::spawn(move || {
        for r in serving.incoming_requests() {
            let _ = r.respond(tiny_http::Response::from_string(body));
        }
    });
    let spec =
        || RemoteSpec::parse(RemoteKind::Prometheus, &format!("http://{addr}")).expect("spec");
    let mut source = RemoteSource::new(spec());
    let read = |source: &mut RemoteSource| {
        source
            .sample(SampleRequest {
                at: Timestamp(T0),
                processes: false,
            })
            .expect("sample")
            .expect("a snapshot")
    };
    assert_eq!(read(&mut source).gpus.len(), HOSTS * GPUS);
    let cpu = thread_cpu_ns();
    for _ in 0..200 {
        black_box(read(&mut source));
    }
    let per = (thread_cpu_ns() - cpu) as f64 / 200.0;
    println!(
        "prometheus_poll: {:.0} µs of thread CPU time per reading of {HOSTS}×{GPUS} GPUs: {:.3}% of a core at 1 Hz",
        per / 1e3,
        per / 1e9 * 100.0
    );
    c.bench_function("prometheus_poll/32x8", |b| {
        b.iter(|| black_box(read(&mut source)))
    });

    // The whole backend per reading: the source, then history and alerts for every GPU.
    let mut config = SamplerConfig::default();
    config.history.max_gpus = 64;
    let mut core = SamplerCore::new(Box::new(RemoteSource::new(spec())), config).expect("sampler");
    let mut k = 0u64;
    for _ in 0..60 {
        k += 1;
        core.tick(Timestamp(T0 + k * 1000)).expect("tick");
    }
    let cpu = thread_cpu_ns();
    for _ in 0..200 {
        k += 1;
        black_box(core.tick(Timestamp(T0 + k * 1000)).expect("tick"));
    }
    let per = (thread_cpu_ns() - cpu) as f64 / 200.0;
    println!(
        "prometheus_tick: {:.0} µs of thread CPU time per sampler tick of {HOSTS}×{GPUS} GPUs: {:.3}% of a core at 1 Hz",
        per / 1e3,
        per / 1e9 * 100.0
    );
    c.bench_function("prometheus_tick/32x8", |b| {
        b.iter(|| {
            k += 1;
            black_box(core.tick(Timestamp(T0 + k * 1000)).expect("tick"))
        })
    });
    server.unblock();
    let _ = thread.join();
}

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots().sample_size(30).measurement_time(std::time::Duration::from_secs(5));
    targets = exporter_scrape, prometheus_parse, prometheus_poll
}
criterion_main!(benches);
