//! A [`PeakProbe`] over the monitor: while an attempt runs, a thread samples the GPUs with their processes and
//! keeps the highest total GPU memory held by the attempt's process tree.
//!
//! The tree is the attempt's process group: the launcher starts each child as the leader of its own group
//! (`process::run`), and the group id is the child's pid. A process belongs to the tree when field 5 (`pgrp`)
//! of its `/proc/PID/stat` (proc(5)) is that pid. Per-process memory is NVML's `usedGpuMemory`
//! (`nvmlDeviceGetComputeRunningProcesses`), summed over the tree's processes on every GPU at each tick.
//!
//! When no process of the tree is ever seen holding memory (no driver, a container whose PIDs NVML cannot map,
//! a program that never touched the GPU) the peak is `None`, never 0: unmeasured is not zero.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::runner::PeakProbe;
use crate::monitor::source::SampleRequest;
use crate::monitor::{GpuSource, Snapshot, Timestamp};
use crate::Result;

/// Opens a fresh source for each attempt (NVML in the app, a scripted source in tests).
pub type OpenSource = Arc<dyn Fn() -> Result<Box<dyn GpuSource>> + Send + Sync>;

/// What the probe reports while an attempt runs, for a live chart: each tick's bytes of the tree (`None`
/// when none of its processes was listed with a figure), or why nothing can be measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProbeReport {
    Sample {
        pid: u32,
        unix_ms: u64,
        bytes: Option<u64>,
    },
    Unavailable {
        reason: String,
    },
}

/// Receives the probe's reports (the app forwards them to the run's channel).
pub type ReportSink = Arc<dyn Fn(ProbeReport) + Send + Sync>;

pub struct MonitorPeakProbe {
    open: OpenSource,
    sink: Option<ReportSink>,
    proc_root: PathBuf,
    interval: Duration,
    running: Option<(u32, Arc<AtomicBool>, JoinHandle<Option<u64>>)>,
}

impl MonitorPeakProbe {
    /// Sample every `interval` (500 ms in the app: NVML's process list is cheap enough at that rate for
    /// one attempt's tree).
    pub fn new(open: OpenSource, proc_root: impl Into<PathBuf>, interval: Duration) -> Self {
        MonitorPeakProbe {
            open,
            sink: None,
            proc_root: proc_root.into(),
            interval,
            running: None,
        }
    }
}

impl MonitorPeakProbe {
    /// Also report every sample (and a source that cannot open) to `sink`.
    pub fn with_reports(mut self, sink: ReportSink) -> Self {
        self.sink = Some(sink);
        self
    }
}

/// The process group of `pid`: field 5 of `/proc/PID/stat`, after the `(comm)` field, which may itself hold
/// spaces and parentheses (so the fields are counted from the last `)`).
pub fn process_group(proc_root: &Path, pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    // After comm: state (3), ppid (4), pgrp (5).
    after.split_whitespace().nth(2)?.parse().ok()
}

/// Bytes the tree led by `group` holds in one snapshot, `None` when none of its processes is listed with a
/// figure.
pub fn tree_bytes(snapshot: &Snapshot, proc_root: &Path, group: u32) -> Option<u64> {
    let mut total: Option<u64> = None;
    for gpu in &snapshot.gpus {
        for process in gpu.processes.iter().flatten() {
            let Some(bytes) = process.used_bytes else {
                continue;
            };
            let member =
                process.pid == group || process_group(proc_root, process.pid) == Some(group);
            if member {
                total = Some(total.unwrap_or(0).saturating_add(bytes));
            }
        }
    }
    total
}

fn sample_until_stopped(
    mut source: Box<dyn GpuSource>,
    proc_root: PathBuf,
    group: u32,
    interval: Duration,
    stop: Arc<AtomicBool>,
    sink: Option<ReportSink>,
) -> Option<u64> {
    let mut peak: Option<u64> = None;
    loop {
        // One last reading after the stop as well: a short attempt may end between two ticks.
        let stopping = stop.load(Ordering::SeqCst);
        match source.sample(SampleRequest {
            at: Timestamp::now(),
            processes: true,
        }) {
            Ok(Some(snapshot)) => {
                let measured = tree_bytes(&snapshot, &proc_root, group);
                if let Some(bytes) = measured {
                    peak = Some(peak.map_or(bytes, |p| p.max(bytes)));
                }
                if let Some(sink) = &sink {
                    sink(ProbeReport::Sample {
                        pid: group,
                        unix_ms: snapshot.taken_at.millis(),
                        bytes: measured,
                    });
                }
            }
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(error = %e, "peak probe: a sample failed");
            }
        }
        if stopping {
            break;
        }
        // Sleep in small steps so a stop is seen quickly.
        let mut slept = Duration::ZERO;
        while slept < interval && !stop.load(Ordering::SeqCst) {
            let step = Duration::from_millis(20).min(interval - slept);
            std::thread::sleep(step);
            slept += step;
        }
    }
    peak
}

impl PeakProbe for MonitorPeakProbe {
    fn attempt_started(&mut self, pid: u32) {
        let source = match (self.open)() {
            Ok(source) => source,
            Err(e) => {
                tracing::info!(error = %e, "no GPU monitor for this attempt: its peak will not be measured");
                if let Some(sink) = &self.sink {
                    sink(ProbeReport::Unavailable {
                        reason: e.to_string(),
                    });
                }
                return;
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let proc_root = self.proc_root.clone();
        let interval = self.interval;
        let flag = stop.clone();
        let sink = self.sink.clone();
        match std::thread::Builder::new()
            .name("headroom-peak-probe".into())
            .spawn(move || sample_until_stopped(source, proc_root, pid, interval, flag, sink))
        {
            Ok(handle) => self.running = Some((pid, stop, handle)),
            Err(e) => tracing::warn!(error = %e, "could not start the peak probe"),
        }
    }

    fn attempt_finished(&mut self, pid: u32) -> Option<u64> {
        let (group, stop, handle) = self.running.take()?;
        if group != pid {
            return None;
        }
        stop.store(true, Ordering::SeqCst);
        handle.join().ok().flatten()
    }
}
