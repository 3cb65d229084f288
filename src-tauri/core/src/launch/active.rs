//! The runs going on now in this process (the app's), each on its own launcher thread: start one, cancel it,
//! and let a window that reloaded pick the newest up again. The chain's rules are [`runner`]'s.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use crate::launch::batch::{self, Batch, Message};
use crate::launch::handover::LibraryPresets;
use crate::launch::live::{RunLog, RunSnapshot};
use crate::launch::probe::{MonitorPeakProbe, ReportSink};
use crate::launch::process::CancelToken;
use crate::launch::runner::{self, LaunchEvent, RunRequest};
use crate::message::{Key, Message as Text};
use crate::paths::AppPaths;
use crate::{Error, Result};

/// Whoever follows a run (the window's channel).
pub trait RunSink: Send {
    /// Push one batch; false when nobody follows any more (the window is gone), which stops nothing.
    fn push(&self, batch: Batch) -> bool;
}

/// Why a run did not start.
#[derive(Debug)]
pub enum StartError {
    /// The launcher refused the request (the error names the field) or could not make the run's folder.
    Refused(Error),
    /// The launcher thread could not start, or stopped before the run did.
    Launcher(String),
}

/// What a run has shown and who follows it. One lock covers both, so a window that re-subscribes gets a
/// snapshot and then exactly the batches after it: none lost, none twice.
struct Followed {
    sink: Box<dyn RunSink>,
    log: RunLog,
}

/// A run going on now: what Cancel needs, and what a window that reloaded needs to show it again.
#[derive(Clone)]
struct ActiveRun {
    cancel: CancelToken,
    followed: Arc<Mutex<Followed>>,
    /// When it started, to tell the newest run when more than one is going on.
    started: Instant,
}

/// The runs going on now, by id. Shared with each launcher thread, which removes its own entry when its run
/// ends.
#[derive(Clone, Default)]
pub struct ActiveRuns(Arc<Mutex<BTreeMap<String, ActiveRun>>>);

/// A lock whose holder panicked mid-update still holds the best there is (a map of runs, what a run showed).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ActiveRuns {
    /// Start a run on its own thread, its batches to `sink`. Returns its id once the launcher has checked the
    /// request and made the run's folder.
    pub fn start(
        &self,
        paths: AppPaths,
        request: RunRequest,
        presets: LibraryPresets,
        probe: MonitorPeakProbe,
        sink: Box<dyn RunSink>,
    ) -> Result<String, StartError> {
        let active = self.clone();
        let (started_tx, started_rx) = mpsc::sync_channel::<Result<String, Error>>(1);
        std::thread::Builder::new()
            .name("headroom-run".into())
            .spawn(move || {
                let launch = Launch {
                    paths,
                    request,
                    presets,
                    probe,
                    active,
                    started_tx,
                };
                launch.run(sink)
            })
            .map_err(|e| {
                StartError::Launcher(format!("could not start the launcher thread: {e}"))
            })?;
        match started_rx.recv() {
            Ok(started) => started.map_err(StartError::Refused),
            Err(_) => Err(StartError::Launcher(
                "the launcher stopped before the run started".into(),
            )),
        }
    }

    /// Cancel a run: SIGTERM to its whole process group, SIGKILL after the grace period; no further attempt.
    pub fn cancel(&self, run_id: &str) -> Result<()> {
        match lock(&self.0).get(run_id) {
            Some(run) => {
                run.cancel.cancel();
                Ok(())
            }
            None => Err(Error::invalid_msg(
                "run_id",
                Text::new(Key::InvalidRunRunNotRunning).text("run_id", run_id.to_string()),
            )),
        }
    }

    /// The ids of the runs going on now.
    pub fn ids(&self) -> Vec<String> {
        lock(&self.0).keys().cloned().collect()
    }

    /// The newest run going on now, as shown so far, with its batches from now on to `sink` instead of
    /// whoever followed it; `None` when no run is going on.
    pub fn attach_newest(&self, sink: Box<dyn RunSink>) -> Option<RunSnapshot> {
        let (run_id, followed) = {
            let runs = lock(&self.0);
            let (id, run) = runs.iter().max_by_key(|(_, run)| run.started)?;
            (id.clone(), run.followed.clone())
        };
        let mut followed = lock(&followed);
        followed.sink = sink;
        Some(followed.log.snapshot(&run_id))
    }

    fn insert(&self, run_id: String, run: ActiveRun) {
        lock(&self.0).insert(run_id, run);
    }

    fn remove(&self, run_id: &str) {
        lock(&self.0).remove(run_id);
    }
}

/// One run on the launcher thread.
struct Launch {
    paths: AppPaths,
    request: RunRequest,
    presets: LibraryPresets,
    probe: MonitorPeakProbe,
    active: ActiveRuns,
    started_tx: mpsc::SyncSender<Result<String, Error>>,
}

impl Launch {
    fn run(self, sink: Box<dyn RunSink>) {
        let cancel = CancelToken::new();
        let followed = Arc::new(Mutex::new(Followed {
            sink,
            log: RunLog::default(),
        }));
        let (tx, rx) = mpsc::channel::<Message>();
        let forwarder_followed = followed.clone();
        let forwarder = std::thread::Builder::new()
            .name("headroom-run-events".into())
            .spawn(move || batch::forward(rx, |batch| deliver(&forwarder_followed, batch)));
        let reports = Mutex::new(tx.clone());
        let report_sink: ReportSink = Arc::new(move |report| {
            let _ = lock(&reports).send(Message::Memory(report));
        });
        let mut probe = self.probe.with_reports(report_sink);
        let mut run_id: Option<String> = None;
        let result = runner::run(
            &self.paths,
            &self.request,
            &self.presets,
            &mut probe,
            &cancel,
            &mut |event| {
                if let LaunchEvent::RunStarted { run_id: id, .. } = &event {
                    let run = ActiveRun {
                        cancel: cancel.clone(),
                        followed: followed.clone(),
                        started: Instant::now(),
                    };
                    self.active.insert(id.clone(), run);
                    run_id = Some(id.clone());
                    let _ = self.started_tx.send(Ok(id.clone()));
                }
                let _ = tx.send(Message::Event(event));
            },
        );
        match (&run_id, result) {
            // Refused before it started: the caller of `start` gets the error.
            (None, Err(e)) => {
                let _ = self.started_tx.send(Err(e));
            }
            (_, result) => {
                let _ = tx.send(Message::Done(Box::new(result)));
            }
        }
        if let Some(id) = &run_id {
            self.active.remove(id);
        }
        // The probe's sink holds a sender too: drop it, or the forwarder would wait for it forever.
        drop(probe);
        drop(tx);
        if let Ok(handle) = forwarder {
            let _ = handle.join();
        }
    }
}

/// Keep what `batch` shows for a window that picks the run up again, and push it to whoever follows.
fn deliver(followed: &Mutex<Followed>, batch: Batch) {
    let mut followed = lock(followed);
    followed.log.record(&batch);
    let run_id = batch.run_id.clone();
    if !followed.sink.push(batch) {
        tracing::debug!(run = %run_id, "the window that follows the run is gone");
    }
}
