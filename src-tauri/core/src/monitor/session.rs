//! The shell side of the live monitor: it owns one running sampler (core `monitor::sampler`), forwards its
//! readings to the UI through a Tauri channel at most 4 times a second, and writes a recording when asked.
//!
//! The sampler thread owns the source and the history (nothing locked there); a forwarder thread owns the
//! sampler's handle, receives every reading, writes it to the recording, and coalesces readings into pushes:
//! the latest snapshot wins, but level changes from coalesced readings are kept so no alert is lost.

use std::path::PathBuf;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::message::{Key, Message as Text};
use crate::monitor::advice::PresetAdvisor;
use crate::monitor::alerts::{AlertConfig, LevelChange};
use crate::monitor::chart::{ChartLanguage, ChartOptions};
use crate::monitor::export::{ExportJob, HistoryFormat};
use crate::monitor::fake::{FakeConfig, Scenario};
use crate::monitor::history::{HistoryWindow, ProcessIdle};
use crate::monitor::nvml::SharedNvml;
use crate::monitor::procs::ProcFs;
use crate::monitor::record::{Header, Reader, Recorder};
use crate::monitor::remote::SecretInputs;
use crate::monitor::sampler::{
    self, Message, SamplerClient, SamplerConfig, Tick, INTERVAL_RANGE_MS,
};
use crate::monitor::{open_source_shared, Snapshot, SourceSpec, Timestamp};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// The shortest and longest history range the Monitor charts: 1 minute to 24 hours.
pub const MIN_RANGE_MS: u64 = 60_000;
pub const MAX_RANGE_MS: u64 = 86_400_000;

/// The fewest milliseconds between two pushes to the UI: at most 4 messages a second.
pub const MIN_PUSH_INTERVAL_MS: u64 = 250;

/// Which source to watch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourceRequest {
    /// The NVIDIA driver through NVML.
    Nvml,
    /// The labelled demo: a scripted, seeded fake source with `gpus` boards (2 when absent, at most 16).
    Demo {
        scenario: Scenario,
        #[serde(default)]
        #[ts(optional)]
        gpus: Option<u32>,
    },
    /// A recording made with Record (or `headroom-cli monitor --record`), played back at its own pace.
    Replay {
        #[ts(type = "string")]
        path: PathBuf,
    },
    /// Other hosts over HTTP: `prometheus:URL`, `dcgm:URL[,URL…]` or `headroom:URL[,URL…]` (docs/monitoring.md).
    /// A token or password comes from HEADROOM_SOURCE_TOKEN or HEADROOM_SOURCE_PASSWORD, never from here.
    Remote { source: String },
}

/// The demo's shape: 80 GiB GPUs (two unless asked otherwise), a trainer on each and an idle notebook kernel
/// holding 3 GiB beside it, sampled 4 times a second so a whole scenario (a run to OOM takes about 45 samples)
/// plays in seconds.
pub fn demo_spec(scenario: Scenario, gpus: u32) -> SourceSpec {
    SourceSpec::Fake(FakeConfig {
        scenario,
        gpus,
        processes: gpus.saturating_mul(2),
        seed: 7,
        ..FakeConfig::default()
    })
}

/// Unless asked otherwise, the demo samples at the push rate, a replay at the pace it was recorded at, and the
/// driver once a second.
pub const DEMO_INTERVAL_MS: u64 = 250;
pub const DEMO_GPUS: u32 = 2;

/// What the UI needs once a source is running.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct MonitorStarted {
    /// `nvml`, `fake:SCENARIO` or `replay:FILE`.
    pub source: String,
    /// True for the fake source: the UI labels everything it shows as demo data.
    pub demo: bool,
    pub interval_ms: u64,
    pub alerts: AlertConfig,
    /// The user's own UID: only processes with this UID offer "Stop…".
    pub uid: u32,
}

/// One push to the UI.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MonitorPush {
    /// The latest reading and its assessment. `changes` also holds level changes of readings coalesced into this
    /// push.
    Tick {
        tick: Box<Tick>,
        /// Readings taken since the previous push (1 unless the sampler runs faster than 4 Hz).
        readings: u32,
    },
    /// A reading failed; the sampler tries again at the next interval.
    Error { message: String },
    /// The source has nothing more (end of a replay); history is still served.
    Ended,
}

/// An active recording.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct RecordingInfo {
    #[ts(type = "string")]
    pub path: PathBuf,
    pub started_at: Timestamp,
    /// Snapshots written so far.
    pub snapshots: u64,
}

struct Recording {
    recorder: Recorder,
    info: RecordingInfo,
}

/// The running monitor: the sampler's command line and what the forwarder shares.
pub struct Running {
    pub source: String,
    pub demo: bool,
    /// A replay's readings carry the times they were recorded at, not today's.
    replay: bool,
    pub config: SamplerConfig,
    sampler: SamplerClient,
    latest: Arc<Mutex<Option<Snapshot>>>,
    recording: Arc<Mutex<Option<Recording>>>,
    /// The last finished recording, for CSV export.
    pub last_recording: Option<PathBuf>,
}

impl Running {
    /// Starts the source and the sampler, and a forwarder that calls `push` at most every 250 ms and
    /// `on_reading` for every reading (what desktop notifications are made from).
    pub fn start(
        spec: &SourceSpec,
        config: SamplerConfig,
        procfs: ProcFs,
        nvml: &SharedNvml,
        advisor: Option<Box<dyn PresetAdvisor>>,
        push: impl Fn(MonitorPush) -> bool + Send + 'static,
        on_reading: impl Fn(&Tick) + Send + 'static,
    ) -> Result<Self> {
        let source = open_source_shared(spec, procfs, nvml)?;
        let label = source.label();
        let handle = sampler::spawn_advised(source, config, advisor, Timestamp::now)?;
        let sampler = handle.client.clone();
        let latest = Arc::new(Mutex::new(None::<Snapshot>));
        let recording = Arc::new(Mutex::new(None::<Recording>));
        let (fw_latest, fw_recording) = (latest.clone(), recording.clone());
        std::thread::Builder::new()
            .name("headroom-monitor-push".into())
            .spawn(move || {
                let min_gap = Duration::from_millis(MIN_PUSH_INTERVAL_MS);
                let mut last_push: Option<Instant> = None;
                let mut pending: Option<(Box<Tick>, u32)> = None;
                let mut changes: Vec<LevelChange> = Vec::new();
                loop {
                    let wait = match (&pending, last_push) {
                        (Some(_), Some(at)) => min_gap.saturating_sub(at.elapsed()),
                        (Some(_), None) => Duration::ZERO,
                        (None, _) => Duration::from_secs(3600),
                    };
                    let message = match handle.messages.recv_timeout(wait) {
                        Ok(m) => Some(m),
                        Err(RecvTimeoutError::Timeout) => None,
                        Err(RecvTimeoutError::Disconnected) => return,
                    };
                    match message {
                        Some(Message::Tick(tick)) => {
                            if let Ok(mut slot) = fw_latest.lock() {
                                *slot = Some(tick.snapshot.clone());
                            }
                            write_recording(&fw_recording, &tick.snapshot);
                            on_reading(&tick);
                            changes.extend(tick.assessment.changes.iter().cloned());
                            let readings = pending.as_ref().map_or(0, |(_, n)| *n) + 1;
                            pending = Some((tick, readings));
                        }
                        Some(Message::Error(message)) => {
                            // Errors go out at once: they are rare and say why the numbers stopped.
                            let sent = push(MonitorPush::Error { message });
                            if !sent {
                                return;
                            }
                        }
                        Some(Message::Ended) => {
                            let sent = flush(&push, &mut pending, &mut changes)
                                && push(MonitorPush::Ended);
                            if !sent {
                                return;
                            }
                        }
                        None => {}
                    }
                    let due = last_push.is_none_or(|at| at.elapsed() >= min_gap);
                    if pending.is_some() && due {
                        if !flush(&push, &mut pending, &mut changes) {
                            return;
                        }
                        last_push = Some(Instant::now());
                    }
                }
            })
            .map_err(|e| Error::io("headroom-monitor-push thread", e))?;
        Ok(Running {
            source: label,
            demo: matches!(spec, SourceSpec::Fake(_)),
            replay: matches!(spec, SourceSpec::Replay(_)),
            config,
            sampler,
            latest,
            recording,
            last_recording: None,
        })
    }

    /// A history window of the last `range_ms` up to now (up to the latest reading for a replay, whose clock
    /// is the recording's), at most `points` points per series.
    pub fn window(&self, range_ms: u64, points: usize) -> Result<HistoryWindow> {
        let to = match self.latest() {
            Some(s) if self.replay => s.taken_at,
            Some(s) => s.taken_at.max(Timestamp::now()),
            None => Timestamp::now(),
        };
        let from = Timestamp(to.0.saturating_sub(range_ms));
        self.sampler.window(from, to, points)
    }

    /// Samples memory every `interval_ms` from now on, keeping the history and any recording.
    pub fn set_interval(&mut self, interval_ms: u64) -> Result<()> {
        self.sampler.set_interval(interval_ms)?;
        self.config.interval_ms = interval_ms;
        Ok(())
    }

    pub fn idle(&self) -> Result<Vec<ProcessIdle>> {
        self.sampler.idle()
    }

    pub fn latest(&self) -> Option<Snapshot> {
        self.latest.lock().ok().and_then(|s| s.clone())
    }

    pub fn start_recording(&self, path: PathBuf) -> Result<RecordingInfo> {
        let mut slot = self.recording.lock().map_err(|_| {
            Error::invalid_msg(
                "recording",
                Text::new(Key::InvalidMonitorRecorderFailedEarlierRestart),
            )
        })?;
        if let Some(r) = slot.as_ref() {
            return Err(Error::invalid_msg(
                "recording",
                Text::new(Key::InvalidMonitorAlreadyRecording)
                    .text("path", r.info.path.display().to_string()),
            ));
        }
        let started_at = Timestamp::now();
        let recorder = Recorder::create(
            &path,
            &Header::new(self.source.clone(), started_at, self.config.interval_ms),
        )?;
        let info = RecordingInfo {
            path,
            started_at,
            snapshots: 0,
        };
        *slot = Some(Recording {
            recorder,
            info: info.clone(),
        });
        Ok(info)
    }

    /// What an export writes, taken now: the recording for a CSV, or the last `range_ms` of history for a chart.
    pub fn export_job(
        &self,
        format: HistoryFormat,
        range_ms: u64,
        out: PathBuf,
    ) -> Result<ExportJob> {
        let window = match format {
            HistoryFormat::Csv => None,
            HistoryFormat::Png | HistoryFormat::Svg => {
                if !(MIN_RANGE_MS..=MAX_RANGE_MS).contains(&range_ms) {
                    return Err(Error::invalid_msg(
                        "range",
                        Text::new(Key::InvalidMonitorMsOutside1Min)
                            .text("range_ms", range_ms.to_string()),
                    ));
                }
                Some(self.window(range_ms, 2 * ChartOptions::default().width as usize)?)
            }
        };
        Ok(ExportJob {
            format,
            out,
            recording: self
                .recording()
                .map(|r| r.path)
                .or(self.last_recording.clone()),
            window,
            title: self.source.clone(),
            language: ChartLanguage::default(),
        })
    }

    pub fn recording(&self) -> Option<RecordingInfo> {
        self.recording
            .lock()
            .ok()
            .and_then(|r| r.as_ref().map(|r| r.info.clone()))
    }

    pub fn stop_recording(&mut self) -> Result<RecordingInfo> {
        let taken = self.recording.lock().ok().and_then(|mut r| r.take());
        let Some(rec) = taken else {
            return Err(Error::invalid_msg(
                "recording",
                Text::new(Key::InvalidMonitorNothingBeingRecorded),
            ));
        };
        self.last_recording = Some(rec.info.path.clone());
        Ok(rec.info)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // The sampler thread ends, its channel closes, and the forwarder ends with it.
        self.sampler.stop();
    }
}

fn write_recording(recording: &Mutex<Option<Recording>>, snapshot: &Snapshot) {
    let Ok(mut slot) = recording.lock() else {
        return;
    };
    if let Some(r) = slot.as_mut() {
        match r.recorder.write(snapshot) {
            Ok(()) => r.info.snapshots += 1,
            Err(e) => {
                tracing::error!(error = %e, "recording stopped: a snapshot could not be written");
                *slot = None;
            }
        }
    }
}

fn flush(
    push: &impl Fn(MonitorPush) -> bool,
    pending: &mut Option<(Box<Tick>, u32)>,
    changes: &mut Vec<LevelChange>,
) -> bool {
    let Some((mut tick, readings)) = pending.take() else {
        return true;
    };
    tick.assessment.changes = std::mem::take(changes);
    push(MonitorPush::Tick { tick, readings })
}

/// The memory interval for a request: `asked` when given (checked later with the rest of the config), else the
/// demo at 4 Hz, a replay at its recording's interval (kept within the allowed range), the driver at 1 Hz.
pub fn interval_for(request: &SourceRequest, asked: Option<u64>) -> Result<u64> {
    Ok(match (asked, request) {
        (Some(ms), _) => ms,
        (None, SourceRequest::Demo { .. }) => DEMO_INTERVAL_MS,
        (None, SourceRequest::Replay { path }) => {
            let recorded = Reader::open(path)?.header().interval_ms;
            recorded.clamp(*INTERVAL_RANGE_MS.start(), *INTERVAL_RANGE_MS.end())
        }
        (None, SourceRequest::Nvml | SourceRequest::Remote { .. }) => {
            SamplerConfig::default().interval_ms
        }
    })
}

pub fn spec_for(request: &SourceRequest) -> Result<SourceSpec> {
    Ok(match request {
        SourceRequest::Nvml => SourceSpec::Nvml,
        SourceRequest::Demo { scenario, gpus } => demo_spec(*scenario, gpus.unwrap_or(DEMO_GPUS)),
        SourceRequest::Replay { path } => {
            if path.as_os_str().is_empty() {
                return Err(Error::invalid_msg(
                    "path",
                    Text::new(Key::InvalidMonitorChooseRecordingJsonlReplay),
                ));
            }
            SourceSpec::Replay(path.clone())
        }
        SourceRequest::Remote { source } => {
            match SourceSpec::parse(source.trim(), FakeConfig::default())? {
                SourceSpec::Remote(remote) => SourceSpec::Remote(
                    remote.with_secrets(&SecretInputs::default(), |v| std::env::var(v).ok())?,
                ),
                _ => {
                    return Err(Error::invalid_msg(
                        "source",
                        Text::new(Key::InvalidMonitorNameRemoteSourcePrometheus),
                    ))
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// The demo's run to OOM sampled at 10 Hz.
    fn start_oom_demo(
        push: impl Fn(MonitorPush) -> bool + Send + 'static,
        on_reading: impl Fn(&Tick) + Send + 'static,
    ) -> Running {
        let config = SamplerConfig {
            interval_ms: 100,
            ..SamplerConfig::default()
        };
        Running::start(
            &demo_spec(Scenario::Oom, DEMO_GPUS),
            config,
            ProcFs::default(),
            &SharedNvml::default(),
            None,
            push,
            on_reading,
        )
        .unwrap()
    }

    #[test]
    fn pushes_are_coalesced_to_at_most_four_a_second_without_losing_level_changes() {
        let (tx, rx) = mpsc::channel();
        let running = start_oom_demo(move |p| tx.send(p).is_ok(), |_| {});
        let start = Instant::now();
        let mut pushes = Vec::new();
        while start.elapsed() < Duration::from_millis(6000) {
            if let Ok(p) = rx.recv_timeout(Duration::from_millis(50)) {
                pushes.push((start.elapsed(), p));
            }
        }
        drop(running);
        let ticks: Vec<_> = pushes
            .iter()
            .filter_map(|(at, p)| match p {
                MonitorPush::Tick { tick, readings } => Some((*at, tick, *readings)),
                _ => None,
            })
            .collect();
        // 6 s at 10 Hz: about 60 readings in at most 4 pushes a second (+1 for the first).
        assert!(ticks.len() <= 25, "{} pushes", ticks.len());
        let readings: u32 = ticks.iter().map(|(_, _, n)| n).sum();
        assert!(readings >= 40, "{readings} readings");
        assert!(ticks.iter().any(|(_, _, n)| *n >= 2), "coalesced");
        for pair in ticks.windows(2) {
            let gap = pair[1].0.saturating_sub(pair[0].0);
            assert!(gap >= Duration::from_millis(200), "{gap:?}");
        }
        // The run to OOM crosses warning within 45 readings: the change arrives even though readings merge.
        let changes: Vec<_> = ticks
            .iter()
            .flat_map(|(_, t, _)| t.assessment.changes.iter())
            .collect();
        assert!(
            changes
                .iter()
                .any(|c| c.to >= crate::monitor::alerts::Level::Warning),
            "{changes:?}"
        );
    }

    #[test]
    fn an_empty_replay_path_names_the_field() {
        let err = spec_for(&SourceRequest::Replay {
            path: PathBuf::new(),
        })
        .unwrap_err();
        assert!(err.to_string().starts_with("path:"), "{err}");
    }

    #[test]
    fn every_reading_reaches_the_notifier_and_the_run_to_oom_gives_one_critical_notice_per_gpu() {
        let (tx, rx) = mpsc::channel();
        let running = start_oom_demo(
            |_| true,
            move |tick| {
                let _ = tx.send(crate::monitor::notify::critical_notices(
                    tick,
                    true,
                    crate::i18n::Lang::En,
                ));
            },
        );
        let start = Instant::now();
        let mut readings = 0;
        let mut notices = Vec::new();
        // The scenario crosses critical within about 45 readings; allow 15 s on a loaded machine.
        while start.elapsed() < Duration::from_secs(15) && notices.len() < DEMO_GPUS as usize {
            if let Ok(n) = rx.recv_timeout(Duration::from_millis(100)) {
                readings += 1;
                notices.extend(n);
            }
        }
        drop(running);
        assert!(readings >= 20, "{readings} readings");
        let mut titles: Vec<_> = notices.iter().map(|n| n.title.clone()).collect();
        titles.sort();
        assert_eq!(
            titles,
            [
                "Demo data: GPU 0 memory is almost full",
                "Demo data: GPU 1 memory is almost full"
            ]
        );
    }
}
