//! The static GPU catalog: common training GPUs with the memory total NVML reports for them.
//!
//! `memory_bytes` is the total that `nvidia-smi` prints (NVML `nvmlDeviceGetMemoryInfo().total`, shown in MiB)
//! times 2^20, as seen on real cards in published `nvidia-smi` output (e.g. RTX 4090 "24564MiB", L40S
//! "46068MiB", H200 "143771MiB", B200 "183359MiB"). It is a little less than the marketing size because the
//! driver reserves some memory; the fit verdict must use this figure, not "24 GB". "The GPUs in this machine"
//! come from the monitor (another module) and are not part of this static list.

use serde::Serialize;

const MIB: u64 = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct GpuModel {
    /// The name a plan uses in `gpus.model`.
    pub name: &'static str,
    /// What NVML calls it (`nvmlDeviceGetName`), for matching a detected GPU to this entry.
    pub nvml_name: &'static str,
    pub memory_bytes: u64,
    /// CUDA compute capability major × 10 + minor (86 = sm_86); Hopper (90) and newer get a larger cuBLAS
    /// workspace (docs/estimator.md §10.1).
    pub compute_capability: u32,
}

const CATALOG: &[GpuModel] = &[
    gpu("RTX 3090", "NVIDIA GeForce RTX 3090", 24576, 86),
    gpu("RTX 4090", "NVIDIA GeForce RTX 4090", 24564, 89),
    gpu("RTX 5090", "NVIDIA GeForce RTX 5090", 32607, 120),
    gpu("RTX A6000", "NVIDIA RTX A6000", 49140, 86),
    gpu("RTX 6000 Ada", "NVIDIA RTX 6000 Ada Generation", 49140, 89),
    gpu("L4", "NVIDIA L4", 23034, 89),
    gpu("L40S", "NVIDIA L40S", 46068, 89),
    gpu("A100 40GB", "NVIDIA A100-SXM4-40GB", 40960, 80),
    gpu("A100 80GB", "NVIDIA A100-SXM4-80GB", 81920, 80),
    gpu("H100 80GB", "NVIDIA H100 80GB HBM3", 81559, 90),
    gpu("H200", "NVIDIA H200", 143771, 90),
    gpu("B200", "NVIDIA B200", 183359, 100),
];

const fn gpu(name: &'static str, nvml_name: &'static str, mib: u64, cc: u32) -> GpuModel {
    GpuModel {
        name,
        nvml_name,
        memory_bytes: mib * MIB,
        compute_capability: cc,
    }
}

/// Every GPU in the catalog, smallest memory first within its family as listed.
pub fn catalog() -> &'static [GpuModel] {
    CATALOG
}

/// Find a GPU by its catalog name or NVML name, ignoring case, spaces and dashes (`"a100-80gb"` works).
pub fn find(name: &str) -> Option<&'static GpuModel> {
    let key = normalize(name);
    CATALOG
        .iter()
        .find(|g| normalize(g.name) == key || normalize(g.nvml_name) == key)
}

fn normalize(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// A GPU of this machine as the Plan view offers it, read once from the monitor's source.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct MachineGpu {
    pub index: u32,
    pub name: String,
    pub memory_bytes: u64,
    /// Memory free when the source was read (`null` when the driver does not report it): what a plan started now
    /// could use.
    pub free_bytes: Option<u64>,
    /// The catalog entry with the same NVML name, when there is one.
    pub catalog_name: Option<&'static str>,
    /// The plan's `gpus` value for this GPU (count 1): the catalog name when known, else its exact memory.
    #[ts(type = "Record<string, unknown>")]
    pub plan_gpus: serde_json::Value,
}

/// The GPUs a source reports right now (one sample, no process walk). A GPU whose name or memory total the
/// driver does not give is left out: a plan cannot be sized against an unknown capacity.
pub fn machine_gpus(source: &mut dyn crate::monitor::GpuSource) -> crate::Result<Vec<MachineGpu>> {
    let request = crate::monitor::source::SampleRequest {
        at: crate::monitor::Timestamp::now(),
        processes: false,
    };
    let Some(snapshot) = source.sample(request)? else {
        return Ok(Vec::new());
    };
    Ok(snapshot
        .gpus
        .iter()
        .filter_map(|g| {
            let name = g.name.clone()?;
            let memory_bytes = g.memory.total_bytes.filter(|b| *b > 0)?;
            let catalog_name = find(&name).map(|m| m.name);
            let plan_gpus = match catalog_name {
                Some(m) if find(m).is_some_and(|c| c.memory_bytes == memory_bytes) => {
                    serde_json::json!({"count": 1, "model": m})
                }
                _ => serde_json::json!({"count": 1, "memory_gib": memory_bytes as f64 / (1u64 << 30) as f64}),
            };
            Some(MachineGpu {
                index: g.index,
                name,
                memory_bytes,
                free_bytes: g.memory.free_bytes,
                catalog_name,
                plan_gpus,
            })
        })
        .collect())
}
