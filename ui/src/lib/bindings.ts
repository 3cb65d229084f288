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

export type Revision = string | null;

export type Purpose = "production" | "debug" | "other";

export type Setting = { name: string, value: string | null, };

export type Profile = { name: string, description: string, purpose: Purpose, variables: Array<Setting>, };

export type VariableInfo = { name: string, 
/**
 * What the variable does.
 */
effect: string, 
/**
 * What it costs when set (speed, memory, disk, nothing).
 */
cost: string, 
/**
 * Where the statement comes from.
 */
source: string, 
/**
 * True when the setting belongs in a debug session only.
 */
debug_only: boolean, };

export type SettingView = { name: string, value: string | null, info: VariableInfo | null, };

export type ProfileView = { name: string, description: string, purpose: Purpose, builtin: boolean, variables: Array<SettingView>, 
/**
 * `None` for a built-in profile, which has no file.
 */
revision: Revision | null, };

export type ProfileSummary = { name: string, purpose: Purpose, builtin: boolean, description: string, };

export type ProfileList = { profiles: Array<ProfileSummary>, quarantined: Array<Quarantine>, };

export type Severity = "info" | "warning" | "error";

export type Fix = { "action": "set", variable: string, value: string, } | { "action": "unset", variable: string, };

export type Rule = "debug_setting_in_production" | "debug_setting_on" | "compile_time_only" | "visible_devices_without_pci_order" | "no_visible_devices" | "allocator_contradiction" | "allocator_invalid_value" | "allocator_unknown_key" | "allocator_alias_shadowed" | "allocator_ignored" | "differs_from_profile";

export type Finding = { severity: Severity, rule: Rule, variable: string, message: string, fix: Fix | null, };

export type Report = { 
/**
 * The profile the environment was checked against, if any.
 */
profile: string | null, 
/**
 * Worst first.
 */
findings: Array<Finding>, };

export type ExportFormat = "dotenv" | "shell";

export type DoctorSource = { "kind": "app" } | { "kind": "file", path: string, } | { "kind": "process", pid: number, };

export type DoctorResult = { report: Report, 
/**
 * Lines of a file that were not assignments and were skipped (1-based).
 */
skipped_lines: Array<number>, 
/**
 * How many variables were read.
 */
variables: number, };

export type Stream = "stdout" | "stderr";

export type ExitInfo = { code: number | null, signal: number | null, };

export type OomMarker = "cuda_out_of_memory" | "torch_out_of_memory_error" | "cublas_alloc_failed" | "cuda_error_out_of_memory";

export type OomDetails = { marker: OomMarker, 
/**
 * The line the marker was found on (truncated to 1000 characters).
 */
message: string, gpu_index: number | null, requested_bytes: number | null, total_capacity_bytes: number | null, free_bytes: number | null, allocated_by_pytorch_bytes: number | null, reserved_unallocated_bytes: number | null, };

export type Outcome = "succeeded" | "failed" | "chain_exhausted" | "cancelled";

export type NextStep = { "kind": "stop" } | { "kind": "retry_with_expandable_segments" } | { "kind": "next_preset", preset: string, };

export type AttemptRecord = { 
/**
 * 0-based position among the run's attempts.
 */
index: number, preset: string, 
/**
 * True on the retry that turned on `expandable_segments:True` (and every attempt after it).
 */
expandable_segments: boolean, 
/**
 * How the child's environment differed from the launcher's: set (`Some`) or removed (`None`). Only the
 * difference is kept, so secrets in the user's own environment are not copied to disk.
 */
environment: { [key in string]: string | null }, pid: number | null, started_unix_ms: number, duration_ms: number, exit: ExitInfo, cancelled: boolean, oom: OomDetails | null, 
/**
 * Peak GPU memory of the process tree, when a monitor measured it.
 */
measured_peak_bytes: number | null, 
/**
 * The estimator's device peak for this preset, when the caller had one.
 */
predicted_peak_bytes: number | null, log_file: string, next: NextStep, };

export type RunRecord = { run_id: string, model: string, profile: string, chain: Array<string>, argv: Array<string>, cwd: string, started_unix_ms: number, attempts: Array<AttemptRecord>, 
/**
 * `None` while the run is going (or if the launcher died).
 */
outcome: Outcome | null, };

export type RunList = { 
/**
 * Newest first.
 */
runs: Array<RunRecord>, quarantined: Array<Quarantine>, };

export type LaunchEvent = { "event": "run_started", run_id: string, dir: string, } | { "event": "attempt_started", index: number, preset: string, pid: number, expandable_segments: boolean, } | { "event": "output", attempt: number, stream: Stream, line: string, } | { "event": "attempt_finished", attempt: AttemptRecord, };

export type StartRun = { model: string, argv: Array<string>, cwd: string, profile: string, chain: Array<string>, };

export type RunUpdate = { run_id: string, events: Array<LaunchEvent>, 
/**
 * Output lines left out of this batch to keep it small (they are in the attempt's log file).
 */
dropped_lines: number, 
/**
 * The final record, once the run has ended.
 */
finished: RunRecord | null, 
/**
 * Why the run stopped early (a file could not be written), once it has.
 */
error: IpcError | null, };

export type RunDefaults = { 
/**
 * The model's saved chain (its chosen preset first), else the default chain.
 */
chain: Array<string>, 
/**
 * True when `chain` comes from the model's saved config.
 */
saved: boolean, 
/**
 * Every preset the launcher can hand over (built-in and user).
 */
presets: Array<string>, 
/**
 * The app's working directory, a starting point for the form.
 */
cwd: string, };

export type LogTail = { text: string, 
/**
 * True when the log is longer than what is shown (the start is cut).
 */
truncated: boolean, };
