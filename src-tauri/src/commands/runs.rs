//! Runs: start the launcher in a background thread, push its events to the UI over a channel in batches,
//! let a reloaded window pick a run up again, cancel it, and read the run history. The launcher's rules live
//! in `headroom_core::launch`.

use std::collections::{BTreeMap, VecDeque};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use headroom_core::env::profile;
use headroom_core::estimate::available_presets;
use headroom_core::launch::handover::{driver_gpus, LibraryPresets};
use headroom_core::launch::history::{self, RunList, RunRecord};
use headroom_core::launch::predict::{predict_chain, ChainPrediction};
use headroom_core::launch::probe::{MonitorPeakProbe, OpenSource, ProbeReport};
use headroom_core::launch::process::{CancelToken, Stream};
use headroom_core::launch::runner::{self, LaunchEvent, RunRequest};
use headroom_core::launch::tree::PROC_ROOT;
use headroom_core::model;
use headroom_core::monitor::nvml::SharedNvml;
use headroom_core::monitor::procs::ProcFs;
use headroom_core::monitor::{open_source_shared, SourceSpec};
use headroom_core::paths::AppPaths;
use headroom_core::presets::library::PresetLibrary;
use headroom_core::Error;
use serde::{Deserialize, Serialize};
use tauri::ipc::Channel;
use tauri::State;

use super::env::app_env;
use crate::error::{IpcError, IpcResult};
use crate::AppState;

/// The runs going on now, by id. Shared with each launcher thread, which removes its own entry when its run
/// ends.
pub type ActiveRuns = Arc<Mutex<BTreeMap<String, ActiveRun>>>;

/// A run going on now: what Cancel needs, and what a window that reloaded needs to show it again.
#[derive(Clone)]
pub struct ActiveRun {
    cancel: CancelToken,
    live: Arc<Mutex<LiveRun>>,
    /// When it started, to tell the newest run when more than one is going on.
    started: Instant,
}

/// At most this many messages a second reach the UI, however fast the program writes.
const BATCH_EVERY: Duration = Duration::from_millis(250);
/// A batch keeps at most this many output lines (the newest); the rest are counted, and are in the log file.
const MAX_LINES_PER_BATCH: usize = 2000;
/// Time between SIGTERM and SIGKILL on Cancel.
const KILL_GRACE: Duration = Duration::from_secs(10);
/// How much of an attempt's log the history view shows.
const LOG_TAIL_BYTES: u64 = 64 * 1024;
/// The newest output lines a window gets back when it picks a run up again (the whole output is in each
/// attempt's log file).
const SNAPSHOT_LINES: usize = 2000;
/// The newest memory readings a window gets back: an hour at the probe's 0.5 s, what the live chart keeps.
const SNAPSHOT_SAMPLES: usize = 7200;

/// What the start form sends.
#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct StartRun {
    pub model: String,
    pub argv: Vec<String>,
    pub cwd: String,
    pub profile: String,
    pub chain: Vec<String>,
    /// With `sequence_length`: the plan the estimator predicts each preset's device peak for (task and method
    /// from the model's saved config). Both empty: no prediction.
    #[serde(default)]
    #[ts(optional)]
    pub batch_size: Option<u64>,
    #[serde(default)]
    #[ts(optional)]
    pub sequence_length: Option<u64>,
}

/// One push to the UI: the events since the last push, and the end of the run when it has ended.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct RunUpdate {
    pub run_id: String,
    pub events: Vec<LaunchEvent>,
    /// Output lines left out of this batch to keep it small (they are in the attempt's log file).
    pub dropped_lines: u32,
    /// The final record, once the run has ended.
    pub finished: Option<RunRecord>,
    /// Why the run stopped early (a file could not be written), once it has.
    pub error: Option<IpcError>,
    /// The GPU memory of the attempt's process tree since the last push (NVML every 0.5 s), or why it
    /// cannot be measured.
    pub memory: Vec<ProbeReport>,
}

/// What the start form offers for a model (or before one is typed).
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct RunDefaults {
    /// The model's saved chain (its chosen preset first), else the default chain.
    pub chain: Vec<String>,
    /// True when `chain` comes from the model's saved config.
    pub saved: bool,
    /// Every preset the launcher can hand over (built-in and user).
    pub presets: Vec<String>,
    /// The app's working directory, a starting point for the form.
    pub cwd: String,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct LogTail {
    pub text: String,
    /// True when the log is longer than what is shown (the start is cut).
    pub truncated: bool,
}

/// One output line of a run, as a reattaching window gets it back.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct OutputLine {
    pub attempt: u32,
    pub stream: Stream,
    pub line: String,
}

/// A run in progress as pushed so far, for a window that reloaded while it went on: enough to draw the live
/// view again, after which the channel it passed gets every later update.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct RunSnapshot {
    pub run_id: String,
    /// The run's start and each attempt's start and end so far, in order: what the timeline is drawn from.
    pub attempts: Vec<LaunchEvent>,
    /// The newest output lines, oldest first (at most 2,000).
    pub lines: Vec<OutputLine>,
    /// Output lines not in `lines` (older ones, and any a batch left out); they are in the log files.
    pub dropped_lines: u32,
    /// The live chart's readings of each attempt's process tree, oldest first (at most an hour's).
    pub memory: Vec<ProbeReport>,
    /// Why the memory cannot be measured, when the probe said so.
    pub memory_unavailable: Option<String>,
}

/// What the forwarder has pushed for a run, bounded, and the channel it pushes to. One lock covers both, so
/// a window that re-subscribes gets a snapshot and then exactly the updates after it: none lost, none twice.
struct LiveRun {
    channel: Channel<RunUpdate>,
    attempts: Vec<LaunchEvent>,
    lines: VecDeque<OutputLine>,
    dropped_lines: u64,
    memory: VecDeque<ProbeReport>,
    memory_unavailable: Option<String>,
}

impl LiveRun {
    fn new(channel: Channel<RunUpdate>) -> Self {
        LiveRun {
            channel,
            attempts: Vec::new(),
            lines: VecDeque::new(),
            dropped_lines: 0,
            memory: VecDeque::new(),
            memory_unavailable: None,
        }
    }

    /// Keep what `update` tells, within [`SNAPSHOT_LINES`] and [`SNAPSHOT_SAMPLES`].
    fn record(&mut self, update: &RunUpdate) {
        self.dropped_lines += u64::from(update.dropped_lines);
        for event in &update.events {
            match event {
                LaunchEvent::Output {
                    attempt,
                    stream,
                    line,
                } => {
                    self.lines.push_back(OutputLine {
                        attempt: *attempt,
                        stream: *stream,
                        line: line.clone(),
                    });
                    if self.lines.len() > SNAPSHOT_LINES {
                        self.lines.pop_front();
                        self.dropped_lines += 1;
                    }
                }
                other => self.attempts.push(other.clone()),
            }
        }
        for report in &update.memory {
            match report {
                ProbeReport::Unavailable { reason } => {
                    self.memory_unavailable = Some(reason.clone());
                }
                sample @ ProbeReport::Sample { .. } => {
                    self.memory.push_back(sample.clone());
                    if self.memory.len() > SNAPSHOT_SAMPLES {
                        self.memory.pop_front();
                    }
                }
            }
        }
    }

    fn snapshot(&self, run_id: &str) -> RunSnapshot {
        RunSnapshot {
            run_id: run_id.to_string(),
            attempts: self.attempts.clone(),
            lines: self.lines.iter().cloned().collect(),
            dropped_lines: u32::try_from(self.dropped_lines).unwrap_or(u32::MAX),
            memory: self.memory.iter().cloned().collect(),
            memory_unavailable: self.memory_unavailable.clone(),
        }
    }
}

/// The lock on a run's live state. A poisoned lock only means a panic elsewhere mid-update; what it holds is
/// still the best there is to show.
fn lock_live(live: &Mutex<LiveRun>) -> std::sync::MutexGuard<'_, LiveRun> {
    live.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

enum Message {
    Event(LaunchEvent),
    Memory(ProbeReport),
    /// Boxed: a record is far larger than an event, and one is sent per run.
    Done(Box<Result<RunRecord, IpcError>>),
}

/// The start form's chain and presets for `model` (empty: none typed yet).
#[tauri::command]
pub fn runs_defaults(state: State<'_, AppState>, model: String) -> IpcResult<RunDefaults> {
    let source = LibraryPresets::for_model(&state.paths, model.trim())?;
    Ok(RunDefaults {
        chain: source.default_chain(),
        saved: source.saved_chain().is_some(),
        presets: source.names()?,
        cwd: std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
    })
}

fn request(
    paths: &AppPaths,
    nvml: &SharedNvml,
    start: StartRun,
) -> Result<(RunRequest, LibraryPresets), Error> {
    let cwd = PathBuf::from(start.cwd.trim());
    if !cwd.is_absolute() {
        return Err(Error::invalid(
            "cwd",
            format!(
                "{} is not an absolute path (start it with /)",
                cwd.display()
            ),
        ));
    }
    let presets = LibraryPresets::for_model(paths, start.model.trim())?;
    let prediction = match (start.batch_size, start.sequence_length) {
        (None, None) => ChainPrediction::default(),
        (Some(_), None) => {
            return Err(Error::invalid(
                "sequence_length",
                "give it with the batch size to get an estimate per preset",
            ))
        }
        (None, Some(_)) => {
            return Err(Error::invalid(
                "batch_size",
                "give it with the sequence length to get an estimate per preset",
            ))
        }
        (Some(batch), Some(sequence)) => {
            let known = available_presets(&PresetLibrary::new(paths))?;
            let resolver = super::plan::resolver();
            predict_chain(
                paths,
                start.model.trim(),
                &start.chain,
                batch,
                sequence,
                &known,
                |m| model::resolve(m, &resolver),
            )?
        }
    };
    let request = RunRequest {
        model: start.model.trim().to_string(),
        argv: start.argv,
        cwd,
        profile: profile::load_profile(paths, &start.profile)?,
        base_env: app_env(),
        chain: start.chain,
        predicted_peak_bytes: prediction.bytes,
        predicted_notes: prediction.notes,
        kill_grace: KILL_GRACE,
        gpus: driver_gpus(open_source_shared(
            &SourceSpec::Nvml,
            ProcFs::default(),
            nvml,
        )),
        log_limit_bytes: runner::ATTEMPT_LOG_LIMIT_BYTES,
    };
    Ok((request, presets))
}

/// Start a run in a background thread. Returns its id once the launcher has checked the request and made
/// the run's directory; a request it refuses comes back as the error, naming the field. Async, so the wait
/// for that check happens off the main thread and the window never stalls.
#[tauri::command]
pub async fn runs_start(
    state: State<'_, AppState>,
    start: StartRun,
    on_update: Channel<RunUpdate>,
) -> IpcResult<String> {
    let paths = state.paths.clone();
    let (request, presets) = request(&paths, &state.nvml, start)?;
    let active = state.runs.clone();
    let nvml = state.nvml.clone();
    let (started_tx, started_rx) = mpsc::sync_channel::<IpcResult<String>>(1);
    std::thread::Builder::new()
        .name("headroom-run".into())
        .spawn(move || launch(paths, request, presets, active, nvml, started_tx, on_update))
        .map_err(|e| IpcError::internal(format!("could not start the launcher thread: {e}")))?;
    started_rx
        .recv()
        .map_err(|_| IpcError::internal("the launcher stopped before the run started"))?
}

fn launch(
    paths: AppPaths,
    request: RunRequest,
    presets: LibraryPresets,
    active: ActiveRuns,
    nvml: SharedNvml,
    started_tx: mpsc::SyncSender<IpcResult<String>>,
    channel: Channel<RunUpdate>,
) {
    let cancel = CancelToken::new();
    let live = Arc::new(Mutex::new(LiveRun::new(channel)));
    let (tx, rx) = mpsc::channel::<Message>();
    let forwarder_live = live.clone();
    let forwarder = std::thread::Builder::new()
        .name("headroom-run-events".into())
        .spawn(move || forward(rx, &forwarder_live));
    let mut run_id: Option<String> = None;
    let reports = std::sync::Mutex::new(tx.clone());
    let sink: headroom_core::launch::probe::ReportSink = Arc::new(move |report| {
        if let Ok(tx) = reports.lock() {
            let _ = tx.send(Message::Memory(report));
        }
    });
    let mut probe = nvml_probe(nvml).with_reports(sink);
    let result = runner::run(
        &paths,
        &request,
        &presets,
        &mut probe,
        &cancel,
        &mut |event| {
            if let LaunchEvent::RunStarted { run_id: id, .. } = &event {
                if let Ok(mut runs) = active.lock() {
                    runs.insert(
                        id.clone(),
                        ActiveRun {
                            cancel: cancel.clone(),
                            live: live.clone(),
                            started: Instant::now(),
                        },
                    );
                }
                run_id = Some(id.clone());
                let _ = started_tx.send(Ok(id.clone()));
            }
            let _ = tx.send(Message::Event(event));
        },
    );
    match (&run_id, result) {
        // Refused before it started: the command returns the error, the UI shows it by the field.
        (None, Err(e)) => {
            let _ = started_tx.send(Err(e.into()));
        }
        (_, result) => {
            let _ = tx.send(Message::Done(Box::new(result.map_err(IpcError::from))));
        }
    }
    if let Some(id) = &run_id {
        if let Ok(mut runs) = active.lock() {
            runs.remove(id);
        }
    }
    // The probe's sink holds a sender too: drop it, or the forwarder would wait for it forever.
    drop(probe);
    drop(tx);
    if let Ok(handle) = forwarder {
        let _ = handle.join();
    }
}

/// Forward the launcher's events to the UI, one batch per [`BATCH_EVERY`] at most, until the run is done,
/// keeping what was sent in `live` for a window that picks the run up again.
fn forward(rx: mpsc::Receiver<Message>, live: &Mutex<LiveRun>) {
    let mut run_id = String::new();
    let mut last_sent: Option<Instant> = None;
    let mut open = true;
    while open {
        let Ok(first) = rx.recv() else { break };
        let mut batch = vec![first];
        let deadline = last_sent.map_or_else(Instant::now, |t| t + BATCH_EVERY);
        loop {
            let now = Instant::now();
            let wait = deadline.saturating_duration_since(now);
            let next = if wait.is_zero() {
                rx.try_recv().map_err(|e| match e {
                    mpsc::TryRecvError::Empty => RecvTimeoutError::Timeout,
                    mpsc::TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
                })
            } else {
                rx.recv_timeout(wait)
            };
            match next {
                Ok(message) => batch.push(message),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        let update = to_update(&mut run_id, batch);
        if update.finished.is_some() || update.error.is_some() {
            open = false;
        }
        last_sent = Some(Instant::now());
        let mut live = lock_live(live);
        live.record(&update);
        if live.channel.send(update).is_err() {
            tracing::debug!(run = %run_id, "the window that follows the run is gone");
        }
    }
}

/// Fold messages into one update, keeping the newest [`MAX_LINES_PER_BATCH`] output lines.
fn to_update(run_id: &mut String, batch: Vec<Message>) -> RunUpdate {
    let lines = batch
        .iter()
        .filter(|m| matches!(m, Message::Event(LaunchEvent::Output { .. })))
        .count();
    let mut skip = lines.saturating_sub(MAX_LINES_PER_BATCH);
    let dropped_lines = u32::try_from(skip).unwrap_or(u32::MAX);
    let mut update = RunUpdate {
        run_id: String::new(),
        events: Vec::new(),
        dropped_lines,
        finished: None,
        error: None,
        memory: Vec::new(),
    };
    for message in batch {
        match message {
            Message::Event(LaunchEvent::Output { .. }) if skip > 0 => skip -= 1,
            Message::Event(event) => {
                if let LaunchEvent::RunStarted { run_id: id, .. } = &event {
                    *run_id = id.clone();
                }
                update.events.push(event);
            }
            Message::Memory(report) => update.memory.push(report),
            Message::Done(done) => match *done {
                Ok(record) => update.finished = Some(record),
                Err(e) => update.error = Some(e),
            },
        }
    }
    update.run_id = run_id.clone();
    update
}

/// Cancel a run: SIGTERM to its whole process group, SIGKILL after the grace period; no further attempt.
#[tauri::command]
pub fn runs_cancel(state: State<'_, AppState>, run_id: String) -> IpcResult<()> {
    let runs = state
        .runs
        .lock()
        .map_err(|_| IpcError::internal("runs lock poisoned"))?;
    match runs.get(&run_id) {
        Some(run) => {
            run.cancel.cancel();
            Ok(())
        }
        None => Err(Error::invalid("run_id", format!("run {run_id} is not running")).into()),
    }
}

/// The ids of the runs going on now.
#[tauri::command]
pub fn runs_active(state: State<'_, AppState>) -> IpcResult<Vec<String>> {
    let runs = state
        .runs
        .lock()
        .map_err(|_| IpcError::internal("runs lock poisoned"))?;
    Ok(runs.keys().cloned().collect())
}

/// The newest run going on now, as pushed so far, and from now on its updates on `on_update` instead of the
/// channel it had (the window that started it reloaded, and that channel's page is gone). `null` when no run
/// is going on.
#[tauri::command]
pub fn runs_attach(
    state: State<'_, AppState>,
    on_update: Channel<RunUpdate>,
) -> IpcResult<Option<RunSnapshot>> {
    let newest = {
        let runs = state
            .runs
            .lock()
            .map_err(|_| IpcError::internal("runs lock poisoned"))?;
        runs.iter()
            .max_by_key(|(_, run)| run.started)
            .map(|(id, run)| (id.clone(), run.live.clone()))
    };
    Ok(newest.map(|(run_id, live)| {
        let mut live = lock_live(&live);
        live.channel = on_update;
        live.snapshot(&run_id)
    }))
}

/// Past runs from the data directory, newest first. Runs whose launcher died (the app or a `headroom-cli`
/// killed mid-run) are marked interrupted first, with whether their training still runs.
#[tauri::command]
pub fn runs_list(state: State<'_, AppState>) -> IpcResult<RunList> {
    let now = headroom_core::monitor::Timestamp::now().millis();
    for record in history::recover_interrupted(&state.paths, Path::new(PROC_ROOT), now)? {
        tracing::warn!(run = %record.run_id, interruption = ?record.interruption, "run interrupted: its launcher died");
    }
    Ok(history::list(&state.paths)?)
}

#[tauri::command]
pub fn runs_load(state: State<'_, AppState>, run_id: String) -> IpcResult<RunRecord> {
    Ok(history::load(&state.paths, &run_id)?.0)
}

/// The end of one attempt's log, for a run reopened from the history.
#[tauri::command]
pub fn runs_log(state: State<'_, AppState>, run_id: String, attempt: u32) -> IpcResult<LogTail> {
    let (record, _) = history::load(&state.paths, &run_id)?;
    let Some(found) = record.attempts.iter().find(|a| a.index == attempt) else {
        return Err(
            Error::invalid("attempt", format!("run {run_id} has no attempt {attempt}")).into(),
        );
    };
    let path = &found.log_file;
    // The record names the log file and can be edited: open it as fsio does any user file (regular files only).
    let mut file = headroom_core::fsio::open(path)?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let start = len.saturating_sub(LOG_TAIL_BYTES);
    file.seek(SeekFrom::Start(start))
        .map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if start > 0 {
        // Start at a whole line.
        if let Some(newline) = text.find('\n') {
            text.drain(..=newline);
        }
    }
    Ok(LogTail {
        text,
        truncated: start > 0,
    })
}

/// Each attempt's peak GPU memory, from NVML every 500 ms (none without a driver: the peak stays unknown).
fn nvml_probe(nvml: SharedNvml) -> MonitorPeakProbe {
    let open: OpenSource = std::sync::Arc::new(move || {
        open_source_shared(&SourceSpec::Nvml, ProcFs::default(), &nvml)
    });
    MonitorPeakProbe::new(open, "/proc", std::time::Duration::from_millis(500))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_carries_the_memory_reports_beside_the_events() {
        let mut run_id = "run-1".to_string();
        let update = to_update(
            &mut run_id,
            vec![
                Message::Memory(ProbeReport::Sample {
                    pid: 10,
                    unix_ms: 1_000,
                    bytes: Some(5),
                }),
                Message::Memory(ProbeReport::Unavailable {
                    reason: "no NVIDIA driver".into(),
                }),
            ],
        );
        assert_eq!(update.run_id, "run-1");
        assert_eq!(update.memory.len(), 2);
        assert!(update.events.is_empty());
    }

    fn output(attempt: u32, line: String) -> LaunchEvent {
        LaunchEvent::Output {
            attempt,
            stream: Stream::Stdout,
            line,
        }
    }

    fn update(events: Vec<LaunchEvent>, memory: Vec<ProbeReport>, dropped: u32) -> RunUpdate {
        RunUpdate {
            run_id: "run-1".into(),
            events,
            dropped_lines: dropped,
            finished: None,
            error: None,
            memory,
        }
    }

    #[test]
    fn the_snapshot_keeps_the_newest_lines_and_counts_the_rest() {
        let mut live = LiveRun::new(Channel::new(|_| Ok(())));
        let started = LaunchEvent::AttemptStarted {
            index: 0,
            preset: "fp16".into(),
            pid: 42,
            expandable_segments: false,
            predicted_peak_bytes: Some(7),
        };
        live.record(&update(vec![started.clone()], vec![], 0));
        // Two batches: 1,500 lines with 10 left out of the batch, then 1,500 more.
        for batch in 0..2 {
            let lines = (0..1500)
                .map(|i| output(0, format!("line {}", batch * 1500 + i)))
                .collect();
            live.record(&update(lines, vec![], if batch == 0 { 10 } else { 0 }));
        }
        let snap = live.snapshot("run-1");
        assert_eq!(snap.run_id, "run-1");
        assert_eq!(snap.attempts, vec![started]);
        assert_eq!(snap.lines.len(), SNAPSHOT_LINES);
        assert_eq!(snap.lines[0].line, "line 1000");
        assert_eq!(snap.lines.last().unwrap().line, "line 2999");
        // 1,000 pushed out of the snapshot, and the 10 the first batch never carried.
        assert_eq!(snap.dropped_lines, 1010);
    }

    #[test]
    fn the_snapshot_keeps_an_hour_of_memory_readings_and_why_there_are_none() {
        let mut live = LiveRun::new(Channel::new(|_| Ok(())));
        let samples = (0..SNAPSHOT_SAMPLES as u64 + 5)
            .map(|i| ProbeReport::Sample {
                pid: 42,
                unix_ms: i,
                bytes: Some(i * 10),
            })
            .collect();
        live.record(&update(vec![], samples, 0));
        live.record(&update(
            vec![],
            vec![ProbeReport::Unavailable {
                reason: "no NVIDIA driver".into(),
            }],
            0,
        ));
        let snap = live.snapshot("run-1");
        assert_eq!(snap.memory.len(), SNAPSHOT_SAMPLES);
        assert_eq!(
            snap.memory[0],
            ProbeReport::Sample {
                pid: 42,
                unix_ms: 5,
                bytes: Some(50)
            }
        );
        assert_eq!(snap.memory_unavailable.as_deref(), Some("no NVIDIA driver"));
    }
}
