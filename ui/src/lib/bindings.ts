// Generated from the Rust types by src-tauri/src/bindings.rs. Do not edit: run
// `UPDATE_BINDINGS=1 cargo test -p headroom bindings` after changing a type.

export type Language = "auto" | "en" | "ja";

export type Theme = "system" | "light" | "dark";

export type Settings = { language: Language, theme: Theme, };

export type Quarantine = { original: string, moved_to: string, reason: string, };

export type AppPaths = { 
/**
 * Settings, presets, per-model configs, environment profiles (`~/.config/headroom` on Linux).
 */
config_dir: string, 
/**
 * Recordings and run history (`~/.local/share/headroom` on Linux).
 */
data_dir: string, 
/**
 * Log files, size-bounded (`<data_dir>/logs`).
 */
log_dir: string, };

export type AppInfo = { version: string, paths: AppPaths, log_file: string, 
/**
 * The OS locale (`LC_ALL`, `LC_MESSAGES`, then `LANG`), used when the language setting is `auto`.
 */
locale: string | null, 
/**
 * Files that could not be read at start-up and were moved aside.
 */
quarantined: Array<Quarantine>, };

export type ErrorCode = "invalid" | "conflict" | "io" | "denied" | "no_driver" | "internal";

export type IpcError = { code: ErrorCode, message: string, };

export type Timestamp = string;

export type GpuStatus = "ok" | "lost";

export type Memory = { total_bytes: number | null, used_bytes: number | null, free_bytes: number | null, reserved_bytes: number | null, };

export type AllocatorStats = { allocated_bytes: number, reserved_bytes: number, };

export type ProcessSample = { pid: number, name: string | null, user: string | null, uid?: number | null, command: string | null, used_bytes: number | null, 
/**
 * PyTorch's caching-allocator counters for this process, when a source knows them (the launcher reports
 * them from inside the run; NVML cannot see them). Used for the fragmentation recommendation.
 */
allocator?: AllocatorStats | null, };

export type GpuSample = { index: number, name: string | null, uuid: string | null, status: GpuStatus, memory: Memory, utilization_percent: number | null, temperature_c: number | null, power_watts: number | null, 
/**
 * Compute processes holding memory on this GPU; `null` when the driver could not list them.
 */
processes: Array<ProcessSample> | null, };

export type Snapshot = { 
/**
 * Which source produced it: `nvml`, `fake:SCENARIO` (a demo) or `replay:FILE`.
 */
source: string, taken_at: Timestamp, gpus: Array<GpuSample>, 
/**
 * What could not be read, and why, in words; each `null` above has an entry here.
 */
unavailable: Array<string>, };

export type Scenario = "idle" | "training" | "leak" | "oom" | "lost";

export type AlertConfig = { 
/**
 * Fraction of a GPU's memory in use at which to warn (0.85).
 */
warning: number, 
/**
 * Fraction at which the alert is critical (0.95).
 */
critical: number, 
/**
 * How far below a threshold fullness must fall to leave its level (0.03).
 */
hysteresis: number, 
/**
 * Seconds of history the trend is fitted over (120).
 */
trend_window_s: number, 
/**
 * Recommend before the GPU is full when the trend says it will be within this many seconds (900).
 */
horizon_s: number, 
/**
 * A process counts as idle after this many seconds without activity (300).
 */
idle_after_s: number, 
/**
 * … and is worth stopping only when it holds at least this much (1 GiB).
 */
idle_min_bytes: number, };

export type Level = "normal" | "warning" | "critical";

export type Action = { "action": "stop_process", pid: number, held_bytes: number, idle_ms: number, } | { "action": "set_env", pid: number, name: string, value: string, } | { "action": "enable_gradient_checkpointing", pid: number, } | { "action": "switch_preset", pid: number, preset: string, };

export type Recommendation = { gpu: number, action: Action, 
/**
 * Why, in words, with the numbers.
 */
reason: string, };

export type GpuAlert = { gpu: number, level: Level, 
/**
 * `(total − free) / total`; `None` when memory could not be read.
 */
fullness: number | null, 
/**
 * When the trend says free memory runs out, in ms from now; `None` when not rising or unknown.
 */
time_to_full_ms: number | null, };

export type LevelChange = { gpu: number, from: Level, to: Level, message: string, };

export type Assessment = { gpus: Array<GpuAlert>, changes: Array<LevelChange>, recommendations: Array<Recommendation>, };

export type Tick = { snapshot: Snapshot, assessment: Assessment, };

export type Points = { t: Array<number>, v: Array<number | null>, };

export type SeriesWindow = { gpu: number, 
/**
 * `None` for the GPU's own series.
 */
pid: number | null, label: string, 
/**
 * The GPU's memory at the end of the window, for the chart's axis.
 */
total_bytes: number | null, 
/**
 * Used bytes over time, downsampled with min/max buckets.
 */
used: Points, };

export type HistoryWindow = { from: Timestamp, to: Timestamp, gpus: Array<SeriesWindow>, processes: Array<SeriesWindow>, };

export type ProcessIdle = { gpu: number, pid: number, name: string | null, user: string | null, command: string | null, used_bytes: number | null, 
/**
 * Milliseconds since the process last looked busy; measured from when history first saw it, so it is a
 * lower bound.
 */
idle_ms: number, };

export type StoppedBy = "sigterm" | "sigkill";

export type StopOutcome = { pid: number, stopped_by: StoppedBy, 
/**
 * GPU memory the process held at its last reading, now released by the driver; `None` when the driver
 * never reported its memory.
 */
freed_bytes: number | null, };

export type SourceRequest = { "kind": "nvml" } | { "kind": "demo", scenario: Scenario, } | { "kind": "replay", path: string, };

export type MonitorStarted = { 
/**
 * `nvml`, `fake:SCENARIO` or `replay:FILE`.
 */
source: string, 
/**
 * True for the fake source: the UI labels everything it shows as demo data.
 */
demo: boolean, interval_ms: number, alerts: AlertConfig, 
/**
 * The user's own UID: only processes with this UID offer "Stop…".
 */
uid: number, };

export type MonitorPush = { "kind": "tick", tick: Tick, 
/**
 * Readings taken since the previous push (1 unless the sampler runs faster than 4 Hz).
 */
readings: number, } | { "kind": "error", message: string, } | { "kind": "ended" };

export type RecordingInfo = { path: string, started_at: Timestamp, 
/**
 * Snapshots written so far.
 */
snapshots: number, };

export type ExportFormat = "csv" | "png" | "svg";

export type Exported = { path: string, 
/**
 * CSV rows written; `null` for a chart.
 */
rows: number | null, };

export type RecordingFile = { name: string, path: string, size_bytes: number, };
