//! Monitor benchmarks (issue 5 item 9):
//! - `sampler_tick/8gpu_20proc`: one sample of the sampler (fake source, history append, alert assessment) with
//!   8 GPUs and 20 processes: the backend's cost per second at the default 1 Hz;
//! - `window_24h_8gpu/2000_points`: a full 24 h history of 8 GPUs and 20 process series, every series
//!   downsampled to 2,000 points; `window_24h_8gpu_only/2000_points`: the same without process series, the
//!   issue's target (under 5 ms);
//! - `replay_24h_memory`: not a timing: replays 24 h (plus 6 h more, to go past capacity) of 8-GPU snapshots
//!   through JSON, as a recording is read, into a sampler and prints the history's heap and the process's
//!   resident memory every 6 h, to show both stay bounded.
//!
//! Run: `cargo bench -p headroom-core --bench monitor`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use headroom_core::monitor::fake::{FakeConfig, FakeSource, Scenario};
use headroom_core::monitor::history::HistoryConfig;
use headroom_core::monitor::sampler::{SamplerConfig, SamplerCore};
use headroom_core::monitor::source::{GpuSource, SampleRequest};
use headroom_core::monitor::{Snapshot, Timestamp};

const T0: u64 = 1_795_982_400_000;
const DAY: u64 = 86_400;

fn fake(gpus: u32, processes: u32) -> Box<dyn GpuSource> {
    Box::new(
        FakeSource::new(FakeConfig {
            scenario: Scenario::Training,
            gpus,
            processes,
            seed: 1,
            ..FakeConfig::default()
        })
        .expect("valid fake config"),
    )
}

fn sampler_tick(c: &mut Criterion) {
    let mut core = SamplerCore::new(fake(8, 20), SamplerConfig::default()).expect("sampler");
    // Fill an hour first so the trend window and the process series are in their steady state.
    let mut k = 0u64;
    while k < 3600 {
        core.tick(Timestamp(T0 + k * 1000)).expect("tick");
        k += 1;
    }
    let cpu = thread_cpu_ns();
    for _ in 0..3600 {
        k += 1;
        black_box(core.tick(Timestamp(T0 + k * 1000)).expect("tick"));
    }
    let per_tick = (thread_cpu_ns() - cpu) as f64 / 3600.0;
    println!(
        "sampler_tick: {:.1} µs of thread CPU time per tick (mean of 3600): {:.4}% of a core at 1 Hz",
        per_tick / 1e3,
        per_tick / 1e9 * 100.0
    );
    c.bench_function("sampler_tick/8gpu_20proc", |b| {
        b.iter(|| {
            k += 1;
            black_box(core.tick(Timestamp(T0 + k * 1000)).expect("tick"));
        })
    });
}

fn window_24h(c: &mut Criterion) {
    let mut core = SamplerCore::new(fake(8, 20), SamplerConfig::default()).expect("sampler");
    for k in 0..DAY {
        core.tick(Timestamp(T0 + k * 1000)).expect("tick");
    }
    let (from, to) = (Timestamp(T0), Timestamp(T0 + (DAY - 1) * 1000));
    let w = core.history().window(from, to, 2000);
    println!(
        "window: {} GPU series of {} points, {} process series",
        w.gpus.len(),
        w.gpus.first().map_or(0, |g| g.used.len()),
        w.processes.len()
    );
    c.bench_function("window_24h_8gpu/2000_points", |b| {
        b.iter(|| black_box(core.history().window(from, to, 2000)))
    });
}

/// The target exactly: 24 h of 8 GPUs (no process series) to 2,000 points each.
fn window_24h_gpus_only(c: &mut Criterion) {
    let config = SamplerConfig {
        history: HistoryConfig {
            max_process_series: 0,
            ..HistoryConfig::default()
        },
        ..SamplerConfig::default()
    };
    let mut core = SamplerCore::new(fake(8, 20), config).expect("sampler");
    for k in 0..DAY {
        core.tick(Timestamp(T0 + k * 1000)).expect("tick");
    }
    let (from, to) = (Timestamp(T0), Timestamp(T0 + (DAY - 1) * 1000));
    // Criterion measures wall time, which on a shared machine includes time waiting for a core; the process's
    // CPU time (all the threads the window is split across) is what the window costs.
    let cpu = process_cpu_ns();
    for _ in 0..50 {
        black_box(core.history().window(from, to, 2000));
    }
    println!(
        "window_24h_8gpu_only: {:.2} ms of CPU time per window, all threads (mean of 50)",
        (process_cpu_ns() - cpu) as f64 / 50.0 / 1e6
    );
    c.bench_function("window_24h_8gpu_only/2000_points", |b| {
        b.iter(|| black_box(core.history().window(from, to, 2000)))
    });
}

/// A source that hands out fake snapshots after a round trip through JSON, as a replay reads its lines.
struct JsonReplay(Box<dyn GpuSource>);

impl GpuSource for JsonReplay {
    fn label(&self) -> String {
        "replay:(bench)".into()
    }
    fn sample(&mut self, request: SampleRequest) -> headroom_core::Result<Option<Snapshot>> {
        let Some(s) = self.0.sample(SampleRequest {
            processes: true,
            ..request
        })?
        else {
            return Ok(None);
        };
        let line = serde_json::to_string(&s).expect("serialize");
        Ok(Some(serde_json::from_str(&line).expect("parse")))
    }
}

/// CPU time of the calling thread (clock_gettime(2), CLOCK_THREAD_CPUTIME_ID), in ns.
fn thread_cpu_ns() -> u64 {
    cpu_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU time of the whole process: what a window costs when its series are split across threads.
fn process_cpu_ns() -> u64 {
    cpu_ns(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn cpu_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn replay_memory(_c: &mut Criterion) {
    let config = SamplerConfig::default();
    let bound = config.history.memory_bound_bytes(8);
    let mut core = SamplerCore::new(Box::new(JsonReplay(fake(8, 20))), config).expect("sampler");
    println!(
        "replay_24h_memory: bound from capacity {:.1} MB; RSS before {} KiB",
        bound as f64 / 1e6,
        rss_kib()
    );
    let start = std::time::Instant::now();
    for k in 0..(DAY + DAY / 4) {
        core.tick(Timestamp(T0 + k * 1000)).expect("tick");
        if (k + 1) % (DAY / 4) == 0 {
            println!(
                "replay_24h_memory: {:>2} h replayed: history heap {:.1} MB, process RSS {:.1} MB",
                (k + 1) / 3600,
                core.history().heap_bytes() as f64 / 1e6,
                rss_kib() as f64 * 1024.0 / 1e6
            );
        }
    }
    println!(
        "replay_24h_memory: {} snapshots through JSON in {:.1} s ({:.1} µs each)",
        DAY + DAY / 4,
        start.elapsed().as_secs_f64(),
        start.elapsed().as_secs_f64() * 1e6 / (DAY + DAY / 4) as f64
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots().sample_size(30).measurement_time(std::time::Duration::from_secs(5));
    targets = sampler_tick, window_24h, window_24h_gpus_only, replay_memory
}
criterion_main!(benches);
