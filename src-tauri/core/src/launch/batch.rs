//! The launcher's events in batches for a window: at most a few a second however fast the program writes,
//! each with at most [`MAX_LINES_PER_BATCH`] output lines (the rest are counted, and are in the log file).

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::launch::history::RunRecord;
use crate::launch::probe::ProbeReport;
use crate::launch::runner::LaunchEvent;
use crate::Error;

/// At most this many batches a second reach the window.
pub const BATCH_EVERY: Duration = Duration::from_millis(250);
/// A batch keeps at most this many output lines (the newest).
pub const MAX_LINES_PER_BATCH: usize = 2000;

/// What the launcher thread tells the forwarder.
pub enum Message {
    Event(LaunchEvent),
    Memory(ProbeReport),
    /// Boxed: a record is far larger than an event, and one is sent per run.
    Done(Box<Result<RunRecord, Error>>),
}

/// One push to the window: the events since the last push, and the end of the run when it has ended.
#[derive(Debug)]
pub struct Batch {
    pub run_id: String,
    pub events: Vec<LaunchEvent>,
    /// Output lines left out of this batch to keep it small (they are in the attempt's log file).
    pub dropped_lines: u32,
    /// The final record, once the run has ended.
    pub finished: Option<RunRecord>,
    /// Why the run stopped early (a file could not be written), once it has.
    pub error: Option<Error>,
    /// The GPU memory of the attempt's process tree since the last push, or why it cannot be measured.
    pub memory: Vec<ProbeReport>,
}

impl Batch {
    /// The last batch of a run: nothing follows it.
    pub fn is_last(&self) -> bool {
        self.finished.is_some() || self.error.is_some()
    }
}

/// Hand `deliver` the messages from `rx` in batches, one per [`BATCH_EVERY`] at most, until the run is done
/// or every sender is gone.
pub fn forward(rx: mpsc::Receiver<Message>, mut deliver: impl FnMut(Batch)) {
    let mut run_id = String::new();
    let mut last_sent: Option<Instant> = None;
    let mut open = true;
    while open {
        let Ok(first) = rx.recv() else { break };
        let mut messages = vec![first];
        let deadline = last_sent.map_or_else(Instant::now, |t| t + BATCH_EVERY);
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            let next = if wait.is_zero() {
                rx.try_recv().map_err(|e| match e {
                    mpsc::TryRecvError::Empty => RecvTimeoutError::Timeout,
                    mpsc::TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
                })
            } else {
                rx.recv_timeout(wait)
            };
            match next {
                Ok(message) => messages.push(message),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        let batch = to_batch(&mut run_id, messages);
        if batch.is_last() {
            open = false;
        }
        last_sent = Some(Instant::now());
        deliver(batch);
    }
}

/// Fold messages into one batch, keeping the newest [`MAX_LINES_PER_BATCH`] output lines. `run_id` is the
/// run's id once its start went by.
fn to_batch(run_id: &mut String, messages: Vec<Message>) -> Batch {
    let lines = messages
        .iter()
        .filter(|m| matches!(m, Message::Event(LaunchEvent::Output { .. })))
        .count();
    let mut skip = lines.saturating_sub(MAX_LINES_PER_BATCH);
    let mut batch = Batch {
        run_id: String::new(),
        events: Vec::new(),
        dropped_lines: u32::try_from(skip).unwrap_or(u32::MAX),
        finished: None,
        error: None,
        memory: Vec::new(),
    };
    for message in messages {
        match message {
            Message::Event(LaunchEvent::Output { .. }) if skip > 0 => skip -= 1,
            Message::Event(event) => {
                if let LaunchEvent::RunStarted { run_id: id, .. } = &event {
                    *run_id = id.clone();
                }
                batch.events.push(event);
            }
            Message::Memory(report) => batch.memory.push(report),
            Message::Done(done) => match *done {
                Ok(record) => batch.finished = Some(record),
                Err(e) => batch.error = Some(e),
            },
        }
    }
    batch.run_id = run_id.clone();
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch::process::Stream;

    #[test]
    fn a_batch_carries_the_memory_reports_beside_the_events() {
        let mut run_id = "run-1".to_string();
        let batch = to_batch(
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
        assert_eq!(batch.run_id, "run-1");
        assert_eq!(batch.memory.len(), 2);
        assert!(batch.events.is_empty());
    }

    #[test]
    fn a_batch_keeps_the_newest_lines_and_counts_the_rest() {
        let mut run_id = String::new();
        let messages = (0..MAX_LINES_PER_BATCH + 3)
            .map(|i| {
                Message::Event(LaunchEvent::Output {
                    attempt: 0,
                    stream: Stream::Stdout,
                    line: format!("line {i}"),
                })
            })
            .collect();
        let batch = to_batch(&mut run_id, messages);
        assert_eq!(batch.dropped_lines, 3);
        assert_eq!(batch.events.len(), MAX_LINES_PER_BATCH);
        assert_eq!(
            batch.events[0],
            LaunchEvent::Output {
                attempt: 0,
                stream: Stream::Stdout,
                line: "line 3".into()
            }
        );
    }
}
