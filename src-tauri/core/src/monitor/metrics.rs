//! What Headroom's exporter serves at `/metrics`: one reading in the Prometheus text format (docs/monitoring.md
//! lists every metric). Values Headroom could not read are left out, never written as 0, so a dashboard shows a
//! gap rather than an empty GPU. Per-process memory is written only when asked: a PID is an unbounded label
//! value, and every new one is a new series in the Prometheus that scrapes it.

use std::fmt::Write;

use super::alerts::Level;
use super::expo::escape_label;
use super::sampler::Tick;
use super::{GpuSample, GpuStatus};

pub const MEMORY_USED: &str = "headroom_gpu_memory_used_bytes";
pub const MEMORY_TOTAL: &str = "headroom_gpu_memory_total_bytes";
pub const MEMORY_FREE: &str = "headroom_gpu_memory_free_bytes";
pub const MEMORY_RESERVED: &str = "headroom_gpu_memory_reserved_bytes";
pub const UTILIZATION: &str = "headroom_gpu_utilization_ratio";
pub const TEMPERATURE: &str = "headroom_gpu_temperature_celsius";
pub const POWER: &str = "headroom_gpu_power_watts";
pub const UP: &str = "headroom_gpu_up";
pub const ALERT: &str = "headroom_gpu_alert_state";
pub const PROCESS_MEMORY: &str = "headroom_process_memory_used_bytes";

/// What the exporter writes besides the GPUs themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    /// The `hostname` label of a local GPU (a remote source's GPUs keep their own host).
    pub hostname: String,
    /// Write `headroom_process_memory_used_bytes`, one series per process.
    pub processes: bool,
}

/// One GPU metric: its name, help, and how to read it off a sample.
struct GpuMetric {
    name: &'static str,
    help: &'static str,
    value: fn(&GpuSample) -> Option<f64>,
}

const GPU_METRICS: [GpuMetric; 8] = [
    GpuMetric {
        name: MEMORY_USED,
        help: "Device memory allocated by processes, in bytes (NVML used).",
        value: |g| g.memory.used_bytes.map(|v| v as f64),
    },
    GpuMetric {
        name: MEMORY_TOTAL,
        help: "Device memory in all, in bytes: used + free + reserved.",
        value: |g| g.memory.total_bytes.map(|v| v as f64),
    },
    GpuMetric {
        name: MEMORY_FREE,
        help: "Device memory free for allocation, in bytes.",
        value: |g| g.memory.free_bytes.map(|v| v as f64),
    },
    GpuMetric {
        name: MEMORY_RESERVED,
        help: "Device memory the driver and firmware set aside, in bytes.",
        value: |g| g.memory.reserved_bytes.map(|v| v as f64),
    },
    GpuMetric {
        name: UTILIZATION,
        help: "Share of the last sample period a kernel ran on the GPU, 0 to 1.",
        value: |g| g.utilization_percent.map(|v| f64::from(v) / 100.0),
    },
    GpuMetric {
        name: TEMPERATURE,
        help: "GPU core temperature in degrees Celsius.",
        value: |g| g.temperature_c.map(f64::from),
    },
    GpuMetric {
        name: POWER,
        help: "Board power draw in watts.",
        value: |g| g.power_watts,
    },
    GpuMetric {
        name: UP,
        help: "1 when the GPU answered at the last reading, 0 when it was lost (off the bus, host unreachable).",
        value: |g| Some(if g.status == GpuStatus::Ok { 1.0 } else { 0.0 }),
    },
];

const LEVELS: [(Level, &str); 4] = [
    (Level::Normal, "normal"),
    (Level::Warning, "warning"),
    (Level::Critical, "critical"),
    (Level::Lost, "lost"),
];

/// The exposition of one reading, `# HELP` and `# TYPE` before each family.
pub fn render(tick: &Tick, options: &RenderOptions) -> String {
    let gpus = &tick.snapshot.gpus;
    let labels: Vec<String> = gpus.iter().map(|g| gpu_labels(g, options)).collect();
    let mut out = String::with_capacity(256 + gpus.len() * 1200);
    for metric in &GPU_METRICS {
        family(&mut out, metric.name, metric.help);
        for (g, l) in gpus.iter().zip(&labels) {
            if let Some(v) = (metric.value)(g) {
                sample(&mut out, metric.name, l, "", v);
            }
        }
    }
    family(
        &mut out,
        ALERT,
        "Headroom's alert level of the GPU's memory: 1 for the current level, 0 for the others.",
    );
    for (g, l) in gpus.iter().zip(&labels) {
        let level = tick
            .assessment
            .gpus
            .iter()
            .find(|a| a.gpu == g.index)
            .map(|a| a.level);
        let Some(level) = level else { continue };
        for (each, word) in LEVELS {
            let extra = format!(",level=\"{word}\"");
            sample(
                &mut out,
                ALERT,
                l,
                &extra,
                f64::from(u8::from(each == level)),
            );
        }
    }
    if options.processes {
        family(
            &mut out,
            PROCESS_MEMORY,
            "Device memory a compute process holds on the GPU, in bytes.",
        );
        for (g, l) in gpus.iter().zip(&labels) {
            for p in g.processes.iter().flatten() {
                let Some(used) = p.used_bytes else { continue };
                let mut extra = format!(",pid=\"{}\",process_name=\"", p.pid);
                escape_label(p.name.as_deref().unwrap_or(""), &mut extra);
                extra.push_str("\",user=\"");
                escape_label(p.user.as_deref().unwrap_or(""), &mut extra);
                extra.push('"');
                sample(&mut out, PROCESS_MEMORY, l, &extra, used as f64);
            }
        }
    }
    out
}

fn family(out: &mut String, name: &str, help: &str) {
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n");
}

fn sample(out: &mut String, name: &str, labels: &str, extra: &str, value: f64) {
    let _ = writeln!(out, "{name}{{{labels}{extra}}} {value}");
}

/// `gpu`, `uuid`, `pci_bus_id`, `model_name`, `hostname`: unknown ones as empty values, which Prometheus treats
/// as absent, so a GPU's series keep one shape.
fn gpu_labels(g: &GpuSample, options: &RenderOptions) -> String {
    let mut out = format!("gpu=\"{}\",uuid=\"", g.host_gpu.unwrap_or(g.index));
    escape_label(g.uuid.as_deref().unwrap_or(""), &mut out);
    out.push_str("\",pci_bus_id=\"");
    escape_label(g.pci_bus_id.as_deref().unwrap_or(""), &mut out);
    out.push_str("\",model_name=\"");
    escape_label(g.name.as_deref().unwrap_or(""), &mut out);
    out.push_str("\",hostname=\"");
    escape_label(g.host.as_deref().unwrap_or(&options.hostname), &mut out);
    out.push('"');
    out
}

/// This machine's name (`gethostname`), or `localhost` when it has none.
pub fn local_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match (rc, std::str::from_utf8(&buf[..end])) {
        (0, Ok(name)) if !name.is_empty() => name.to_string(),
        _ => "localhost".to_string(),
    }
}
