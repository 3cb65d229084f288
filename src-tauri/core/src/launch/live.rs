//! What a window has been shown of a run in progress, bounded, so that a window that reloaded can draw the
//! live view again: the attempts, the newest output lines and the newest memory readings.

use std::collections::VecDeque;

use serde::Serialize;

use crate::launch::batch::Batch;
use crate::launch::probe::ProbeReport;
use crate::launch::process::Stream;
use crate::launch::runner::LaunchEvent;

/// The newest output lines a window gets back when it picks a run up again (the whole output is in each
/// attempt's log file).
pub const SNAPSHOT_LINES: usize = 2000;
/// The newest memory readings a window gets back: an hour at the probe's 0.5 s, what the live chart keeps.
pub const SNAPSHOT_SAMPLES: usize = 7200;

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

/// What has been pushed for a run, within [`SNAPSHOT_LINES`] and [`SNAPSHOT_SAMPLES`].
#[derive(Debug, Default)]
pub struct RunLog {
    attempts: Vec<LaunchEvent>,
    lines: VecDeque<OutputLine>,
    dropped_lines: u64,
    memory: VecDeque<ProbeReport>,
    memory_unavailable: Option<String>,
}

impl RunLog {
    /// Keep what `batch` tells.
    pub fn record(&mut self, batch: &Batch) {
        self.dropped_lines += u64::from(batch.dropped_lines);
        for event in &batch.events {
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
        for report in &batch.memory {
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

    pub fn snapshot(&self, run_id: &str) -> RunSnapshot {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn output(attempt: u32, line: String) -> LaunchEvent {
        LaunchEvent::Output {
            attempt,
            stream: Stream::Stdout,
            line,
        }
    }

    fn batch(events: Vec<LaunchEvent>, memory: Vec<ProbeReport>, dropped: u32) -> Batch {
        Batch {
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
        let mut log = RunLog::default();
        let started = LaunchEvent::AttemptStarted {
            index: 0,
            preset: "fp16".into(),
            pid: 42,
            expandable_segments: false,
            predicted_peak_bytes: Some(7),
            step: None,
            micro_batch: None,
            grad_accum: None,
            resumed_from: None,
        };
        log.record(&batch(vec![started.clone()], vec![], 0));
        // Two batches: 1,500 lines with 10 left out of the batch, then 1,500 more.
        for n in 0..2 {
            let lines = (0..1500)
                .map(|i| output(0, format!("line {}", n * 1500 + i)))
                .collect();
            log.record(&batch(lines, vec![], if n == 0 { 10 } else { 0 }));
        }
        let snap = log.snapshot("run-1");
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
        let mut log = RunLog::default();
        let samples = (0..SNAPSHOT_SAMPLES as u64 + 5)
            .map(|i| ProbeReport::Sample {
                pid: 42,
                unix_ms: i,
                bytes: Some(i * 10),
            })
            .collect();
        log.record(&batch(vec![], samples, 0));
        log.record(&batch(
            vec![],
            vec![ProbeReport::Unavailable {
                reason: "no NVIDIA driver".into(),
            }],
            0,
        ));
        let snap = log.snapshot("run-1");
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
