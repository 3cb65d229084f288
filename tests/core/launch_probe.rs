//! The launcher's peak probe over the monitor: which processes are the attempt's tree, and the peak it keeps.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use headroom_core::launch::probe::{
    process_group, tree_bytes, MonitorPeakProbe, OpenSource, ProbeReport, ReportSink,
};
use headroom_core::launch::runner::PeakProbe;
use headroom_core::monitor::source::SampleRequest;
use headroom_core::monitor::{
    GpuSample, GpuSource, GpuStatus, Memory, ProcessSample, Snapshot, Timestamp,
};
use headroom_core::{Error, Result};

const GIB: u64 = 1 << 30;

fn stat(root: &Path, pid: u32, comm: &str, pgrp: u32) {
    let dir = root.join(pid.to_string());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("stat"),
        format!("{pid} ({comm}) S 1 {pgrp} {pgrp} 0 -1 4194560 0 0 0 0\n"),
    )
    .unwrap();
}

fn process(pid: u32, bytes: Option<u64>) -> ProcessSample {
    ProcessSample {
        pid,
        name: None,
        user: None,
        uid: None,
        command: None,
        used_bytes: bytes,
        allocator: None,
        model: None,
    }
}

fn snapshot(gpus: Vec<Vec<ProcessSample>>) -> Snapshot {
    Snapshot {
        source: "test".into(),
        taken_at: Timestamp::now(),
        gpus: gpus
            .into_iter()
            .enumerate()
            .map(|(i, processes)| GpuSample {
                index: i as u32,
                name: None,
                uuid: None,
                status: GpuStatus::default(),
                memory: Memory {
                    total_bytes: None,
                    used_bytes: None,
                    free_bytes: None,
                    reserved_bytes: None,
                },
                utilization_percent: None,
                temperature_c: None,
                power_watts: None,
                processes: Some(processes),
                host: None,
                host_gpu: None,
                pci_bus_id: None,
                labels: None,
            })
            .collect(),
        unavailable: Vec::new(),
        hosts: None,
    }
}

#[test]
fn the_process_group_is_read_after_a_command_name_with_spaces_and_parentheses() {
    let dir = tempfile::tempdir().unwrap();
    stat(dir.path(), 501, "py (worker) 1", 500);
    assert_eq!(process_group(dir.path(), 501), Some(500));
    assert_eq!(process_group(dir.path(), 999), None);
}

#[test]
fn the_tree_is_the_leader_and_its_group_on_every_gpu() {
    let dir = tempfile::tempdir().unwrap();
    stat(dir.path(), 501, "python3", 500);
    stat(dir.path(), 900, "other", 900);
    let s = snapshot(vec![
        vec![process(500, Some(GIB)), process(900, Some(10 * GIB))],
        vec![process(501, Some(2 * GIB)), process(502, Some(GIB))], // 502 has no /proc entry: not ours
    ]);
    assert_eq!(tree_bytes(&s, dir.path(), 500), Some(3 * GIB));
    assert_eq!(tree_bytes(&s, dir.path(), 777), None, "not seen is not 0");
    let unknown = snapshot(vec![vec![process(500, None)]]);
    assert_eq!(tree_bytes(&unknown, dir.path(), 500), None);
}

/// Plays the given snapshots, then repeats the last one.
struct Scripted(Arc<Mutex<Vec<Snapshot>>>);

impl GpuSource for Scripted {
    fn label(&self) -> String {
        "test".into()
    }
    fn sample(&mut self, _: SampleRequest) -> Result<Option<Snapshot>> {
        let mut left = self.0.lock().unwrap();
        Ok(Some(if left.len() > 1 {
            left.remove(0)
        } else {
            left[0].clone()
        }))
    }
}

#[test]
fn the_probe_keeps_the_highest_total_of_the_attempt() {
    let dir = tempfile::tempdir().unwrap();
    stat(dir.path(), 501, "python3", 500);
    let script = Arc::new(Mutex::new(vec![
        snapshot(vec![vec![process(500, Some(GIB))]]),
        snapshot(vec![vec![
            process(500, Some(5 * GIB)),
            process(501, Some(GIB)),
        ]]),
        snapshot(vec![vec![process(500, Some(2 * GIB))]]),
    ]));
    let open: OpenSource =
        Arc::new(move || Ok(Box::new(Scripted(script.clone())) as Box<dyn GpuSource>));
    let mut probe = MonitorPeakProbe::new(open, dir.path(), Duration::from_millis(10));
    probe.attempt_started(500);
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(probe.attempt_finished(500), Some(6 * GIB));
    // Nothing started, nothing measured.
    assert_eq!(probe.attempt_finished(500), None);
}

#[test]
fn without_a_driver_the_peak_is_unknown() {
    let open: OpenSource = Arc::new(|| {
        Err(Error::NoDriver {
            reason: "libnvidia-ml.so.1 not found".into(),
        })
    });
    let mut probe = MonitorPeakProbe::new(open, "/proc", Duration::from_millis(10));
    probe.attempt_started(1234);
    assert_eq!(probe.attempt_finished(1234), None);
}

fn collecting() -> (ReportSink, Arc<Mutex<Vec<ProbeReport>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let into = got.clone();
    let sink: ReportSink = Arc::new(move |r| into.lock().unwrap().push(r));
    (sink, got)
}

#[test]
fn the_probe_reports_each_sample_of_the_tree_for_the_live_chart() {
    let dir = tempfile::tempdir().unwrap();
    stat(dir.path(), 501, "python3", 500);
    let script = Arc::new(Mutex::new(vec![
        snapshot(vec![vec![process(900, Some(GIB))]]), // not ours: unmeasured, not 0
        snapshot(vec![vec![
            process(500, Some(3 * GIB)),
            process(501, Some(GIB)),
        ]]),
    ]));
    let open: OpenSource =
        Arc::new(move || Ok(Box::new(Scripted(script.clone())) as Box<dyn GpuSource>));
    let (sink, got) = collecting();
    let mut probe =
        MonitorPeakProbe::new(open, dir.path(), Duration::from_millis(10)).with_reports(sink);
    probe.attempt_started(500);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(probe.attempt_finished(500), Some(4 * GIB));
    let got = got.lock().unwrap();
    assert!(got.len() >= 3, "{got:?}");
    assert!(matches!(
        got[0],
        ProbeReport::Sample {
            pid: 500,
            bytes: None,
            ..
        }
    ));
    assert!(matches!(got[1], ProbeReport::Sample { pid: 500, bytes: Some(b), .. } if b == 4 * GIB));
}

#[test]
fn without_a_driver_the_probe_reports_why() {
    let open: OpenSource = Arc::new(|| {
        Err(Error::NoDriver {
            reason: "libnvidia-ml.so.1 not found".into(),
        })
    });
    let (sink, got) = collecting();
    let mut probe =
        MonitorPeakProbe::new(open, "/proc", Duration::from_millis(10)).with_reports(sink);
    probe.attempt_started(1234);
    assert_eq!(probe.attempt_finished(1234), None);
    let got = got.lock().unwrap();
    assert_eq!(got.len(), 1);
    assert!(
        matches!(&got[0], ProbeReport::Unavailable { reason } if reason.contains("libnvidia-ml"))
    );
}
