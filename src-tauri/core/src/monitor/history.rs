//! Bounded history in bytes per GPU and per process: a column store of fixed-capacity rings (one column per
//! field, one row per sample), so memory is known in advance and nothing grows over a long run (the layout of
//! bottom's `src/app/data/time_series.rs`, with a hard capacity instead of pruning by age).
//!
//! Rows: every snapshot appends one row to the shared time column and to every GPU's columns; a GPU that was lost
//! or absent gets a row with its validity bits clear (a gap). Process series get a row only when the process list
//! was read (every 2 to 5 s), so they have their own time column and a smaller capacity.
//!
//! The bound ([`HistoryConfig::memory_bound_bytes`]) is computed from the capacities: 24 h at 1 Hz for 8 GPUs with
//! the default 64 process series of 24 h at 0.5 Hz is about 69 MB.

use std::collections::BTreeMap;
use std::mem::size_of;

use serde::{Deserialize, Serialize};

use super::decimate::{MinMax, Points};
use super::{GpuStatus, Snapshot, Timestamp};
use crate::{Error, Result};

/// A fixed-capacity ring: the oldest row is overwritten once full. Capacity is allocated up front, so the
/// memory a history will take is known when it is created.
#[derive(Debug, Clone)]
struct Ring<T> {
    buf: Vec<T>,
    cap: usize,
    head: usize,
}

impl<T: Copy> Ring<T> {
    fn new(cap: usize) -> Self {
        Ring {
            buf: Vec::with_capacity(cap),
            cap,
            head: 0,
        }
    }

    /// A ring that already holds `len` copies of `value`, its oldest at `head`: the same layout as another ring
    /// of the same capacity with that length and head.
    fn filled(cap: usize, len: usize, head: usize, value: T) -> Self {
        let mut buf = Vec::with_capacity(cap);
        buf.resize(len.min(cap), value);
        Ring {
            buf,
            cap,
            head: if len >= cap { head % cap.max(1) } else { 0 },
        }
    }

    /// Physical slices holding rows `lo..hi`, oldest first (the second is empty unless the range wraps).
    fn slices(&self, lo: usize, hi: usize) -> (&[T], &[T]) {
        let n = self.buf.len();
        let (hi, lo) = (hi.min(n), lo.min(hi.min(n)));
        let (older, newer) = (&self.buf[self.head.min(n)..], &self.buf[..self.head.min(n)]);
        let split = older.len();
        if hi <= split {
            (&older[lo..hi], &[])
        } else if lo >= split {
            (&newer[lo - split..hi - split], &[])
        } else {
            (&older[lo..], &newer[..hi - split])
        }
    }

    fn push(&mut self, v: T) {
        if self.buf.len() < self.cap {
            self.buf.push(v);
        } else if let Some(slot) = self.buf.get_mut(self.head) {
            *slot = v;
            self.head = (self.head + 1) % self.cap;
        }
    }

    fn len(&self) -> usize {
        self.buf.len()
    }

    fn get(&self, i: usize) -> Option<T> {
        if i >= self.buf.len() {
            return None;
        }
        self.buf.get((self.head + i) % self.cap.max(1)).copied()
    }

    fn last(&self) -> Option<T> {
        self.len().checked_sub(1).and_then(|i| self.get(i))
    }

    /// Rows `lo..hi` in order, without a modulo per row.
    fn range(&self, lo: usize, hi: usize) -> impl Iterator<Item = T> + Clone + '_ {
        let (a, b) = (
            &self.buf[self.head.min(self.buf.len())..],
            &self.buf[..self.head.min(self.buf.len())],
        );
        a.iter()
            .chain(b.iter())
            .copied()
            .skip(lo)
            .take(hi.saturating_sub(lo))
    }

    fn heap_bytes(&self) -> usize {
        self.buf.capacity() * size_of::<T>()
    }
}

/// How much history to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct HistoryConfig {
    /// Rows per GPU: 86,400 is 24 h at the default 1 s interval.
    pub capacity: u32,
    /// Rows per process series: 43,200 is 24 h at the default 2 s process interval.
    pub process_capacity: u32,
    /// Process series kept at once; the one seen least recently is dropped for a new one.
    pub max_process_series: u32,
    /// GPUs kept (an index at or above this is not recorded in history; it is still in snapshots).
    pub max_gpus: u32,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            capacity: 86_400,
            process_capacity: 43_200,
            max_process_series: 64,
            max_gpus: 16,
        }
    }
}

/// The most GPUs a history keeps (a Prometheus source of 32 hosts × 8 GPUs).
pub const MAX_HISTORY_GPUS: u32 = 256;
/// GPU rows a history may hold in all: 64 GPUs × 24 h at 1 Hz (about 170 MB at [`GPU_ROW_BYTES`]).
const GPU_ROWS_BUDGET: u64 = 64 * 86_400;

/// Bytes per GPU row: used, reserved and total (u64 each), power in mW (u32), utilization, temperature and the
/// validity bits (u8 each).
pub const GPU_ROW_BYTES: usize = 3 * size_of::<u64>() + size_of::<u32>() + 3 * size_of::<u8>();
/// Bytes per process row: time and used (u64 each), validity (u8).
pub const PROCESS_ROW_BYTES: usize = 2 * size_of::<u64>() + size_of::<u8>();
/// Longest command line kept per process series; the full one is in the live snapshot.
pub const MAX_COMMAND_BYTES: usize = 512;
/// Allowance per process series for its name, user and command strings.
const PROCESS_STRINGS_BYTES: usize = MAX_COMMAND_BYTES + 2 * 64;

impl HistoryConfig {
    pub fn validate(&self) -> Result<()> {
        if self.capacity < 2 || self.capacity > 10_000_000 {
            return Err(Error::invalid("capacity", "use 2 to 10,000,000 rows"));
        }
        if self.process_capacity < 2 || self.process_capacity > 10_000_000 {
            return Err(Error::invalid(
                "process_capacity",
                "use 2 to 10,000,000 rows",
            ));
        }
        if self.max_process_series > 1024 {
            return Err(Error::invalid("max_process_series", "use at most 1024"));
        }
        if self.max_gpus == 0 || self.max_gpus > MAX_HISTORY_GPUS {
            return Err(Error::invalid(
                "max_gpus",
                format!("use 1 to {MAX_HISTORY_GPUS}"),
            ));
        }
        // Past 64 GPUs (a fleet read from Prometheus) the rows per GPU shrink to keep the memory of 64 × 24 h.
        if self.max_gpus > 64
            && u64::from(self.max_gpus) * u64::from(self.capacity) > GPU_ROWS_BUDGET
        {
            return Err(Error::invalid(
                "max_gpus",
                format!(
                    "{} GPUs × {} rows is more history than 64 GPUs × 24 h at 1 Hz: keep fewer rows per GPU",
                    self.max_gpus, self.capacity
                ),
            ));
        }
        Ok(())
    }

    /// History for `gpus` GPUs (at most [`MAX_HISTORY_GPUS`]) within the same memory as 64 GPUs × 24 h at 1 Hz:
    /// a fleet of 32 hosts × 8 GPUs keeps 6 h per GPU instead of 24, and every GPU keeps one.
    pub fn for_many_gpus(self, gpus: u32) -> Self {
        let max_gpus = gpus.clamp(self.max_gpus, MAX_HISTORY_GPUS);
        let rows_each = GPU_ROWS_BUDGET / u64::from(max_gpus);
        HistoryConfig {
            max_gpus,
            capacity: self
                .capacity
                .min(u32::try_from(rows_each).unwrap_or(u32::MAX)),
            ..self
        }
    }

    /// The most heap this history takes with `gpus` GPUs, from the capacities alone: the time column, one row of
    /// [`GPU_ROW_BYTES`] per GPU per row, and every process series full with its strings. Map and struct headers
    /// are under a few KB and not counted.
    pub fn memory_bound_bytes(&self, gpus: usize) -> usize {
        let rows = self.capacity as usize;
        let gpus = gpus.min(self.max_gpus as usize);
        rows * size_of::<u64>()
            + gpus * rows * GPU_ROW_BYTES
            + self.max_process_series as usize
                * (self.process_capacity as usize * PROCESS_ROW_BYTES + PROCESS_STRINGS_BYTES)
    }
}

const V_USED: u8 = 1;
const V_RESERVED: u8 = 2;
const V_TOTAL: u8 = 4;
const V_UTIL: u8 = 8;
const V_TEMP: u8 = 16;
const V_POWER: u8 = 32;

struct GpuColumns {
    name: Option<String>,
    used: Ring<u64>,
    reserved: Ring<u64>,
    total: Ring<u64>,
    power_mw: Ring<u32>,
    util: Ring<u8>,
    temp: Ring<u8>,
    valid: Ring<u8>,
}

impl GpuColumns {
    /// Columns for a GPU first seen when the time column held `len` rows starting at `head`: filled with gaps
    /// and laid out exactly like the time column (same head), so a row range is the same slices in every column
    /// and downsampling can walk plain slices.
    fn new(cap: usize, len: usize, head: usize) -> Self {
        GpuColumns {
            name: None,
            used: Ring::filled(cap, len, head, 0),
            reserved: Ring::filled(cap, len, head, 0),
            total: Ring::filled(cap, len, head, 0),
            power_mw: Ring::filled(cap, len, head, 0),
            util: Ring::filled(cap, len, head, 0),
            temp: Ring::filled(cap, len, head, 0),
            valid: Ring::filled(cap, len, head, 0),
        }
    }

    fn push_gap(&mut self) {
        self.used.push(0);
        self.reserved.push(0);
        self.total.push(0);
        self.power_mw.push(0);
        self.util.push(0);
        self.temp.push(0);
        self.valid.push(0);
    }

    fn heap_bytes(&self) -> usize {
        self.used.heap_bytes()
            + self.reserved.heap_bytes()
            + self.total.heap_bytes()
            + self.power_mw.heap_bytes()
            + self.util.heap_bytes()
            + self.temp.heap_bytes()
            + self.valid.heap_bytes()
            + self.name.as_ref().map_or(0, String::capacity)
    }
}

/// Which process series: a PID on a GPU.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ts_rs::TS,
)]
pub struct ProcessKey {
    pub gpu: u32,
    pub pid: u32,
}

struct ProcessSeries {
    name: Option<String>,
    user: Option<String>,
    command: Option<String>,
    t: Ring<u64>,
    used: Ring<u64>,
    valid: Ring<u8>,
    first_seen: u64,
    last_seen: u64,
    /// The last time the process looked busy (see [`History::idle`]).
    last_active: u64,
    present: bool,
}

impl ProcessSeries {
    fn heap_bytes(&self) -> usize {
        self.t.heap_bytes()
            + self.used.heap_bytes()
            + self.valid.heap_bytes()
            + [&self.name, &self.user, &self.command]
                .iter()
                .map(|s| s.as_ref().map_or(0, String::capacity))
                .sum::<usize>()
    }
}

/// One series of a [`HistoryWindow`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct SeriesWindow {
    pub gpu: u32,
    /// `None` for the GPU's own series.
    pub pid: Option<u32>,
    pub label: String,
    /// The GPU's memory at the end of the window, for the chart's axis.
    pub total_bytes: Option<u64>,
    /// Used bytes over time, downsampled with min/max buckets.
    pub used: Points,
    /// GPU series only: utilization in percent over the same window, downsampled the same way (the Monitor view
    /// draws it beside memory). Absent for process series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub utilization_percent: Option<Points>,
    /// GPU series only: board power in milliwatts (integers, like bytes), downsampled the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub power_mw: Option<Points>,
}

/// What the UI draws: every series in `[from, to]`, downsampled to at most `points` points each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct HistoryWindow {
    pub from: Timestamp,
    pub to: Timestamp,
    pub gpus: Vec<SeriesWindow>,
    pub processes: Vec<SeriesWindow>,
}

/// A process that holds GPU memory and how long it has been idle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct ProcessIdle {
    pub gpu: u32,
    pub pid: u32,
    pub name: Option<String>,
    pub user: Option<String>,
    pub command: Option<String>,
    pub used_bytes: Option<u64>,
    /// Milliseconds since the process last looked busy; measured from when history first saw it, so it is a
    /// lower bound.
    pub idle_ms: u64,
}

/// One narrow GPU column (utilization, power) over rows `lo..hi`, widened to u64 and downsampled like the used
/// bytes: the min/max buckets read u64 slices, and these columns are stored narrower to keep history small.
fn downsample_column<T: Copy + Into<u64>>(
    column: &Ring<T>,
    valid: &Ring<u8>,
    bit: u8,
    (t0, t1): (&[u64], &[u64]),
    (lo, hi): (usize, usize),
    (from, to): (u64, u64),
    points: usize,
) -> Points {
    let mut mm = MinMax::new(hi - lo, from, to, points);
    let (c0, c1) = column.slices(lo, hi);
    let (v0, v1) = valid.slices(lo, hi);
    let wide = |c: &[T]| c.iter().map(|&x| x.into()).collect::<Vec<u64>>();
    mm.push_columns(t0, &wide(c0), v0, |v| v & bit != 0);
    mm.push_columns(t1, &wide(c1), v1, |v| v & bit != 0);
    mm.finish()
}

/// From this many samples in a window on, its series are downsampled on all cores rather than on the calling
/// thread: a 24 h window of 8 GPUs holds 691,200 samples (about 3 ms on one core), while starting a thread costs
/// tens of microseconds, which would dominate a 1-minute window.
const PARALLEL_FROM_SAMPLES: usize = 200_000;

/// `f` over `items`, in order, split across the machine's cores when there are at least
/// [`PARALLEL_FROM_SAMPLES`] samples to read.
fn map_series<T: Sync, R: Send>(items: &[T], samples: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.min(items.len());
    if samples < PARALLEL_FROM_SAMPLES || threads < 2 {
        return items.iter().map(f).collect();
    }
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(items.len().div_ceil(threads))
            .map(|chunk| scope.spawn(move || chunk.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            // A panic in a worker is a bug: let it surface as it would have on this thread.
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

pub struct History {
    config: HistoryConfig,
    time: Ring<u64>,
    gpus: BTreeMap<u32, GpuColumns>,
    processes: BTreeMap<ProcessKey, ProcessSeries>,
}

impl History {
    pub fn new(config: HistoryConfig) -> Result<Self> {
        config.validate()?;
        Ok(History {
            time: Ring::new(config.capacity as usize),
            config,
            gpus: BTreeMap::new(),
            processes: BTreeMap::new(),
        })
    }

    pub fn config(&self) -> HistoryConfig {
        self.config
    }

    pub fn len(&self) -> usize {
        self.time.len()
    }

    pub fn is_empty(&self) -> bool {
        self.time.len() == 0
    }

    pub fn gpu_indices(&self) -> Vec<u32> {
        self.gpus.keys().copied().collect()
    }

    pub fn process_keys(&self) -> Vec<ProcessKey> {
        self.processes.keys().copied().collect()
    }

    /// Heap held now, counted from the columns' allocated capacity.
    pub fn heap_bytes(&self) -> usize {
        self.time.heap_bytes()
            + self
                .gpus
                .values()
                .map(GpuColumns::heap_bytes)
                .sum::<usize>()
            + self
                .processes
                .values()
                .map(ProcessSeries::heap_bytes)
                .sum::<usize>()
    }

    /// Appends a snapshot. Times never go backwards in history: a clock stepped back (NTP) is clamped to the last
    /// row's time so time-range lookups can binary-search.
    pub fn push(&mut self, s: &Snapshot) {
        let t = self
            .time
            .last()
            .map_or(s.taken_at.0, |last| s.taken_at.0.max(last));
        let (rows, head) = (self.time.len(), self.time.head);
        let cap = self.config.capacity as usize;
        self.time.push(t);
        for g in &s.gpus {
            if g.index >= self.config.max_gpus || self.gpus.contains_key(&g.index) {
                continue;
            }
            self.gpus.insert(g.index, GpuColumns::new(cap, rows, head));
        }
        for (index, cols) in self.gpus.iter_mut() {
            let Some(g) = s.gpus.iter().find(|g| g.index == *index) else {
                cols.push_gap();
                continue;
            };
            if g.name.is_some() && cols.name != g.name {
                cols.name.clone_from(&g.name);
            }
            if g.status == GpuStatus::Lost {
                cols.push_gap();
                continue;
            }
            let m = g.memory;
            let mut valid = 0u8;
            let mut bit = |v: bool, b: u8| {
                if v {
                    valid |= b;
                }
            };
            bit(m.used_bytes.is_some(), V_USED);
            bit(m.reserved_bytes.is_some(), V_RESERVED);
            bit(m.total_bytes.is_some(), V_TOTAL);
            bit(g.utilization_percent.is_some(), V_UTIL);
            bit(g.temperature_c.is_some(), V_TEMP);
            bit(g.power_watts.is_some(), V_POWER);
            cols.used.push(m.used_bytes.unwrap_or(0));
            cols.reserved.push(m.reserved_bytes.unwrap_or(0));
            cols.total.push(m.total_bytes.unwrap_or(0));
            cols.util
                .push(g.utilization_percent.unwrap_or(0).min(255) as u8);
            cols.temp.push(g.temperature_c.unwrap_or(0).min(255) as u8);
            cols.power_mw.push(
                g.power_watts
                    .map_or(0, |w| (w * 1000.0).clamp(0.0, u32::MAX as f64) as u32),
            );
            cols.valid.push(valid);
        }
        self.push_processes(t, s);
    }

    fn push_processes(&mut self, t: u64, s: &Snapshot) {
        for g in &s.gpus {
            // `None`: the list was not read this time (or could not be): keep the series as they are.
            let Some(list) = &g.processes else { continue };
            let busy_gpu = g.utilization_percent.is_some_and(|u| u > 0);
            let alone = list.len() == 1;
            for p in list {
                let key = ProcessKey {
                    gpu: g.index,
                    pid: p.pid,
                };
                if !self.processes.contains_key(&key) {
                    self.make_room();
                    if self.config.max_process_series == 0 {
                        continue;
                    }
                    let cap = self.config.process_capacity as usize;
                    self.processes.insert(
                        key,
                        ProcessSeries {
                            name: p.name.clone(),
                            user: p.user.clone(),
                            command: p.command.as_deref().map(truncate_command),
                            t: Ring::new(cap),
                            used: Ring::new(cap),
                            valid: Ring::new(cap),
                            first_seen: t,
                            last_seen: t,
                            last_active: t,
                            present: true,
                        },
                    );
                }
                let Some(series) = self.processes.get_mut(&key) else {
                    continue;
                };
                let previous = if series.valid.last() == Some(1) {
                    series.used.last()
                } else {
                    None
                };
                // Busy: its memory moved since the last reading, or it is alone on a GPU that is computing
                // (NVML's utilization is per GPU, so a busy GPU says nothing about which of several processes ran).
                let changed = previous.is_some() && previous != p.used_bytes;
                if changed || (alone && busy_gpu) {
                    series.last_active = t;
                }
                series.t.push(t);
                series.used.push(p.used_bytes.unwrap_or(0));
                series.valid.push(u8::from(p.used_bytes.is_some()));
                series.last_seen = t;
                series.present = true;
            }
            // Processes of this GPU that were listed before and are gone now: one gap row ends their line.
            for (key, series) in self.processes.iter_mut() {
                if key.gpu == g.index && series.present && series.last_seen < t {
                    series.present = false;
                    series.t.push(t);
                    series.used.push(0);
                    series.valid.push(0);
                }
            }
        }
    }

    fn make_room(&mut self) {
        if self.processes.len() < self.config.max_process_series as usize {
            return;
        }
        let oldest = self
            .processes
            .iter()
            .min_by_key(|(_, s)| (s.present, s.last_seen))
            .map(|(k, _)| *k);
        if let Some(k) = oldest {
            self.processes.remove(&k);
        }
    }

    /// Rows whose time is in `[from, to]`, as a row range.
    fn rows(&self, from: u64, to: u64) -> (usize, usize) {
        (
            lower_bound(&self.time, from),
            lower_bound(&self.time, to.saturating_add(1)),
        )
    }

    /// `(t, used_bytes)` of a GPU's valid rows since `since` (ms), oldest first: the input of the trend fit.
    pub fn gpu_used_since(&self, gpu: u32, since: u64) -> Vec<(u64, u64)> {
        let Some(cols) = self.gpus.get(&gpu) else {
            return Vec::new();
        };
        let (lo, hi) = self.rows(since, u64::MAX - 1);
        self.time
            .range(lo, hi)
            .zip(cols.used.range(lo, hi))
            .zip(cols.valid.range(lo, hi))
            .filter(|(_, v)| v & V_USED != 0)
            .map(|((t, u), _)| (t, u))
            .collect()
    }

    /// `(t, used_bytes)` of one process's valid rows since `since` (ms), oldest first.
    pub fn process_used_since(&self, gpu: u32, pid: u32, since: u64) -> Vec<(u64, u64)> {
        let Some(s) = self.processes.get(&ProcessKey { gpu, pid }) else {
            return Vec::new();
        };
        let (lo, n) = (lower_bound(&s.t, since), s.t.len());
        s.t.range(lo, n)
            .zip(s.used.range(lo, n))
            .zip(s.valid.range(lo, n))
            .filter(|(_, v)| *v != 0)
            .map(|((t, u), _)| (t, u))
            .collect()
    }

    /// Every series in `[from, to]`, each downsampled to at most `points` points with min/max buckets.
    pub fn window(&self, from: Timestamp, to: Timestamp, points: usize) -> HistoryWindow {
        let (lo, hi) = self.rows(from.0, to.0);
        let gpu_list: Vec<_> = self.gpus.iter().collect();
        let gpus = map_series(&gpu_list, (hi - lo) * gpu_list.len(), |&(index, cols)| {
            let mut mm = MinMax::new(hi - lo, from.0, to.0, points);
            let (t0, t1) = self.time.slices(lo, hi);
            let (u0, u1) = cols.used.slices(lo, hi);
            let (v0, v1) = cols.valid.slices(lo, hi);
            mm.push_columns(t0, u0, v0, |v| v & V_USED != 0);
            mm.push_columns(t1, u1, v1, |v| v & V_USED != 0);
            let utilization_percent = downsample_column(
                &cols.util,
                &cols.valid,
                V_UTIL,
                (t0, t1),
                (lo, hi),
                (from.0, to.0),
                points,
            );
            let power_mw = downsample_column(
                &cols.power_mw,
                &cols.valid,
                V_POWER,
                (t0, t1),
                (lo, hi),
                (from.0, to.0),
                points,
            );
            let total = (lo..hi)
                .rev()
                .find(|i| cols.valid.get(*i).is_some_and(|v| v & V_TOTAL != 0))
                .and_then(|i| cols.total.get(i));
            SeriesWindow {
                gpu: *index,
                pid: None,
                label: cols.name.clone().unwrap_or_else(|| format!("GPU {index}")),
                total_bytes: total,
                used: mm.finish(),
                utilization_percent: Some(utilization_percent),
                power_mw: Some(power_mw),
            }
        });
        let process_list: Vec<_> = self
            .processes
            .iter()
            .filter(|(_, s)| s.last_seen >= from.0 && s.first_seen <= to.0)
            .collect();
        let process_samples = process_list.iter().map(|(_, s)| s.t.len()).sum();
        let processes = map_series(&process_list, process_samples, |&(key, s)| {
            let (lo, hi) = (
                lower_bound(&s.t, from.0),
                lower_bound(&s.t, to.0.saturating_add(1)),
            );
            let mut mm = MinMax::new(hi - lo, from.0, to.0, points);
            let (t0, t1) = s.t.slices(lo, hi);
            let (u0, u1) = s.used.slices(lo, hi);
            let (v0, v1) = s.valid.slices(lo, hi);
            mm.push_columns(t0, u0, v0, |v| v != 0);
            mm.push_columns(t1, u1, v1, |v| v != 0);
            SeriesWindow {
                gpu: key.gpu,
                pid: Some(key.pid),
                label: format!("{} ({})", s.name.as_deref().unwrap_or("?"), key.pid),
                total_bytes: self.gpus.get(&key.gpu).and_then(|c| c.total.last()),
                used: mm.finish(),
                utilization_percent: None,
                power_mw: None,
            }
        });
        HistoryWindow {
            from,
            to,
            gpus,
            processes,
        }
    }

    /// Processes that hold GPU memory now, with how long each has been idle at `now` (ms): idle since its memory
    /// last changed or, when it was alone on its GPU, since the GPU last computed. Longest idle first.
    pub fn idle(&self, now: u64) -> Vec<ProcessIdle> {
        let mut out: Vec<ProcessIdle> = self
            .processes
            .iter()
            .filter(|(_, s)| s.present)
            .map(|(key, s)| ProcessIdle {
                gpu: key.gpu,
                pid: key.pid,
                name: s.name.clone(),
                user: s.user.clone(),
                command: s.command.clone(),
                used_bytes: if s.valid.last() == Some(1) {
                    s.used.last()
                } else {
                    None
                },
                idle_ms: now.saturating_sub(s.last_active),
            })
            .collect();
        out.sort_by(|a, b| b.idle_ms.cmp(&a.idle_ms).then(a.pid.cmp(&b.pid)));
        out
    }
}

/// The first row whose time is at least `x` (times in a ring are in order: [`History::push`] clamps them).
fn lower_bound(times: &Ring<u64>, x: u64) -> usize {
    let (mut lo, mut hi) = (0usize, times.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if times.get(mid).is_some_and(|t| t < x) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

fn truncate_command(c: &str) -> String {
    if c.len() <= MAX_COMMAND_BYTES {
        return c.to_string();
    }
    let mut end = MAX_COMMAND_BYTES;
    while !c.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &c[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_split_across_threads_come_back_whole_and_in_order() {
        let items: Vec<u32> = (0..37).collect();
        let square = |x: &u32| u64::from(*x) * u64::from(*x);
        let sequential: Vec<u64> = items.iter().map(square).collect();
        assert_eq!(
            map_series(&items, PARALLEL_FROM_SAMPLES, square),
            sequential
        );
        assert_eq!(map_series(&items, 10, square), sequential);
        assert_eq!(map_series(&items[..1], PARALLEL_FROM_SAMPLES, square), [0]);
        assert!(map_series(&[] as &[u32], PARALLEL_FROM_SAMPLES, square).is_empty());
    }

    #[test]
    fn ring_keeps_the_newest_in_order() {
        let mut r = Ring::new(3);
        for i in 0..5u64 {
            r.push(i);
        }
        assert_eq!(r.range(0, 3).collect::<Vec<_>>(), vec![2, 3, 4]);
        assert_eq!(r.get(0), Some(2));
        assert_eq!(r.last(), Some(4));
        assert_eq!(r.range(1, 2).collect::<Vec<_>>(), vec![3]);
    }

    #[test]
    fn slices_cover_a_wrapped_range_and_filled_rings_share_the_layout() {
        let mut time = Ring::new(5);
        for i in 0..7u64 {
            time.push(i);
        }
        // Rows 0..5 are 2..=6; physically [5, 6, 2, 3, 4] with head 2.
        let (a, b) = time.slices(1, 4);
        assert_eq!([a, b].concat(), vec![3, 4, 5]);
        let (a, b) = time.slices(0, 5);
        assert_eq!([a, b].concat(), vec![2, 3, 4, 5, 6]);
        assert_eq!(time.slices(4, 5).0, &[6]);
        let mut late = Ring::filled(5, time.len(), time.head, 0u64);
        time.push(7);
        late.push(70);
        assert_eq!(time.head, late.head);
        assert_eq!(late.range(0, 5).collect::<Vec<_>>(), vec![0, 0, 0, 0, 70]);
        let (ta, tb) = time.slices(2, 5);
        let (la, lb) = late.slices(2, 5);
        assert_eq!((ta.len(), tb.len()), (la.len(), lb.len()));
    }

    #[test]
    fn long_commands_are_cut_on_a_char_boundary() {
        let long = "é".repeat(600);
        let cut = truncate_command(&long);
        assert!(cut.len() <= MAX_COMMAND_BYTES + "…".len());
    }
}
