//! The live GPU memory monitor (issue 5): sources that read the GPUs ([`source::GpuSource`]: NVML, a seeded
//! fake, a replay of a recording), a sampler thread that owns one source, a bounded column history with min/max
//! downsampling, alerts with recommendations, process stopping, recording and export.
//!
//! Data flows one way: a source → [`Snapshot`] → sampler (history, alerts) → channel → the shell or the CLI.
//! Every field the driver may not give is an `Option` explained in [`Snapshot::unavailable`], never a zero.

pub mod advice;
pub mod alerts;
pub mod chart;
pub mod decimate;
pub mod expo;
pub mod export;
pub mod exporter;
pub mod fake;
pub mod history;
pub mod metrics;
pub mod notify;
pub mod nvml;
pub mod open;
pub mod procs;
pub mod record;
pub mod remote;
pub mod replay;
pub mod sampler;
pub mod session;
pub mod source;
pub mod switch;
pub mod timestamp;

use serde::{Deserialize, Serialize};

pub use open::{open_source, open_source_shared, SourceSpec};
pub use source::GpuSource;
pub use timestamp::Timestamp;

/// 2^30 bytes: the GiB every user-facing figure in this module uses.
pub const GIB: u64 = 1 << 30;
/// 2^20 bytes.
pub const MIB: u64 = 1 << 20;

/// One reading of every GPU: the JSON of `headroom-cli monitor --once --json` (docs/contract.md §4) and one line of a
/// recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// Which source produced it: `nvml`, `fake:SCENARIO` (a demo) or `replay:FILE`.
    pub source: String,
    pub taken_at: Timestamp,
    pub gpus: Vec<GpuSample>,
    /// What could not be read, and why, in words; each `null` above has an entry here.
    pub unavailable: Vec<String>,
    /// The hosts a remote source reads (`prometheus:`, `dcgm:`, `headroom:`), each reachable or not with the reason;
    /// absent for a local source. Optional key beyond docs/contract.md §4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<Vec<HostState>>,
}

/// One host of a remote source at one reading. A host that does not answer keeps its GPUs in the snapshot as
/// [`GpuStatus::Lost`] (never as zeros) and says why here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostState {
    /// The host's name: its `hostname` label, else the Prometheus `instance`, else the URL's host and port.
    pub host: String,
    pub reachable: bool,
    /// Why it is unreachable, in words (a timeout, a refused connection, an HTTP status, Prometheus's last scrape
    /// error); `null` when reachable.
    pub reason: Option<String>,
}

/// Whether the GPU answered this time.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    ts_rs::TS,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum GpuStatus {
    #[default]
    Ok,
    /// The GPU fell off the bus or stopped answering; the source retries it on every sample.
    Lost,
}

/// One GPU at one instant. Optional keys beyond docs/contract.md §4: `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GpuSample {
    pub index: u32,
    pub name: Option<String>,
    pub uuid: Option<String>,
    #[serde(default)]
    pub status: GpuStatus,
    pub memory: Memory,
    pub utilization_percent: Option<u32>,
    pub temperature_c: Option<u32>,
    pub power_watts: Option<f64>,
    /// Compute processes holding memory on this GPU; `null` when the driver could not list them.
    pub processes: Option<Vec<ProcessSample>>,
    /// The host the GPU is on, for a remote source (`index` is then unique across hosts and `host_gpu` is the
    /// GPU's own index on its host). Optional key beyond docs/contract.md §4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The GPU's index on its host, for a remote source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_gpu: Option<u32>,
    /// The PCI bus id, as in `00000000:3B:00.0`. Optional key beyond docs/contract.md §4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pci_bus_id: Option<String>,
    /// Other labels a remote source gave the GPU that say where it works: Kubernetes `namespace`, `pod`,
    /// `container` from DCGM-exporter. Optional key beyond docs/contract.md §4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<std::collections::BTreeMap<String, String>>,
}

/// Device memory in bytes, as NVML's `nvmlDeviceGetMemoryInfo_v2` reports it (nvml.h, `nvmlMemory_v2_t`):
/// `reserved` is what the driver and firmware set aside, `used` is allocated by processes, and
/// `total = used + free + reserved`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    ts_rs::TS,
    schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Memory {
    pub total_bytes: Option<u64>,
    pub used_bytes: Option<u64>,
    pub free_bytes: Option<u64>,
    pub reserved_bytes: Option<u64>,
}

impl Memory {
    /// used / total, when both are known and total is not zero.
    pub fn used_fraction(&self) -> Option<f64> {
        let (used, total) = (self.used_bytes?, self.total_bytes?);
        (total > 0).then(|| used as f64 / total as f64)
    }
}

/// A compute process holding memory on a GPU. Optional keys beyond docs/contract.md §4: `uid`, `allocator`, `model`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessSample {
    pub pid: u32,
    pub name: Option<String>,
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    pub command: Option<String>,
    pub used_bytes: Option<u64>,
    /// PyTorch's caching-allocator counters for this process, when a source knows them (the launcher reports
    /// them from inside the run; NVML cannot see them). Used for the fragmentation recommendation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocator: Option<AllocatorStats>,
    /// The model it works on, from a Headroom run's environment or a model flag on its command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<procs::ModelLink>,
}

/// `torch.cuda.memory_allocated()` and `torch.cuda.memory_reserved()` of a process, in bytes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct AllocatorStats {
    pub allocated_bytes: u64,
    pub reserved_bytes: u64,
}

impl Snapshot {
    pub fn gpu(&self, index: u32) -> Option<&GpuSample> {
        self.gpus.iter().find(|g| g.index == index)
    }
}

impl GpuSample {
    /// A GPU that did not answer: everything unknown, status lost.
    pub fn lost(index: u32, name: Option<String>, uuid: Option<String>) -> Self {
        GpuSample {
            index,
            name,
            uuid,
            status: GpuStatus::Lost,
            memory: Memory::default(),
            utilization_percent: None,
            temperature_c: None,
            power_watts: None,
            processes: None,
            host: None,
            host_gpu: None,
            pci_bus_id: None,
            labels: None,
        }
    }
}
