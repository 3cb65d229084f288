//! Alerts and recommendations (issue 5 item 3).
//!
//! - Fullness of a GPU is `(total − free) / total` from NVML's memory info: what is no longer available to a new
//!   allocation, driver reservation included.
//! - Levels: warning at 85% and critical at 95% by default, with hysteresis: a level is left only once fullness
//!   is `hysteresis` below its threshold, so a run hovering at the line does not flap.
//! - Time to full: the least-squares slope of used bytes over the last `trend_window_s` seconds (ordinary least
//!   squares, slope = Σ(t−t̄)(u−ū) / Σ(t−t̄)²), and free bytes divided by that slope when it is positive, the
//!   window is at least half full, and the slope over its recent half is positive too (the smaller of the two
//!   slopes is used).
//! - Recommendations are data (an [`Action`] the UI turns into a button), made when a GPU is at warning or above or
//!   will be full within `horizon_s`:
//!   1. stop a process idle for `idle_after_s` that holds at least `idle_min_bytes` (the old Python layer's
//!      `clear_gpu_memory`, made targeted);
//!   2. set `PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True` when a process's PyTorch allocator has reserved much
//!      more than it allocated (at least 1 GiB and 20% of its reservation cached but unused): PyTorch's CUDA
//!      semantics notes (docs/source/notes/cuda.rst, "Optimizing memory usage with PYTORCH_CUDA_ALLOC_CONF")
//!      describe expandable segments as the fix for this fragmentation;
//!   3. for the process whose memory grows: enable gradient checkpointing (activations are recomputed in backward
//!      instead of kept: Chen et al. 2016, "Training Deep Nets with Sublinear Memory Cost"), then switch its
//!      quantization preset to the first step of its fallback chain whose estimate fits this GPU by the fit rule
//!      ([`super::advice`]). When the run cannot be estimated (no batch size, no saved config), the advice is
//!      `int4_double` (NF4 with double quantization, Dettmers et al. 2023, "QLoRA": about 0.5 byte per weight
//!      instead of 2) with the reason it could not be checked; when no step fits, none is recommended.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::advice::{Advice, PresetAdvisor};
use super::history::History;
use super::procs::ModelLink;
use super::{GpuStatus, Snapshot, GIB};
use crate::message::{Key, Message};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields, default)]
pub struct AlertConfig {
    /// Fraction of a GPU's memory in use at which to warn (0.85).
    pub warning: f64,
    /// Fraction at which the alert is critical (0.95).
    pub critical: f64,
    /// How far below a threshold fullness must fall to leave its level (0.03).
    pub hysteresis: f64,
    /// Seconds of history the trend is fitted over (120).
    pub trend_window_s: u64,
    /// Recommend before the GPU is full when the trend says it will be within this many seconds (900).
    pub horizon_s: u64,
    /// A process counts as idle after this many seconds without activity (300).
    pub idle_after_s: u64,
    /// … and is worth stopping only when it holds at least this much (1 GiB).
    pub idle_min_bytes: u64,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            warning: 0.85,
            critical: 0.95,
            hysteresis: 0.03,
            trend_window_s: 120,
            horizon_s: 900,
            idle_after_s: 300,
            idle_min_bytes: GIB,
        }
    }
}

impl AlertConfig {
    pub fn validate(&self) -> Result<()> {
        let frac = |v: f64| v.is_finite() && v > 0.0 && v <= 1.0;
        if !frac(self.warning) {
            return Err(Error::invalid_msg(
                "warning",
                Message::new(Key::InvalidAlertWarning).text("warning", self.warning.to_string()),
            ));
        }
        if !frac(self.critical) || self.critical <= self.warning {
            return Err(Error::invalid_msg(
                "critical",
                Message::new(Key::InvalidAlertCritical)
                    .text("critical", self.critical.to_string())
                    .text("warning", self.warning.to_string()),
            ));
        }
        if !(self.hysteresis.is_finite()
            && self.hysteresis >= 0.0
            && self.hysteresis < self.warning)
        {
            return Err(Error::invalid_msg(
                "hysteresis",
                Message::new(Key::InvalidAlertHysteresis)
                    .text("hysteresis", self.hysteresis.to_string()),
            ));
        }
        if self.trend_window_s < 5 {
            return Err(Error::invalid_msg(
                "trend_window_s",
                Message::new(Key::InvalidAlertTrendWindow),
            ));
        }
        Ok(())
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize, ts_rs::TS,
)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    #[default]
    Normal,
    Warning,
    Critical,
    /// The GPU stopped answering (fell off the bus, Xid error, driver hang): its memory cannot be read and whatever
    /// ran on it has lost its state. Not a fullness level: it is entered and left by the GPU's status alone.
    Lost,
}

/// What the UI can do about it, as data: each variant becomes a button.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Stop an idle process (see [`super::procs::stop_process`]).
    StopProcess {
        pid: u32,
        held_bytes: u64,
        idle_ms: u64,
    },
    /// Set an environment variable for the next launch of the run.
    SetEnv {
        pid: u32,
        name: String,
        value: String,
    },
    /// Turn on gradient checkpointing in the config of the run in process `pid`.
    EnableGradientCheckpointing { pid: u32 },
    /// A lost GPU: find out why and bring it back (nothing Headroom can do by itself; the reason says how).
    CheckGpu { gpu: u32 },
    /// Switch the per-model config of the run in process `pid` to this quantization preset. `model` is the
    /// config's key when the process says which model it loads ([`super::procs::ModelLink`]); without it the
    /// UI can only explain.
    SwitchPreset {
        pid: u32,
        preset: String,
        model: Option<String>,
        /// The preset the run was launched with, when Headroom launched it.
        current_preset: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Recommendation {
    pub gpu: u32,
    pub action: Action,
    /// Why, in words, with the numbers.
    pub reason: String,
    /// `reason` as a message the UI renders in the user's language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub reason_message: Option<Message>,
}

/// One GPU's state after a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct GpuAlert {
    pub gpu: u32,
    pub level: Level,
    /// `(total − free) / total`; `None` when memory could not be read.
    pub fullness: Option<f64>,
    /// When the trend says free memory runs out, in ms from now; `None` when not rising or unknown.
    pub time_to_full_ms: Option<u64>,
}

/// A level change: what a notification is made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct LevelChange {
    pub gpu: u32,
    pub from: Level,
    pub to: Level,
    pub message: String,
    /// `message` as a message the UI renders in the user's language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub message_key: Option<Message>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct Assessment {
    pub gpus: Vec<GpuAlert>,
    pub changes: Vec<LevelChange>,
    pub recommendations: Vec<Recommendation>,
}

pub struct AlertEngine {
    config: AlertConfig,
    levels: BTreeMap<u32, Level>,
    advisor: Option<Box<dyn PresetAdvisor>>,
    /// The advice per process, model link and GPU size: a run's plan does not change while it runs, and
    /// estimating reads the stores.
    advice: BTreeMap<(u32, String, u64), Advice>,
}

/// At most this many answers are kept; past it the cache starts again (processes come and go).
const ADVICE_CACHE_LIMIT: usize = 256;

/// Ordinary least-squares slope of `(t, y)`; `None` with fewer than 3 points or no spread in t.
pub fn slope(points: &[(u64, u64)]) -> Option<f64> {
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let t0 = points.first()?.0;
    // Relative times keep f64 precise (epoch milliseconds squared would lose digits).
    let mt = points.iter().map(|(t, _)| (t - t0) as f64).sum::<f64>() / n;
    let my = points.iter().map(|(_, y)| *y as f64).sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (t, y) in points {
        let dt = (t - t0) as f64 - mt;
        sxy += dt * (*y as f64 - my);
        sxx += dt * dt;
    }
    (sxx > 0.0).then(|| sxy / sxx)
}

impl AlertEngine {
    pub fn new(config: AlertConfig) -> Result<Self> {
        config.validate()?;
        Ok(AlertEngine {
            config,
            levels: BTreeMap::new(),
            advisor: None,
            advice: BTreeMap::new(),
        })
    }

    /// Decide preset recommendations with `advisor`'s estimates (without one, a run gets `int4_double` with the
    /// reason no estimate backs it).
    pub fn set_advisor(&mut self, advisor: Box<dyn PresetAdvisor>) {
        self.advisor = Some(advisor);
        self.advice.clear();
    }

    fn advice_for(&mut self, pid: u32, link: &ModelLink, gpu_memory_bytes: Option<u64>) -> Advice {
        let (Some(advisor), Some(total)) = (&self.advisor, gpu_memory_bytes) else {
            return Advice::Unknown(if self.advisor.is_none() {
                "this monitor has no access to Headroom's plans".into()
            } else {
                "the GPU's memory size is unknown".into()
            });
        };
        let key = (pid, format!("{link:?}"), total);
        if let Some(known) = self.advice.get(&key) {
            return known.clone();
        }
        let advice = advisor.advise(link, total);
        if self.advice.len() >= ADVICE_CACHE_LIMIT {
            self.advice.clear();
        }
        self.advice.insert(key, advice.clone());
        advice
    }

    pub fn config(&self) -> AlertConfig {
        self.config
    }

    fn next_level(&self, current: Level, f: f64) -> Level {
        let c = &self.config;
        let (w, k, h) = (c.warning, c.critical, c.hysteresis);
        match current {
            Level::Critical if f >= k - h => Level::Critical,
            Level::Critical | Level::Warning if f >= k => Level::Critical,
            Level::Critical | Level::Warning if f >= w - h => Level::Warning,
            Level::Normal if f >= k => Level::Critical,
            Level::Normal if f >= w => Level::Warning,
            _ => Level::Normal,
        }
    }

    /// Bytes per ms at which memory grows, from `(t, used)` points of the trend window, or `None` when it is not
    /// growing steadily: the window must be at least half full, and the most recent half of it must be rising
    /// too (the newer half of the points). The second rule keeps a finished ramp (weights loading, then a flat plateau) from predicting a full
    /// GPU for a minute after it has stopped growing.
    fn growth_rate(&self, points: &[(u64, u64)], now: u64) -> Option<f64> {
        let window_ms = self.config.trend_window_s * 1000;
        let first = points.first()?.0;
        if now.saturating_sub(first) < window_ms / 2 {
            return None;
        }
        // The recent half of the data we have (the window may not be full yet).
        let half = first + now.saturating_sub(first) / 2;
        let recent_from = points.partition_point(|(t, _)| *t < half);
        let recent = slope(points.get(recent_from..)?).filter(|s| *s > 0.0)?;
        slope(points)
            .filter(|s| *s > 0.0)
            .map(|whole| whole.min(recent))
    }

    /// Assesses `snapshot`, which must already be in `history` (the trend and idle times are read from it).
    pub fn evaluate(&mut self, snapshot: &Snapshot, history: &History) -> Assessment {
        let now = snapshot.taken_at.0;
        let mut out = Assessment::default();
        let idle = history.idle(now);
        for g in &snapshot.gpus {
            let current = self.levels.get(&g.index).copied().unwrap_or_default();
            if g.status == GpuStatus::Lost {
                self.lost(g.index, current, &mut out);
                continue;
            }
            // Back from lost: the level follows fullness afresh, as for a GPU seen for the first time.
            let from = if current == Level::Lost {
                Level::Normal
            } else {
                current
            };
            let m = g.memory;
            let fullness = match (m.total_bytes, m.free_bytes) {
                (Some(total), Some(free)) if total > 0 && g.status == GpuStatus::Ok => {
                    Some(total.saturating_sub(free) as f64 / total as f64)
                }
                _ => None,
            };
            let level = fullness.map_or(from, |f| self.next_level(from, f));
            if level != current {
                let pct = fullness.map_or(String::new(), |f| format!(" ({:.1}% full)", f * 100.0));
                let message_key = change_message(g.index, current == Level::Lost, level, fullness);
                out.changes.push(LevelChange {
                    gpu: g.index,
                    from: current,
                    to: level,
                    message: if current == Level::Lost {
                        format!(
                            "GPU {} answers again; memory {}{pct}",
                            g.index,
                            level_words(level)
                        )
                    } else {
                        format!("GPU {} memory {}{pct}", g.index, level_words(level))
                    },
                    message_key: Some(message_key),
                });
                self.levels.insert(g.index, level);
            }
            let rate = self.growth_rate(
                &history.gpu_used_since(
                    g.index,
                    now.saturating_sub(self.config.trend_window_s * 1000),
                ),
                now,
            );
            let time_to_full_ms = match (rate, m.free_bytes) {
                (Some(rate), Some(free)) if g.status == GpuStatus::Ok => {
                    Some((free as f64 / rate) as u64)
                }
                _ => None,
            };
            out.gpus.push(GpuAlert {
                gpu: g.index,
                level,
                fullness,
                time_to_full_ms,
            });
            let soon = time_to_full_ms.is_some_and(|ms| ms <= self.config.horizon_s * 1000);
            if level >= Level::Warning || soon {
                self.recommend(
                    g,
                    &idle,
                    time_to_full_ms,
                    history,
                    now,
                    &mut out.recommendations,
                );
            }
        }
        out
    }

    /// A lost GPU is its own level, with what to do about it; there is no fullness or trend to speak of.
    fn lost(&mut self, gpu: u32, current: Level, out: &mut Assessment) {
        if current != Level::Lost {
            out.changes.push(LevelChange {
                gpu,
                from: current,
                to: Level::Lost,
                message: format!("GPU {gpu} {}", level_words(Level::Lost)),
                message_key: Some(Message::new(Key::AlertLevelLost).count("gpu", gpu.into())),
            });
            self.levels.insert(gpu, Level::Lost);
        }
        out.gpus.push(GpuAlert {
            gpu,
            level: Level::Lost,
            fullness: None,
            time_to_full_ms: None,
        });
        out.recommendations.push(Recommendation {
            gpu,
            action: Action::CheckGpu { gpu },
            reason: format!(
                "GPU {gpu} stopped answering the driver, and the processes on it have lost their GPU memory. \
                 `nvidia-smi -q -i {gpu}` and the kernel log (`sudo dmesg | grep -i xid`) say why (an Xid error \
                 code); once nothing uses it, `sudo nvidia-smi -r -i {gpu}` resets it, else reboot. Headroom keeps \
                 retrying and shows it again when it answers."
            ),
            reason_message: Some(Message::new(Key::RecCheckGpu).count("gpu", gpu.into())),
        });
    }

    fn recommend(
        &mut self,
        g: &super::GpuSample,
        idle: &[super::history::ProcessIdle],
        time_to_full_ms: Option<u64>,
        history: &History,
        now: u64,
        out: &mut Vec<Recommendation>,
    ) {
        let c = self.config;
        for p in idle.iter().filter(|p| p.gpu == g.index) {
            let held = p.used_bytes.unwrap_or(0);
            if p.idle_ms >= c.idle_after_s * 1000 && held >= c.idle_min_bytes {
                out.push(Recommendation {
                    gpu: g.index,
                    action: Action::StopProcess {
                        pid: p.pid,
                        held_bytes: held,
                        idle_ms: p.idle_ms,
                    },
                    reason: format!(
                        "{} (pid {}) holds {:.1} GiB and has been idle for {} min",
                        p.name.as_deref().unwrap_or("a process"),
                        p.pid,
                        held as f64 / GIB as f64,
                        p.idle_ms / 60_000
                    ),
                    reason_message: Some(
                        match p.name.as_deref() {
                            Some(name) => Message::new(Key::RecStopIdle).text("name", name),
                            None => Message::new(Key::RecStopIdleUnnamed),
                        }
                        .text("pid", p.pid.to_string())
                        .bytes("held", held)
                        .duration_ms("idle", p.idle_ms),
                    ),
                });
            }
        }
        let procs = g.processes.as_deref().unwrap_or(&[]);
        for p in procs {
            let Some(a) = p.allocator else { continue };
            let cached = a.reserved_bytes.saturating_sub(a.allocated_bytes);
            if cached >= GIB && cached as f64 >= 0.2 * a.reserved_bytes as f64 {
                out.push(Recommendation {
                    gpu: g.index,
                    action: Action::SetEnv {
                        pid: p.pid,
                        name: "PYTORCH_CUDA_ALLOC_CONF".into(),
                        value: "expandable_segments:True".into(),
                    },
                    reason: format!(
                        "pid {}: PyTorch reserved {:.1} GiB but only {:.1} GiB is allocated; expandable segments \
                         let the allocator reuse that fragmented cache",
                        p.pid,
                        a.reserved_bytes as f64 / GIB as f64,
                        a.allocated_bytes as f64 / GIB as f64
                    ),
                    reason_message: Some(
                        Message::new(Key::RecExpandableSegments)
                            .text("pid", p.pid.to_string())
                            .bytes("reserved", a.reserved_bytes)
                            .bytes("allocated", a.allocated_bytes),
                    ),
                });
            }
        }
        // The process whose memory grew most over the trend window is the run to change.
        let since = now.saturating_sub(c.trend_window_s * 1000);
        let grower = procs
            .iter()
            .filter_map(|p| {
                let pts = history.process_used_since(g.index, p.pid, since);
                let first = pts.first()?.1;
                let last = pts.last()?.1;
                (last > first).then(|| (p.pid, last - first))
            })
            .max_by_key(|(_, grew)| *grew);
        if let Some((pid, grew)) = grower {
            let when = time_to_full_ms.map_or(String::new(), |ms| {
                format!("; full in about {} s", ms / 1000)
            });
            out.push(Recommendation {
                gpu: g.index,
                action: Action::EnableGradientCheckpointing { pid },
                reason: format!(
                    "pid {pid} grew by {:.1} GiB in the last {} s{when}; gradient checkpointing keeps far fewer activations",
                    grew as f64 / GIB as f64,
                    c.trend_window_s
                ),
                reason_message: Some(match time_to_full_ms {
                    Some(ms) => Message::new(Key::RecCheckpointingFull).duration_ms("full_in", ms),
                    None => Message::new(Key::RecCheckpointing),
                }
                .text("pid", pid.to_string())
                .bytes("grew", grew)
                .duration_ms("window", c.trend_window_s * 1000)),
            });
            let link = procs
                .iter()
                .find(|p| p.pid == pid)
                .and_then(|p| p.model.as_ref());
            let advice = link.map(|l| self.advice_for(pid, l, g.memory.total_bytes));
            if let Some(rec) = switch_preset(g.index, pid, link, advice) {
                out.push(rec);
            }
        }
    }
}

/// What a run is told to switch to when no estimate backs the advice: where the launcher's default chain puts
/// `int4_double`. A run already there or past it (`int4_offload`) gains nothing from the switch.
const STRICTER_PRESET: &str = "int4_double";

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / GIB as f64)
}

fn switch_preset(
    gpu: u32,
    pid: u32,
    link: Option<&ModelLink>,
    advice: Option<Advice>,
) -> Option<Recommendation> {
    let current = link.and_then(|l| l.preset.clone());
    let (Some(link), Some(advice)) = (link, advice) else {
        return Some(Recommendation {
            gpu,
            action: Action::SwitchPreset {
                pid,
                preset: STRICTER_PRESET.into(),
                model: None,
                current_preset: current,
            },
            reason: format!(
                "pid {pid}: 4-bit NF4 weights with double quantization (QLoRA) take about a quarter of 16-bit \
                 weights; Headroom cannot tell which model it loads (launch it from Runs, or pass \
                 --model_name_or_path), so switch that model's config by hand"
            ),
            reason_message: Some(Message::new(Key::RecSwitchUnlinked).text("pid", pid.to_string())),
        });
    };
    let launched = current
        .as_deref()
        .map_or(String::new(), |c| format!(", launched with {c}"));
    // The message names the run's preset when Headroom launched it, in a key of its own.
    let message = |plain: Key, from: Key| {
        match current.as_deref() {
            Some(c) => Message::new(from).text("current", c),
            None => Message::new(plain),
        }
        .text("model", link.id.as_str())
        .text("pid", pid.to_string())
    };
    let (preset, why, reason_message) = match advice {
        Advice::Fits {
            preset,
            skipped,
            usable_bytes,
            batch_size,
            sequence_length,
        } => {
            let passed = if skipped.is_empty() {
                String::new()
            } else {
                format!(" ({skipped})")
            };
            let why = format!(
                "estimated at batch {batch_size} × {sequence_length} tokens with {} of this GPU usable, {preset} \
                 is the first step of its chain that fits{passed}",
                gib(usable_bytes)
            );
            let reason_message = message(Key::RecSwitchFits, Key::RecSwitchFitsFrom)
                .text("preset", preset.as_str())
                .bytes("usable", usable_bytes)
                .count("batch", batch_size)
                .count("sequence", sequence_length);
            (preset, why, reason_message)
        }
        Advice::NoneFits { .. } | Advice::EndOfChain => return None,
        Advice::Unknown(reason) => {
            let chain = &crate::presets::model_config::DEFAULT_FALLBACK_CHAIN;
            let target = chain.iter().position(|p| *p == STRICTER_PRESET)?;
            if current
                .as_deref()
                .and_then(|c| chain.iter().position(|p| *p == c))
                .is_some_and(|i| i >= target)
            {
                return None;
            }
            let why = format!(
                "4-bit NF4 weights with double quantization (QLoRA) take about a quarter of 16-bit weights; \
                 not checked against this GPU because {reason}"
            );
            let reason_message =
                message(Key::RecSwitchLinked, Key::RecSwitchLinkedFrom).text("reason", reason);
            (STRICTER_PRESET.to_string(), why, reason_message)
        }
    };
    Some(Recommendation {
        gpu,
        action: Action::SwitchPreset {
            pid,
            preset,
            model: Some(link.id.clone()),
            current_preset: current,
        },
        reason: format!(
            "{} (pid {pid}{launched}): {why}; switching its config takes effect at its next launch",
            link.id
        ),
        reason_message: Some(reason_message),
    })
}

/// A level change as a message: the level reached, with the fullness when it was read, and whether the GPU has
/// just come back from being lost.
fn change_message(gpu: u32, back: bool, level: Level, fullness: Option<f64>) -> Message {
    let key = match (back, level, fullness.is_some()) {
        (_, Level::Lost, _) => Key::AlertLevelLost,
        (false, Level::Normal, false) => Key::AlertLevelNormal,
        (false, Level::Normal, true) => Key::AlertLevelNormalPercent,
        (true, Level::Normal, false) => Key::AlertBackNormal,
        (true, Level::Normal, true) => Key::AlertBackNormalPercent,
        // Warning and critical are only reached from a reading, so the fullness is there.
        (_, Level::Warning | Level::Critical, false) => Key::AlertLevelUnread,
        (false, Level::Warning, true) => Key::AlertLevelWarning,
        (false, Level::Critical, true) => Key::AlertLevelCritical,
        (true, Level::Warning, true) => Key::AlertBackWarning,
        (true, Level::Critical, true) => Key::AlertBackCritical,
    };
    let message = Message::new(key).count("gpu", gpu.into());
    match fullness {
        Some(f) if key != Key::AlertLevelUnread => message.number("percent", f * 100.0, 1),
        _ => message,
    }
}

fn level_words(level: Level) -> &'static str {
    match level {
        Level::Normal => "back to normal",
        Level::Warning => "is running low (warning)",
        Level::Critical => "is almost full (critical)",
        Level::Lost => "is lost: it stopped answering the driver",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_of_a_line() {
        let pts: Vec<(u64, u64)> = (0..10)
            .map(|i| (1_000_000 + i * 1000, 5_000 + i * 2000))
            .collect();
        let s = slope(&pts).unwrap();
        assert!((s - 2.0).abs() < 1e-9, "{s}");
        assert_eq!(slope(&pts[..2]), None);
    }

    #[test]
    fn hysteresis_keeps_the_level_near_the_line() {
        let e = AlertEngine::new(AlertConfig::default()).unwrap();
        assert_eq!(e.next_level(Level::Normal, 0.84), Level::Normal);
        assert_eq!(e.next_level(Level::Normal, 0.86), Level::Warning);
        assert_eq!(e.next_level(Level::Warning, 0.83), Level::Warning);
        assert_eq!(e.next_level(Level::Warning, 0.81), Level::Normal);
        assert_eq!(e.next_level(Level::Warning, 0.96), Level::Critical);
        assert_eq!(e.next_level(Level::Critical, 0.93), Level::Critical);
        assert_eq!(e.next_level(Level::Critical, 0.91), Level::Warning);
        assert_eq!(e.next_level(Level::Critical, 0.5), Level::Normal);
        assert_eq!(e.next_level(Level::Normal, 0.99), Level::Critical);
    }

    #[test]
    fn bad_thresholds_name_the_field() {
        let err = AlertEngine::new(AlertConfig {
            warning: 0.9,
            critical: 0.8,
            ..AlertConfig::default()
        })
        .err()
        .unwrap()
        .to_string();
        assert!(err.starts_with("critical:"), "{err}");
    }
}
