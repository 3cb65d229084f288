//! The NVML source: the NVIDIA driver's own counters through nvml-wrapper 0.13, which loads
//! `libnvidia-ml.so.1` at run time. A process has one `Nvml` handle ([`SharedNvml`]), shared by every source it
//! opens (the Monitor, each run's peak probe, the Plan view's GPU list): nvmlInit is costly and reference-counted.
//! Device handles are looked up by index at each sample so a lost GPU can come back.
//!
//! What each field is:
//! - memory: `nvmlDeviceGetMemoryInfo_v2` (nvml-wrapper `Device::memory_info`), which adds `reserved` (driver and
//!   firmware) beside total/used/free;
//! - utilization: `nvmlDeviceGetUtilizationRates().gpu`, percent of time a kernel ran over the last period;
//! - temperature: `nvmlDeviceGetTemperature(NVML_TEMPERATURE_GPU)` in °C;
//! - power: `nvmlDeviceGetPowerUsage`, milliwatts, divided by 1000;
//! - processes: `nvmlDeviceGetComputeRunningProcesses` (pid, used GPU memory), joined with /proc.
//!
//! What the driver cannot give is `None` with a reason, never 0: `NVML_VALUE_NOT_AVAILABLE` for per-process memory
//! (Windows WDDM, so also WSL: nvml-wrapper's `UsedGpuMemory::Unavailable`), host PIDs invisible from a container's
//! PID namespace, MIG instances (utilization and process memory are per instance), `NotSupported` on some boards.

use std::ffi::OsStr;
use std::sync::{Arc, Mutex};

use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::{Device, Nvml};

use super::procs::ProcFs;
use super::source::{GpuSource, SampleRequest};
use super::{GpuSample, GpuStatus, Memory, ProcessSample, Snapshot};
use crate::{Error, Result};

/// The soname the driver installs (the unversioned `libnvidia-ml.so` only comes with development packages).
pub const NVML_LIBRARY: &str = "libnvidia-ml.so.1";

/// After this many samples in a row with a GPU lost, NVML is shut down and initialised again, which makes the
/// driver enumerate the devices afresh (a GPU reset by `nvidia-smi -r` or a driver recovery gets a new handle).
const REINIT_AFTER_LOST_SAMPLES: u32 = 10;

/// The process's one NVML handle: loaded on first use and kept for the app's life, renewed only when a source
/// has seen GPUs lost for a while (re-enumerating needs a fresh nvmlInit). A load that fails is not kept, so
/// the next attempt ("Use the NVIDIA driver") tries again, after a driver was installed say.
#[derive(Clone, Default)]
pub struct SharedNvml(Arc<Mutex<Option<Arc<Nvml>>>>);

impl SharedNvml {
    /// The handle, loading NVML the first time.
    pub fn get(&self) -> Result<Arc<Nvml>> {
        let mut slot = self.0.lock().map_err(|_| Error::Driver {
            message: "the NVML handle is unusable after a panic elsewhere; restart Headroom".into(),
        })?;
        if let Some(nvml) = slot.as_ref() {
            return Ok(nvml.clone());
        }
        let nvml = Arc::new(init()?);
        *slot = Some(nvml.clone());
        Ok(nvml)
    }

    /// A fresh handle for every later user; `None` (and the old one kept) when NVML does not load again.
    fn renew(&self) -> Option<Arc<Nvml>> {
        let fresh = Arc::new(init().ok()?);
        let mut slot = self.0.lock().ok()?;
        *slot = Some(fresh.clone());
        Some(fresh)
    }

    /// Whether NVML has been loaded (and kept) in this process.
    pub fn is_loaded(&self) -> bool {
        self.0.lock().is_ok_and(|slot| slot.is_some())
    }
}

pub struct NvmlSource {
    nvml: Arc<Nvml>,
    shared: SharedNvml,
    procfs: ProcFs,
    /// Names and UUIDs seen so far, by index, so a lost GPU keeps its name in the snapshot.
    known: Vec<(Option<String>, Option<String>)>,
    lost_streak: u32,
}

/// Turns an NVML initialisation failure into the plain words the user sees.
pub fn init_error(err: &NvmlError) -> Error {
    let reason = match err {
        NvmlError::LibloadingError(_) | NvmlError::LibraryNotFound => {
            format!("{NVML_LIBRARY} not found")
        }
        NvmlError::DriverNotLoaded => "the NVIDIA kernel driver is not loaded".into(),
        NvmlError::NoPermission => "no permission to talk to the NVIDIA driver".into(),
        NvmlError::FunctionNotFound => {
            format!("{NVML_LIBRARY} is too old for this build (nvmlInit_v2 missing)")
        }
        other => format!("NVML could not start: {other}"),
    };
    Error::NoDriver { reason }
}

fn init() -> Result<Nvml> {
    Nvml::builder()
        .lib_path(OsStr::new(NVML_LIBRARY))
        .init()
        .map_err(|e| init_error(&e))
}

impl NvmlSource {
    /// Loads NVML. On a machine with no NVIDIA driver this is [`Error::NoDriver`] saying
    /// "no NVIDIA driver: libnvidia-ml.so.1 not found".
    pub fn open(procfs: ProcFs) -> Result<Self> {
        Self::open_shared(&SharedNvml::default(), procfs)
    }

    /// The same, on the process's shared handle.
    pub fn open_shared(shared: &SharedNvml, procfs: ProcFs) -> Result<Self> {
        let source = NvmlSource {
            nvml: shared.get()?,
            shared: shared.clone(),
            procfs,
            known: Vec::new(),
            lost_streak: 0,
        };
        let count = source.device_count()?;
        if count == 0 {
            return Err(Error::NoDriver {
                reason: "the NVIDIA driver is loaded but sees no GPU".into(),
            });
        }
        Ok(source)
    }

    fn device_count(&self) -> Result<u32> {
        self.nvml.device_count().map_err(|e| Error::Driver {
            message: format!("could not count GPUs: {e}"),
        })
    }

    fn read_gpu(
        &mut self,
        index: u32,
        request: SampleRequest,
        unavailable: &mut Vec<String>,
    ) -> GpuSample {
        let (known_name, known_uuid) = self
            .known
            .get(index as usize)
            .cloned()
            .unwrap_or((None, None));
        let device = match self.nvml.device_by_index(index) {
            Ok(d) => d,
            Err(e) => {
                unavailable.push(format!(
                    "gpu {index}: lost ({}); retrying at every sample",
                    words(&e)
                ));
                return GpuSample::lost(index, known_name, known_uuid);
            }
        };
        let memory = match device.memory_info() {
            Ok(m) => Memory {
                total_bytes: Some(m.total),
                used_bytes: Some(m.used),
                free_bytes: Some(m.free),
                reserved_bytes: Some(m.reserved),
            },
            Err(NvmlError::GpuLost) => {
                unavailable.push(format!(
                    "gpu {index}: lost (fallen off the bus); retrying at every sample"
                ));
                return GpuSample::lost(index, known_name, known_uuid);
            }
            Err(e) => {
                unavailable.push(format!("gpu {index} memory: {}", words(&e)));
                Memory::default()
            }
        };
        let name = field(index, "name", device.name(), unavailable);
        let uuid = field(index, "uuid", device.uuid(), unavailable);
        if self.known.len() <= index as usize {
            self.known.resize(index as usize + 1, (None, None));
        }
        if let Some(slot) = self.known.get_mut(index as usize) {
            *slot = (name.clone(), uuid.clone());
        }
        let mig = matches!(device.mig_mode(), Ok(mode) if mode.current == 1);
        if mig {
            unavailable.push(format!(
                "gpu {index}: MIG is on; utilization and per-process memory belong to MIG instances, which are not read"
            ));
        }
        let utilization_percent = field(
            index,
            "utilization_percent",
            device.utilization_rates(),
            unavailable,
        )
        .map(|u| u.gpu);
        let temperature_c = field(
            index,
            "temperature_c",
            device.temperature(TemperatureSensor::Gpu),
            unavailable,
        );
        let power_watts = field(index, "power_watts", device.power_usage(), unavailable)
            .map(|mw| f64::from(mw) / 1000.0);
        let pci_bus_id =
            field(index, "pci_bus_id", device.pci_info(), unavailable).map(|p| p.bus_id);
        let processes = if request.processes {
            self.read_processes(index, &device, unavailable)
        } else {
            None
        };
        GpuSample {
            index,
            name,
            uuid,
            status: GpuStatus::Ok,
            memory,
            utilization_percent,
            temperature_c,
            power_watts,
            processes,
            host: None,
            host_gpu: None,
            pci_bus_id,
            labels: None,
        }
    }

    fn read_processes(
        &self,
        index: u32,
        device: &Device<'_>,
        unavailable: &mut Vec<String>,
    ) -> Option<Vec<ProcessSample>> {
        let list = field(
            index,
            "processes",
            device.running_compute_processes(),
            unavailable,
        )?;
        let mut out = Vec::with_capacity(list.len());
        for p in list {
            let used_bytes = match p.used_gpu_memory {
                UsedGpuMemory::Used(bytes) => Some(bytes),
                UsedGpuMemory::Unavailable => {
                    unavailable.push(format!(
                        "gpu {index} pid {} used_bytes: the driver does not report per-process memory here (Windows WDDM or WSL, or a MIG instance)",
                        p.pid
                    ));
                    None
                }
            };
            let info = self.procfs.info(p.pid);
            if info.is_none() {
                unavailable.push(format!(
                    "gpu {index} pid {}: not in this PID namespace (NVML reports host PIDs, which a container cannot see) or already exited; name, user and command unknown",
                    p.pid
                ));
            }
            let info = info.unwrap_or(super::procs::ProcInfo {
                name: None,
                uid: None,
                user: None,
                command: None,
                state: None,
                model: None,
            });
            out.push(ProcessSample {
                pid: p.pid,
                name: info.name,
                user: info.user,
                uid: info.uid,
                command: info.command,
                used_bytes,
                allocator: None,
                model: info.model,
            });
        }
        Some(out)
    }
}

/// `Ok` as `Some`, anything else as `None` plus a line in `unavailable`.
fn field<T>(
    index: u32,
    what: &str,
    value: std::result::Result<T, NvmlError>,
    unavailable: &mut Vec<String>,
) -> Option<T> {
    match value {
        Ok(v) => Some(v),
        Err(e) => {
            unavailable.push(format!("gpu {index} {what}: {}", words(&e)));
            None
        }
    }
}

fn words(err: &NvmlError) -> String {
    match err {
        NvmlError::NotSupported => "not supported by this GPU or driver (NVML NotSupported)".into(),
        NvmlError::NoPermission => "no permission (NVML NoPermission)".into(),
        NvmlError::GpuLost => "the GPU has fallen off the bus (NVML GpuLost)".into(),
        NvmlError::FunctionNotFound => {
            "the installed driver is too old for this query (NVML FunctionNotFound)".into()
        }
        other => format!("NVML error: {other}"),
    }
}

impl GpuSource for NvmlSource {
    fn label(&self) -> String {
        "nvml".into()
    }

    fn sample(&mut self, request: SampleRequest) -> Result<Option<Snapshot>> {
        if self.lost_streak >= REINIT_AFTER_LOST_SAMPLES {
            // Re-enumerate; if that fails, keep the old handle and try again later.
            if let Some(fresh) = self.shared.renew() {
                self.nvml = fresh;
            }
            self.lost_streak = 0;
        }
        // A GPU that vanished from the count is still reported, as lost, so the UI does not silently drop it.
        let count = self.device_count()?.max(self.known.len() as u32);
        let mut unavailable = Vec::new();
        let mut gpus = Vec::with_capacity(count as usize);
        for index in 0..count {
            gpus.push(self.read_gpu(index, request, &mut unavailable));
        }
        if gpus.iter().any(|g| g.status == GpuStatus::Lost) {
            self.lost_streak += 1;
        } else {
            self.lost_streak = 0;
        }
        Ok(Some(Snapshot {
            hosts: None,
            source: self.label(),
            taken_at: request.at,
            gpus,
            unavailable,
        }))
    }
}
