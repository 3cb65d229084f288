//! Labelled samples (from an exporter's page or a Prometheus query) → GPUs grouped by host. Both dialects are
//! read the same way: Headroom's own metrics (docs/monitoring.md) and DCGM-exporter's (`DCGM_FI_DEV_FB_USED`,
//! `_FB_FREE`, `_FB_RESERVED` in MiB, `DCGM_FI_DEV_GPU_UTIL` in %, `_GPU_TEMP` in °C, `_POWER_USAGE` in W; labels
//! `gpu`, `UUID`, `pci_bus_id`, `modelName`, `Hostname` or `hostname`, and Kubernetes' `namespace`, `pod`,
//! `container` when the exporter maps pods).

use std::collections::BTreeMap;

use super::super::expo::Sample;
use super::super::{metrics, GpuSample, GpuStatus, Memory, ProcessSample, MIB};

/// DCGM writes a "blank" sentinel instead of a value it could not read: 0x7ffffff0 and up for 32-bit fields,
/// 0x7ffffffffffffff0 and up for 64-bit ones, 2^47 for doubles (dcgm_structs.h, `DCGM_INT32_BLANK`,
/// `DCGM_INT64_BLANK`, `DCGM_FP64_BLANK`). Anything this large in MiB, %, °C or W is one of them.
const DCGM_BLANK: f64 = 2_147_483_632.0;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Used,
    Total,
    Free,
    Reserved,
    Utilization,
    Temperature,
    Power,
    Up,
    Process,
}

/// What a metric name means, and the factor to its unit (bytes, %, °C, W); `dcgm` for blank checks.
fn field(name: &str) -> Option<(Field, f64, bool)> {
    Some(match name {
        metrics::MEMORY_USED => (Field::Used, 1.0, false),
        metrics::MEMORY_TOTAL => (Field::Total, 1.0, false),
        metrics::MEMORY_FREE => (Field::Free, 1.0, false),
        metrics::MEMORY_RESERVED => (Field::Reserved, 1.0, false),
        metrics::UTILIZATION => (Field::Utilization, 100.0, false),
        metrics::TEMPERATURE => (Field::Temperature, 1.0, false),
        metrics::POWER => (Field::Power, 1.0, false),
        metrics::UP => (Field::Up, 1.0, false),
        metrics::PROCESS_MEMORY => (Field::Process, 1.0, false),
        "DCGM_FI_DEV_FB_USED" => (Field::Used, MIB as f64, true),
        "DCGM_FI_DEV_FB_TOTAL" => (Field::Total, MIB as f64, true),
        "DCGM_FI_DEV_FB_FREE" => (Field::Free, MIB as f64, true),
        "DCGM_FI_DEV_FB_RESERVED" => (Field::Reserved, MIB as f64, true),
        "DCGM_FI_DEV_GPU_UTIL" => (Field::Utilization, 1.0, true),
        "DCGM_FI_DEV_GPU_TEMP" => (Field::Temperature, 1.0, true),
        "DCGM_FI_DEV_POWER_USAGE" => (Field::Power, 1.0, true),
        _ => return None,
    })
}

/// The metric names a reader asks Prometheus for, as one regular expression.
pub const METRIC_REGEX: &str = "headroom_gpu_(memory_(used|total|free|reserved)_bytes|utilization_ratio|temperature_celsius|power_watts|up)|headroom_process_memory_used_bytes|DCGM_FI_DEV_(FB_(USED|TOTAL|FREE|RESERVED)|GPU_UTIL|GPU_TEMP|POWER_USAGE)";

/// Kubernetes labels DCGM-exporter adds when it maps GPUs to pods: kept so a GPU can be found by its pod.
const KEPT_LABELS: [&str; 3] = ["namespace", "pod", "container"];

/// One host's GPUs, by their index on the host.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct HostReading {
    pub gpus: BTreeMap<u32, GpuSample>,
    /// Prometheus `instance`s this host was read through (to tell which host a down target is).
    pub instances: Vec<String>,
    pub unavailable: Vec<String>,
}

/// Groups `samples` by host (`hostname`/`Hostname` label, else `instance`, else `fallback_host`) and GPU
/// (`gpu` label). Samples of other metrics are ignored; a GPU sample without a GPU index is noted once.
pub fn assemble(samples: &[Sample], fallback_host: &str) -> BTreeMap<String, HostReading> {
    let mut hosts: BTreeMap<String, HostReading> = BTreeMap::new();
    let mut mig_noted = false;
    for s in samples {
        let Some((field, scale, dcgm)) = field(&s.name) else {
            // A DCGM page may carry none of the counters read here (an exporter run with a reduced counter set):
            // its GPUs are still there, with their memory unknown rather than missing from the host.
            if s.name.starts_with("DCGM_FI_") && s.label("GPU_I_ID").is_none_or(str::is_empty) {
                if let Some(index) = s.label("gpu").and_then(|g| g.parse::<u32>().ok()) {
                    let host = ["hostname", "Hostname", "instance"]
                        .iter()
                        .find_map(|l| s.label(l).filter(|v| !v.is_empty()))
                        .unwrap_or(fallback_host);
                    hosts
                        .entry(host.to_string())
                        .or_default()
                        .gpus
                        .entry(index)
                        .or_insert_with(|| new_gpu(s, host, index));
                }
            }
            continue;
        };
        let host = ["hostname", "Hostname", "instance"]
            .iter()
            .find_map(|l| s.label(l).filter(|v| !v.is_empty()))
            .unwrap_or(fallback_host);
        let reading = hosts.entry(host.to_string()).or_default();
        if let Some(instance) = s.label("instance") {
            if !reading.instances.iter().any(|i| i == instance) {
                reading.instances.push(instance.to_string());
            }
        }
        // A MIG instance's memory is a slice of its GPU's: adding it to the GPU would count it twice.
        if s.label("GPU_I_ID").is_some_and(|v| !v.is_empty()) {
            if !mig_noted {
                reading.unavailable.push(format!(
                    "host {host}: MIG instances are not read, only whole GPUs"
                ));
                mig_noted = true;
            }
            continue;
        }
        let Some(index) = s.label("gpu").and_then(|g| g.parse::<u32>().ok()) else {
            reading.unavailable.push(format!(
                "host {host}: a {} sample has no GPU index (`gpu` label)",
                s.name
            ));
            continue;
        };
        let gpu = reading
            .gpus
            .entry(index)
            .or_insert_with(|| new_gpu(s, host, index));
        let value = s.value * scale;
        let valid = value.is_finite() && value >= 0.0 && !(dcgm && s.value >= DCGM_BLANK);
        if !valid {
            reading.unavailable.push(format!(
                "host {host} gpu {index}: {} has no value ({})",
                s.name, s.value
            ));
            continue;
        }
        apply(gpu, field, value, s);
    }
    for (host, reading) in hosts.iter_mut() {
        for (index, gpu) in reading.gpus.iter_mut() {
            if gpu.memory.used_bytes.is_none()
                && !reading
                    .unavailable
                    .iter()
                    .any(|n| n.starts_with(&format!("host {host} gpu {index}:")))
            {
                reading.unavailable.push(format!(
                    "host {host} gpu {index}: no memory counter on the page (DCGM_FI_DEV_FB_USED, \
                     headroom_gpu_memory_used_bytes)"
                ));
            }
            let m = &mut gpu.memory;
            // DCGM-exporter's default counters have no total: NVML's total is used + free + reserved.
            if m.total_bytes.is_none() {
                if let (Some(u), Some(f), Some(r)) = (m.used_bytes, m.free_bytes, m.reserved_bytes)
                {
                    m.total_bytes = Some(u + f + r);
                }
            }
            if let Some(list) = gpu.processes.as_mut() {
                list.sort_by_key(|p| p.pid);
            }
        }
    }
    hosts
}

fn new_gpu(s: &Sample, host: &str, index: u32) -> GpuSample {
    let text = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| s.label(n).filter(|v| !v.is_empty()))
            .map(str::to_string)
    };
    let labels: BTreeMap<String, String> = KEPT_LABELS
        .iter()
        .filter_map(|k| {
            s.label(k)
                .filter(|v| !v.is_empty())
                .map(|v| ((*k).to_string(), v.to_string()))
        })
        .collect();
    GpuSample {
        // The caller gives each GPU its index across hosts.
        index,
        name: text(&["model_name", "modelName"]),
        uuid: text(&["uuid", "UUID"]),
        status: GpuStatus::Ok,
        memory: Memory::default(),
        utilization_percent: None,
        temperature_c: None,
        power_watts: None,
        processes: None,
        host: Some(host.to_string()),
        host_gpu: Some(index),
        pci_bus_id: text(&["pci_bus_id"]),
        labels: (!labels.is_empty()).then_some(labels),
    }
}

fn apply(gpu: &mut GpuSample, field: Field, value: f64, s: &Sample) {
    let bytes = value.round() as u64;
    match field {
        Field::Used => gpu.memory.used_bytes = Some(bytes),
        Field::Total => gpu.memory.total_bytes = Some(bytes),
        Field::Free => gpu.memory.free_bytes = Some(bytes),
        Field::Reserved => gpu.memory.reserved_bytes = Some(bytes),
        Field::Utilization => gpu.utilization_percent = Some(value.round().min(100.0) as u32),
        Field::Temperature => gpu.temperature_c = Some(value.round() as u32),
        Field::Power => gpu.power_watts = Some(value),
        Field::Up => {
            if value == 0.0 {
                gpu.status = GpuStatus::Lost;
            }
        }
        Field::Process => {
            let Some(pid) = s.label("pid").and_then(|p| p.parse().ok()) else {
                return;
            };
            let text = |n: &str| s.label(n).filter(|v| !v.is_empty()).map(str::to_string);
            gpu.processes
                .get_or_insert_with(Vec::new)
                .push(ProcessSample {
                    pid,
                    name: text("process_name"),
                    user: text("user"),
                    uid: None,
                    command: None,
                    used_bytes: Some(bytes),
                    allocator: None,
                    model: None,
                });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::expo::parse;

    #[test]
    fn dcgm_blanks_mig_instances_and_unindexed_samples_are_noted_not_read() {
        let page = "DCGM_FI_DEV_FB_USED{gpu=\"0\",Hostname=\"old\"} 100\n\
            DCGM_FI_DEV_FB_FREE{gpu=\"0\",Hostname=\"old\"} 9223372036854775794\n\
            DCGM_FI_DEV_POWER_USAGE{gpu=\"0\",Hostname=\"old\"} 140737488355328\n\
            DCGM_FI_DEV_FB_USED{gpu=\"1\",GPU_I_ID=\"3\",Hostname=\"old\"} 7\n\
            DCGM_FI_DEV_FB_USED{Hostname=\"old\"} 7\n\
            DCGM_FI_DEV_SM_CLOCK{gpu=\"0\",Hostname=\"old\"} 1980\n";
        let hosts = assemble(&parse(page).unwrap(), "fallback");
        let old = &hosts["old"];
        let g = &old.gpus[&0];
        assert_eq!(g.memory.used_bytes, Some(100 * MIB));
        assert_eq!(
            (g.memory.free_bytes, g.memory.total_bytes, g.power_watts),
            (None, None, None)
        );
        assert_eq!(old.gpus.len(), 1, "the MIG instance is not a GPU");
        let notes = old.unavailable.join("\n");
        assert!(
            notes.contains("DCGM_FI_DEV_FB_FREE has no value"),
            "{notes}"
        );
        assert!(
            notes.contains("DCGM_FI_DEV_POWER_USAGE has no value"),
            "{notes}"
        );
        assert!(notes.contains("MIG instances are not read"), "{notes}");
        assert!(notes.contains("no GPU index"), "{notes}");
    }

    #[test]
    fn hosts_are_named_by_hostname_then_instance_then_the_fallback() {
        let page = "headroom_gpu_up{gpu=\"0\",hostname=\"a\",instance=\"10.0.0.1:9464\"} 1\n\
            headroom_gpu_up{gpu=\"0\",hostname=\"\",instance=\"10.0.0.2:9464\"} 0\n\
            headroom_gpu_utilization_ratio{gpu=\"0\"} 0.42\n";
        let hosts = assemble(&parse(page).unwrap(), "fallback");
        assert_eq!(
            hosts.keys().collect::<Vec<_>>(),
            ["10.0.0.2:9464", "a", "fallback"]
        );
        assert_eq!(hosts["a"].instances, ["10.0.0.1:9464"]);
        assert_eq!(hosts["10.0.0.2:9464"].gpus[&0].status, GpuStatus::Lost);
        assert_eq!(hosts["fallback"].gpus[&0].utilization_percent, Some(42));
        assert_eq!(hosts["a"].gpus[&0].host.as_deref(), Some("a"));
    }
}
