//! The sampler: a plain thread that owns the source, the history and the alert engine, and sends each reading
//! over a channel (bottom's collector pattern, `src/lib.rs`: the thread owns its data, so nothing is locked).
//! Memory is read every `interval_ms` (1 s by default, 100 ms to 10 s); the process list, which walks /proc,
//! every `process_interval_ms` (2 s by default, 2 to 5 s), and in between the last list is carried forward.
//!
//! [`SamplerCore::tick`] is one sample, synchronous, so the benchmark and the tests measure exactly what the
//! thread runs. Other threads ask for history windows and idle processes through [`Command`]s.

use std::collections::BTreeMap;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::advice::PresetAdvisor;
use super::alerts::{AlertConfig, AlertEngine, Assessment};
use super::history::{History, HistoryConfig, HistoryWindow, ProcessIdle};
use super::source::{GpuSource, SampleRequest};
use super::{ProcessSample, Snapshot, Timestamp};
use crate::message::{Key, Message as Text};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields, default)]
pub struct SamplerConfig {
    /// Memory sampling interval, 100 to 10,000 ms.
    pub interval_ms: u64,
    /// Process list interval, 2,000 to 5,000 ms.
    pub process_interval_ms: u64,
    pub history: HistoryConfig,
    pub alerts: AlertConfig,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            interval_ms: 1000,
            process_interval_ms: 2000,
            history: HistoryConfig::default(),
            alerts: AlertConfig::default(),
        }
    }
}

/// The memory sampling intervals allowed, in ms: 10 Hz to one reading every 10 s.
pub const INTERVAL_RANGE_MS: std::ops::RangeInclusive<u64> = 100..=10_000;

/// `Ok` when `interval_ms` is in [`INTERVAL_RANGE_MS`], else an error naming the field.
pub fn check_interval(interval_ms: u64) -> Result<()> {
    if INTERVAL_RANGE_MS.contains(&interval_ms) {
        Ok(())
    } else {
        Err(Error::invalid_msg(
            "interval",
            Text::new(Key::InvalidMonitorInterval).text("interval_ms", interval_ms.to_string()),
        ))
    }
}

impl SamplerConfig {
    pub fn validate(&self) -> Result<()> {
        check_interval(self.interval_ms)?;
        if !(2_000..=5_000).contains(&self.process_interval_ms) {
            return Err(Error::invalid(
                "process_interval",
                format!("{} ms is outside 2 s to 5 s", self.process_interval_ms),
            ));
        }
        self.history.validate()?;
        self.alerts.validate()
    }
}

/// One reading with its assessment: what the shell pushes to the UI and the CLI prints or records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct Tick {
    pub snapshot: Snapshot,
    pub assessment: Assessment,
}

/// The sampler's state, one [`tick`](SamplerCore::tick) at a time.
pub struct SamplerCore {
    source: Box<dyn GpuSource>,
    config: SamplerConfig,
    history: History,
    alerts: AlertEngine,
    last_processes: BTreeMap<u32, Vec<ProcessSample>>,
    last_process_at: Option<u64>,
    processes_missing: bool,
    latest_at: Option<Timestamp>,
}

impl SamplerCore {
    pub fn new(source: Box<dyn GpuSource>, config: SamplerConfig) -> Result<Self> {
        config.validate()?;
        Ok(SamplerCore {
            source,
            history: History::new(config.history)?,
            alerts: AlertEngine::new(config.alerts)?,
            config,
            last_processes: BTreeMap::new(),
            last_process_at: None,
            processes_missing: false,
            latest_at: None,
        })
    }

    pub fn config(&self) -> SamplerConfig {
        self.config
    }

    /// Estimate preset recommendations with `advisor` (see [`super::advice`]).
    pub fn set_advisor(&mut self, advisor: Box<dyn PresetAdvisor>) {
        self.alerts.set_advisor(advisor);
    }

    /// Sample memory every `interval_ms` from now on ([`check_interval`]); the history is kept.
    pub fn set_interval(&mut self, interval_ms: u64) -> Result<()> {
        check_interval(interval_ms)?;
        self.config.interval_ms = interval_ms;
        Ok(())
    }

    /// When the latest reading was taken (the recording's time for a replay).
    pub fn latest_at(&self) -> Option<Timestamp> {
        self.latest_at
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    pub fn source_label(&self) -> String {
        self.source.label()
    }

    /// Takes one sample at `now`: reads the source, appends to history, assesses. `Ok(None)` when the source has
    /// ended (a replay).
    pub fn tick(&mut self, now: Timestamp) -> Result<Option<Tick>> {
        // Due, or a GPU had no list last time (lost or refused): ask now rather than show no list for seconds.
        let processes = self.processes_missing
            || self
                .last_process_at
                .is_none_or(|t| now.0.saturating_sub(t) >= self.config.process_interval_ms);
        let Some(mut snapshot) = self.source.sample(SampleRequest { at: now, processes })? else {
            return Ok(None);
        };
        if processes {
            self.last_process_at = Some(now.0);
        }
        self.latest_at = Some(snapshot.taken_at);
        self.history.push(&snapshot);
        self.processes_missing = false;
        for g in &mut snapshot.gpus {
            match &g.processes {
                Some(list) => {
                    self.last_processes.insert(g.index, list.clone());
                }
                // Not asked this time: carry the last list forward.
                None if !processes && g.status == super::GpuStatus::Ok => {
                    g.processes = self.last_processes.get(&g.index).cloned();
                }
                // Asked and refused (the reason is in `unavailable`), or the GPU is lost: an old list would hide
                // that, so it is dropped.
                None => {
                    self.last_processes.remove(&g.index);
                    self.processes_missing = true;
                }
            }
        }
        let assessment = self.alerts.evaluate(&snapshot, &self.history);
        Ok(Some(Tick {
            snapshot,
            assessment,
        }))
    }
}

/// What the sampler thread sends.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Tick(Box<Tick>),
    /// A sample failed; the sampler tries again at the next interval.
    Error(String),
    /// The source has nothing more (end of a replay); history is still served.
    Ended,
}

/// What other threads may ask of the sampler thread.
pub enum Command {
    Window {
        from: Timestamp,
        to: Timestamp,
        points: usize,
        reply: Sender<HistoryWindow>,
    },
    Idle {
        reply: Sender<Vec<ProcessIdle>>,
    },
    /// Sample memory at this interval from now on, keeping the history (checked with [`check_interval`] first).
    SetInterval {
        interval_ms: u64,
    },
    Stop,
}

/// How any thread talks to the sampler thread: history windows, idle processes, a new interval. Cheap to clone;
/// the thread answers between samples.
#[derive(Clone)]
pub struct SamplerClient {
    commands: Sender<Command>,
}

fn stopped() -> Error {
    Error::Driver {
        message: "the sampler has stopped".into(),
    }
}

impl SamplerClient {
    /// A history window, once the thread answers.
    pub fn window(&self, from: Timestamp, to: Timestamp, points: usize) -> Result<HistoryWindow> {
        let (reply, answer) = mpsc::channel();
        self.commands
            .send(Command::Window {
                from,
                to,
                points,
                reply,
            })
            .map_err(|_| stopped())?;
        answer.recv().map_err(|_| stopped())
    }

    /// Processes holding GPU memory with how long each has been idle.
    pub fn idle(&self) -> Result<Vec<ProcessIdle>> {
        let (reply, answer) = mpsc::channel();
        self.commands
            .send(Command::Idle { reply })
            .map_err(|_| stopped())?;
        answer.recv().map_err(|_| stopped())
    }

    /// Changes the memory interval of the running sampler without losing its history.
    pub fn set_interval(&self, interval_ms: u64) -> Result<()> {
        check_interval(interval_ms)?;
        self.commands
            .send(Command::SetInterval { interval_ms })
            .map_err(|_| stopped())
    }

    /// Asks the thread to end (it may still be finishing a sample).
    pub fn stop(&self) {
        let _ = self.commands.send(Command::Stop);
    }
}

/// The running sampler: receive [`Message`]s from `messages`, ask through `client`, and [`stop`](Self::stop) it.
pub struct SamplerHandle {
    pub messages: Receiver<Message>,
    pub client: SamplerClient,
    thread: Option<JoinHandle<()>>,
}

impl SamplerHandle {
    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.client.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SamplerHandle {
    fn drop(&mut self) {
        self.client.stop();
    }
}

/// Starts the sampler thread. `clock` stamps live readings (tests pass a fake one).
pub fn spawn(
    source: Box<dyn GpuSource>,
    config: SamplerConfig,
    clock: fn() -> Timestamp,
) -> Result<SamplerHandle> {
    spawn_advised(source, config, None, clock)
}

/// [`spawn`], with preset recommendations estimated by `advisor` when there is one.
pub fn spawn_advised(
    source: Box<dyn GpuSource>,
    config: SamplerConfig,
    advisor: Option<Box<dyn PresetAdvisor>>,
    clock: fn() -> Timestamp,
) -> Result<SamplerHandle> {
    let mut core = SamplerCore::new(source, config)?;
    if let Some(advisor) = advisor {
        core.set_advisor(advisor);
    }
    let (msg_tx, messages) = mpsc::channel();
    let (commands, cmd_rx) = mpsc::channel::<Command>();
    let mut interval = Duration::from_millis(config.interval_ms);
    let thread = std::thread::Builder::new()
        .name("headroom-sampler".into())
        .spawn(move || {
            let mut due = Instant::now();
            let mut ended = false;
            loop {
                let wait = if ended {
                    Duration::from_secs(3600)
                } else {
                    due.saturating_duration_since(Instant::now())
                };
                match cmd_rx.recv_timeout(wait) {
                    Ok(Command::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                    Ok(Command::Window {
                        from,
                        to,
                        points,
                        reply,
                    }) => {
                        let _ = reply.send(core.history().window(from, to, points));
                        continue;
                    }
                    Ok(Command::Idle { reply }) => {
                        // Idle time as of the latest reading: a replay's clock is the recording's, not today's.
                        let now = core.latest_at().unwrap_or_else(clock);
                        let _ = reply.send(core.history().idle(now.0));
                        continue;
                    }
                    Ok(Command::SetInterval { interval_ms }) => {
                        if core.set_interval(interval_ms).is_ok() {
                            interval = Duration::from_millis(interval_ms);
                            // A shorter interval starts now rather than after the old, longer wait.
                            due = due.min(Instant::now() + interval);
                        }
                        continue;
                    }
                    Err(RecvTimeoutError::Timeout) if ended => continue,
                    Err(RecvTimeoutError::Timeout) => {}
                }
                let message = match core.tick(clock()) {
                    Ok(Some(tick)) => Message::Tick(Box::new(tick)),
                    Ok(None) => {
                        ended = true;
                        Message::Ended
                    }
                    Err(e) => Message::Error(e.to_string()),
                };
                if msg_tx.send(message).is_err() {
                    // Nobody listens any more.
                    return;
                }
                // Fixed rate without drift; after a stall (a slow driver call, a suspended laptop) start afresh
                // instead of firing a burst of catch-up samples.
                due += interval;
                let now = Instant::now();
                if due < now {
                    due = now + interval;
                }
            }
        })
        .map_err(|e| Error::io("headroom-sampler thread", e))?;
    Ok(SamplerHandle {
        messages,
        client: SamplerClient { commands },
        thread: Some(thread),
    })
}
