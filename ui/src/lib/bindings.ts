// Generated from the Rust types by src-tauri/src/bindings.rs. Do not edit: run
// `UPDATE_BINDINGS=1 cargo test -p headroom bindings` after changing a type.

export type MessageArg = { "type": "text", "value": string } | { "type": "bytes", "value": number } | { "type": "count", "value": number } | { "type": "number", "value": { value: number, digits: number, } } | { "type": "duration_ms", "value": number } | { "type": "message", "value": Message };

export type Message = { key: string, args: { [key in string]: MessageArg }, };

export type Language = "auto" | "en" | "ja";

export type Theme = "system" | "light" | "dark";

export type Settings = { language: Language, theme: Theme, 
/**
 * Show a desktop notification when a GPU's memory becomes critical (off unless the user turns it on).
 */
notify_on_critical: boolean, 
/**
 * The Python the trace engine runs (an interpreter with torch ≥ 2.4, transformers and peft); `None`
 * searches PATH for the first `python3` or `python` that imports torch.
 */
python_path?: string, 
/**
 * Which figure of an estimate's band decides "fits" for plans that do not say (`fit_on`): its upper end
 * (the default) or the central estimate.
 */
fit_on: FitOn, 
/**
 * Serve the Monitor's readings for Prometheus at this address (`127.0.0.1:9464`), while the Monitor runs;
 * `None` (the default) serves nothing. A token comes from HEADROOM_EXPORTER_TOKEN only, never from here.
 */
exporter_address?: string, };

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

export type ErrorCode = "invalid" | "conflict" | "io" | "denied" | "no_driver" | "driver" | "process" | "trace" | "cancelled" | "internal";

export type IpcError = { code: ErrorCode, message: string, 
/**
 * For `invalid`: the key, form field or path the message is about (`lora.rank`, `variables[2].name`).
 */
field?: string, 
/**
 * For `invalid`: the message without its field, as a key and arguments the UI renders in the person's
 * language (the `message` stays the English, `field: …`); absent where the words come from elsewhere.
 */
message_key?: Message, };

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

export type Finding = { severity: Severity, rule: Rule, variable: string, message: string, 
/**
 * `message` as a message key with arguments, which the UI renders in the user's language.
 */
message_key?: Message, fix: Fix | null, };

export type Report = { 
/**
 * The profile the environment was checked against, if any.
 */
profile: string | null, 
/**
 * Worst first.
 */
findings: Array<Finding>, };

export type ProfileFormat = "dotenv" | "shell";

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

export type Outcome = "succeeded" | "failed" | "chain_exhausted" | "cancelled" | "interrupted";

export type ProcessStamp = { pid: number, 
/**
 * Field 22 of `/proc/PID/stat`: when it started, in clock ticks since boot.
 */
start_ticks: number, };

export type Interruption = { 
/**
 * When it was found.
 */
detected_unix_ms: number, 
/**
 * The attempt's process at the time the launcher died, when the record had it.
 */
process: ProcessStamp | null, 
/**
 * Whether that process was still running when found (`None`: no process was recorded). A process left
 * running has no launcher any more: no OOM fallback, no cancel; stop it yourself.
 */
process_alive: boolean | null, };

export type NextStep = { "kind": "stop" } | { "kind": "retry_with_expandable_segments" } | { "kind": "next_preset", preset: string, micro_batch?: number, grad_accum?: number, };

export type PredictionDetail = { task: Task, 
/**
 * The estimate's `allocated_peak_bytes` and `managed_memory_bytes` (docs/contract.md §2): neither depends
 * on a calibration, so records made under one stay comparable.
 */
allocated_peak_bytes: number, managed_memory_bytes: number, 
/**
 * The band's allowance for changing batch lengths (docs/estimator.md §17), in bytes: 0 where the plan's
 * lengths were known. Absent from records made before it was kept, which then do not count towards what
 * this machine's runs strand.
 */
lengths_doubt_bytes?: number, };

export type CheckpointKind = "transformers" | "lightning" | "litgpt";

export type ResumePoint = { path: string, 
/**
 * The optimizer step it was written at, when its name or its state file says.
 */
step: number | null, kind: CheckpointKind, };

export type SkippedStep = { 
/**
 * Its position in the chain.
 */
step: number, preset: string, micro_batch?: number, 
/**
 * The estimate's central device peak and the upper end of its band (equal without a band).
 */
central_bytes: number, high_bytes: number, 
/**
 * `tight` (the central figure fits the GPU, the deciding one not the usable memory) or `does_not_fit`.
 */
verdict: VerdictKind, };

export type StartChoice = { 
/**
 * The chain position of the first attempt.
 */
step: number, 
/**
 * The user asked to start at the chain's first step.
 */
pinned: boolean, 
/**
 * One GPU's memory less the plan's margin.
 */
usable_bytes: number, fit_on: FitOn, skipped: Array<SkippedStep>, 
/**
 * True when no step fits and the run starts at the last one.
 */
none_fits: boolean, 
/**
 * The same in one English sentence, for the CLI and the log ("fp16 skipped: needs 48.2-55.0 GiB, 44.5
 * GiB usable").
 */
message: string, };

export type DistributedLauncher = "torchrun" | "accelerate";

export type DistributedRun = { launcher: DistributedLauncher, 
/**
 * The argument that keeps the launcher from restarting on its own, as passed (`--max-restarts=0`).
 */
max_restarts_arg: string, 
/**
 * The user's own value the launcher replaced (`--max-restarts 3`), if any.
 */
replaced?: string, };

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
predicted_peak_bytes: number | null, 
/**
 * Why there is no prediction for this preset though the run had a plan (the plan rejects the preset).
 */
predicted_note?: string, 
/**
 * What the machine calibration needs beside the device peak (docs/estimator.md §10.5); absent from
 * records made before it existed and from runs without a prediction.
 */
predicted_detail?: PredictionDetail, log_file: string, next: NextStep, 
/**
 * The chain position this attempt ran (absent from records made before batch steps and start choices).
 */
step?: number, 
/**
 * The micro-batch and gradient accumulation handed over (`HEADROOM_MICRO_BATCH`, `HEADROOM_GRAD_ACCUM`),
 * when the run has a batch.
 */
micro_batch?: number, grad_accum?: number, 
/**
 * The checkpoint this relaunch resumed from (`{resume}`, `HEADROOM_RESUME_FROM`).
 */
resumed_from?: ResumePoint, 
/**
 * The command as this attempt ran it, when it differs from the run's (placeholders filled, the
 * distributed launcher's restarts turned off).
 */
argv?: Array<string>, 
/**
 * True when the launcher stopped the process group itself: a rank of a distributed run died of OOM and
 * the others did not end within the kill grace.
 */
group_stopped?: boolean, };

export type RunRecord = { run_id: string, model: string, profile: string, chain: Array<string>, argv: Array<string>, cwd: string, started_unix_ms: number, attempts: Array<AttemptRecord>, 
/**
 * `None` while the run is going (or if the launcher died and no start has noticed yet).
 */
outcome: Outcome | null, 
/**
 * The process running the launcher, so a later start can tell a run still going from one whose launcher
 * died.
 */
launcher?: ProcessStamp, 
/**
 * The attempt's process while an attempt runs (written when it starts, cleared when it ends).
 */
running?: ProcessStamp, 
/**
 * Set with [`Outcome::Interrupted`].
 */
interruption?: Interruption, 
/**
 * Why the first attempt started where it did in the chain, when the run had estimates to choose by.
 */
start?: StartChoice, 
/**
 * Set for a command started through torchrun or accelerate launch.
 */
distributed?: DistributedRun, 
/**
 * The plan the run's steps were estimated with, when it was started with one (docs/contract.md §1): the
 * Monitor estimates the run's remaining presets with it too.
 */
plan?: Record<string, unknown>, };

export type RunList = { 
/**
 * Newest first.
 */
runs: Array<RunRecord>, quarantined: Array<Quarantine>, };

export type LaunchEvent = { "event": "run_started", run_id: string, dir: string, 
/**
 * When the run started and what it trains, as its record keeps them: what the UI names a run by
 * (date and model) rather than its id.
 */
started_unix_ms: number, model: string, 
/**
 * Why the first attempt starts where it does down the chain, when the run had estimates to choose by.
 */
start?: StartChoice, } | { "event": "attempt_started", index: number, preset: string, pid: number, expandable_segments: boolean, 
/**
 * The estimator's device peak for this preset, where the run has a plan (the live chart's plan line).
 */
predicted_peak_bytes: number | null, 
/**
 * The chain position, the batch handed over and the checkpoint resumed from (see [`AttemptRecord`]).
 */
step?: number, micro_batch?: number, grad_accum?: number, resumed_from?: ResumePoint, } | { "event": "output", attempt: number, stream: Stream, line: string, } | { "event": "attempt_finished", attempt: AttemptRecord, };

export type ProbeReport = { "kind": "sample", pid: number, unix_ms: number, bytes: number | null, } | { "kind": "unavailable", reason: string, };

export type StartRun = { model: string, argv: Array<string>, cwd: string, profile: string, chain: Array<string>, 
/**
 * With `sequence_length`: the plan the estimator predicts each preset's device peak for (task and method
 * from the model's saved config). Both empty: no prediction.
 */
batch_size?: number, sequence_length?: number, 
/**
 * The gradient accumulation the command trains with (default 1); with `batch_size` (the micro-batch) it
 * is what `mb/2` steps halve and double, handed over as `HEADROOM_GRAD_ACCUM`.
 */
grad_accum?: number, 
/**
 * Start at the chain's first step even when the estimate says it does not fit.
 */
pin_start?: boolean, 
/**
 * Where the training writes its checkpoints, when the command does not say with `--output_dir`.
 */
output_dir?: string, 
/**
 * The plan the run trains with (the Plan view's): every step is estimated with its checkpointing, optimizer,
 * precision, GPUs and sharding, and `batch_size`/`sequence_length` default to its own.
 */
plan?: Record<string, unknown>, };

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
error: IpcError | null, 
/**
 * The GPU memory of the attempt's process tree since the last push (NVML every 0.5 s), or why it
 * cannot be measured.
 */
memory: Array<ProbeReport>, };

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

export type OutputLine = { attempt: number, stream: Stream, line: string, };

export type RunSnapshot = { run_id: string, 
/**
 * The run's start and each attempt's start and end so far, in order: what the timeline is drawn from.
 */
attempts: Array<LaunchEvent>, 
/**
 * The newest output lines, oldest first (at most 2,000).
 */
lines: Array<OutputLine>, 
/**
 * Output lines not in `lines` (older ones, and any a batch left out); they are in the log files.
 */
dropped_lines: number, 
/**
 * The live chart's readings of each attempt's process tree, oldest first (at most an hour's).
 */
memory: Array<ProbeReport>, 
/**
 * Why the memory cannot be measured, when the probe said so.
 */
memory_unavailable: string | null, };

export type Timestamp = string;

export type GpuStatus = "ok" | "lost";

export type Memory = { total_bytes: number | null, used_bytes: number | null, free_bytes: number | null, reserved_bytes: number | null, };

export type AllocatorStats = { allocated_bytes: number, reserved_bytes: number, };

export type ProcessSample = { pid: number, name: string | null, user: string | null, uid?: number | null, command: string | null, used_bytes: number | null, 
/**
 * PyTorch's caching-allocator counters for this process, when a source knows them (the launcher reports
 * them from inside the run; NVML cannot see them). Used for the fragmentation recommendation.
 */
allocator?: AllocatorStats | null, 
/**
 * The model it works on, from a Headroom run's environment or a model flag on its command line.
 */
model?: ModelLink | null, };

export type ModelLink = { 
/**
 * The model id (or local path) exactly as the run named it: the key of its per-model config.
 */
id: string, 
/**
 * `HEADROOM_RUN_ID` when Headroom's launcher started the run; `None` when the id came from the command line.
 */
run_id: string | null, 
/**
 * `HEADROOM_PRESET`: the preset the run was launched with, when Headroom launched it.
 */
preset: string | null, 
/**
 * The command-line flag the id was read from, when it came from there.
 */
flag: string | null, 
/**
 * The per-device (micro-)batch size it trains with: `HEADROOM_MICRO_BATCH` when Headroom launched it, else a
 * batch flag on its command line. With the sequence length, what a preset recommendation is estimated at.
 */
batch_size?: number, 
/**
 * The sequence length: `HEADROOM_SEQUENCE_LENGTH`, else a length flag on its command line.
 */
sequence_length?: number, };

export type GpuSample = { index: number, name: string | null, uuid: string | null, status: GpuStatus, memory: Memory, utilization_percent: number | null, temperature_c: number | null, power_watts: number | null, 
/**
 * Compute processes holding memory on this GPU; `null` when the driver could not list them.
 */
processes: Array<ProcessSample> | null, 
/**
 * The host the GPU is on, for a remote source (`index` is then unique across hosts and `host_gpu` is the
 * GPU's own index on its host). Optional key beyond docs/contract.md §4.
 */
host?: string | null, 
/**
 * The GPU's index on its host, for a remote source.
 */
host_gpu?: number | null, 
/**
 * The PCI bus id, as in `00000000:3B:00.0`. Optional key beyond docs/contract.md §4.
 */
pci_bus_id?: string | null, 
/**
 * Other labels a remote source gave the GPU that say where it works: Kubernetes `namespace`, `pod`,
 * `container` from DCGM-exporter. Optional key beyond docs/contract.md §4.
 */
labels?: { [key in string]: string } | null, };

export type Snapshot = { 
/**
 * Which source produced it: `nvml`, `fake:SCENARIO` (a demo) or `replay:FILE`.
 */
source: string, taken_at: Timestamp, gpus: Array<GpuSample>, 
/**
 * What could not be read, and why, in words; each `null` above has an entry here.
 */
unavailable: Array<string>, 
/**
 * The hosts a remote source reads (`prometheus:`, `dcgm:`, `headroom:`), each reachable or not with the reason;
 * absent for a local source. Optional key beyond docs/contract.md §4.
 */
hosts?: Array<HostState> | null, };

export type HostState = { 
/**
 * The host's name: its `hostname` label, else the Prometheus `instance`, else the URL's host and port.
 */
host: string, reachable: boolean, 
/**
 * Why it is unreachable, in words (a timeout, a refused connection, an HTTP status, Prometheus's last scrape
 * error); `null` when reachable.
 */
reason: string | null, };

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

export type Level = "normal" | "warning" | "critical" | "lost";

export type Action = { "action": "stop_process", pid: number, held_bytes: number, idle_ms: number, } | { "action": "set_env", pid: number, name: string, value: string, } | { "action": "enable_gradient_checkpointing", pid: number, } | { "action": "check_gpu", gpu: number, } | { "action": "switch_preset", pid: number, preset: string, model: string | null, 
/**
 * The preset the run was launched with, when Headroom launched it.
 */
current_preset: string | null, };

export type Recommendation = { gpu: number, action: Action, 
/**
 * Why, in words, with the numbers.
 */
reason: string, 
/**
 * `reason` as a message the UI renders in the user's language.
 */
reason_message?: Message, };

export type GpuAlert = { gpu: number, level: Level, 
/**
 * `(total − free) / total`; `None` when memory could not be read.
 */
fullness: number | null, 
/**
 * When the trend says free memory runs out, in ms from now; `None` when not rising or unknown.
 */
time_to_full_ms: number | null, };

export type LevelChange = { gpu: number, from: Level, to: Level, message: string, 
/**
 * `message` as a message the UI renders in the user's language.
 */
message_key?: Message, };

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
used: Points, 
/**
 * GPU series only: utilization in percent over the same window, downsampled the same way (the Monitor view
 * draws it beside memory). Absent for process series.
 */
utilization_percent?: Points, 
/**
 * GPU series only: board power in milliwatts (integers, like bytes), downsampled the same way.
 */
power_mw?: Points, };

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

export type SourceRequest = { "kind": "nvml" } | { "kind": "demo", scenario: Scenario, gpus?: number, } | { "kind": "replay", path: string, } | { "kind": "remote", source: string, };

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

export type HistoryFormat = "csv" | "png" | "svg";

export type Exported = { path: string, 
/**
 * CSV rows written; `null` for a chart.
 */
rows: number | null, 
/**
 * What the user should know about the file: a chart asked for in Japanese whose words are English because
 * no font that draws Japanese was found.
 */
note?: string, 
/**
 * `note` as a message the UI renders in the user's language.
 */
note_message?: Message, };

export type SavedChart = { path: string, 
/**
 * A chart asked for in Japanese whose words are English because no font that draws Japanese was found.
 */
note?: string, 
/**
 * `note` as a message the UI renders in the user's language.
 */
note_message?: Message, };

export type RecordingFile = { name: string, path: string, size_bytes: number, };

export type Components = { weights: number, lora: number, gradients: number, optimizer: number, activations: number, logits: number, kv_cache: number, workspace: number, };

export type PerGpu = { components: Components, 
/**
 * What `torch.cuda.max_memory_allocated()` would report: the sum of `components`.
 */
allocated_peak_bytes: number, allocator_overhead_bytes: number, 
/**
 * What `torch.cuda.max_memory_reserved()` would report: allocated + allocator overhead.
 */
reserved_peak_bytes: number, 
/**
 * CUDA managed memory the caching allocator never sees (bitsandbytes' paged optimizer states).
 */
managed_memory_bytes: number, cuda_context_bytes: number, 
/**
 * What nvidia-smi/NVML would show for the process: reserved + managed + context.
 */
device_peak_bytes: number, 
/**
 * Where the measured totals can fall (docs/estimator.md §17); optional beyond the contract's first version.
 */
range?: PeakRanges, };

export type Range = { low: number, high: number, };

export type PeakRanges = { allocated_peak_bytes: Range, reserved_peak_bytes: Range, device_peak_bytes: Range, };

export type FitOn = "high" | "central";

export type ParameterSummary = { total: number, trainable: number, };

export type Estimate = { per_gpu: PerGpu, 
/**
 * Host RAM the run needs beyond the Python process itself: offloaded optimizer states, parameters,
 * activations, layers a preset keeps on the CPU.
 */
cpu_bytes: number, parameters: ParameterSummary, 
/**
 * Present when the plan gives `gpus`.
 */
fits?: boolean, 
/**
 * GPU memory × (1 − margin) − device peak; negative when it does not fit.
 */
headroom_bytes?: number, notes: Array<string>, 
/**
 * `notes` as messages the UI renders in the user's language: the same length and order as `notes`.
 */
note_messages?: Array<Message>, 
/**
 * Which engine answered (optional beyond the contract's first version).
 */
engine?: EngineKind, 
/**
 * Trace engine only: where the allocated peak happened.
 */
peak?: PeakPlace, 
/**
 * Trace engine only: how the trace ran.
 */
trace?: TraceInfo, 
/**
 * Present when this machine's calibration replaced the default CUDA context and allocator slack
 * (docs/estimator.md §10.5).
 */
machine_calibration?: TaskCalibration, 
/**
 * Present when the plan came from trainer configs (`estimate --from FILE`): what became of each of their
 * keys (docs/trainers.md).
 */
import?: TrainerImportReport, };

export type CalibrationFit = "regression" | "default_context";

export type TaskCalibration = { 
/**
 * CUDA context per process, used instead of the default 500 MiB.
 */
cuda_context_bytes: number, 
/**
 * Reserved-but-free blocks of the caching allocator, in tenths of a percent of the allocated peak, used
 * instead of the default 5% (training) or 2% (inference).
 */
allocator_slack_permille: number, 
/**
 * The runs it rests on.
 */
runs: number, 
/**
 * Training whose batches changed length: the most of the band's allowance for changing lengths (the
 * allocator model's, docs/estimator.md §17) any of this machine's runs needed beyond the calibrated context
 * and slack, in thousandths of it; the band uses this share instead of the whole allowance. `None` with fewer
 * than [`MIN_LENGTHS_RUNS`] such runs.
 */
lengths_share_permille?: number, 
/**
 * The runs with open lengths that share rests on.
 */
lengths_runs: number, 
/**
 * When the oldest and the newest of those runs started.
 */
first_run_unix_ms: number, last_run_unix_ms: number, fit: CalibrationFit, };

export type MachineCalibration = { train: TaskCalibration | null, infer: TaskCalibration | null, };

export type CalibrationStatus = { calibration: MachineCalibration, train_runs: number, infer_runs: number, min_runs: number, reset_unix_ms: number | null, 
/**
 * What an uncalibrated task uses instead (docs/estimator.md §10.3–10.4).
 */
default_cuda_context_bytes: number, default_train_slack_permille: number, default_infer_slack_permille: number, 
/**
 * Why the calibration file could not be read, when it could not (its reset is then ignored; a new reset
 * rewrites it). Unreadable run records are left for the Runs view, which moves them aside and says so.
 */
unreadable: string | null, };

export type WeightFormat = { "kind": "f32" } | { "kind": "f16" } | { "kind": "bf16" } | { "kind": "int8" } | { "kind": "int4", double_quant: boolean, };

export type Placement = "gpu" | "gpu_with_cpu_offload" | "cpu";

export type Limits = { max_batch_size: number | null, max_sequence_length: number | null, };

export type RankedPreset = { preset: string, format: WeightFormat, placement: Placement, fits: boolean, device_peak_bytes: number, headroom_bytes: number, limits: Limits, 
/**
 * What the preset costs in quality or speed, in words.
 */
caveat: string | null, 
/**
 * Why the preset cannot run this plan at all (e.g. quantized weights with full fine-tuning).
 */
unavailable: string | null, 
/**
 * `caveat` as messages the UI renders in the user's language, one per cost.
 */
caveat_messages?: Array<Message>, 
/**
 * `unavailable` as a message the UI renders in the user's language.
 */
unavailable_message?: Message, };

export type Suggestion = { change: string, 
/**
 * `change` as a message the UI renders in the user's language (its `saving` argument in bytes).
 */
change_message?: Message, 
/**
 * The deciding device peak (the band's upper end, or the central figure under `fit_on: central`) after the
 * change minus before: negative is a saving.
 */
delta_bytes: number, 
/**
 * The central device peak after the change.
 */
device_peak_bytes: number, fits: boolean, 
/**
 * The whole plan with the change applied, as docs/contract.md §1 writes it: what "apply" loads.
 */
plan: Record<string, unknown>, };

export type VerdictKind = "fits" | "tight" | "does_not_fit";

export type Verdict = { kind: VerdictKind, bytes: number, };

export type ModelSummary = { id: string, model_type: string, parameters: number, };

export type PlanAnswer = { 
/**
 * The plan with every default filled in, as docs/contract.md §1 writes it (what "save" stores).
 */
plan: Record<string, unknown>, model: ModelSummary, 
/**
 * The preset the weights are sized with (the plan's, or "stored dtype").
 */
preset: string, estimate: Estimate, 
/**
 * Memory of one GPU and what the margin leaves of it; `null` without `gpus`.
 */
gpu_memory_bytes: number | null, usable_bytes: number | null, verdict: Verdict | null, 
/**
 * The largest micro-batch and longest sequence that fit; `null` without `gpus`.
 */
limits: Limits | null, 
/**
 * Every preset ranked for this plan; empty without `gpus`.
 */
ranked: Array<RankedPreset>, 
/**
 * Changes that would make it fit, most helpful first; empty without `gpus`.
 */
suggestions: Array<Suggestion>, };

export type Task = "train" | "infer";

export type Method = "full" | "lora" | "qlora" | "freeze";

export type Framework = "hf_trainer" | "trl" | "axolotl" | "llama_factory" | "litgpt" | "torchtune" | "ms_swift" | "unsloth" | "plain";

export type Precision = "fp32" | "fp16-mixed" | "bf16-mixed" | "bf16-true" | "fp16-true";

export type Optimizer = "adamw" | "adamw_8bit" | "paged_adamw_8bit" | "paged_adamw_32bit" | "sgd" | "sgd_momentum" | "adafactor";

export type AttentionImpl = "eager" | "sdpa" | "flash";

export type KvDtype = "fp32" | "bf16" | "fp16" | "fp8" | "int8" | "int4";

export type Sharding = "none" | "zero1" | "zero2" | "zero3" | "fsdp_full_shard" | "fsdp_shard_grad_op";

export type Offload = "none" | "optimizer" | "optimizer_and_params";

export type PrefillLogits = "last" | "all";

export type LoraFile = { rank?: Count, 
/**
 * A positive number.
 */
alpha?: number, 
/**
 * At least 0 and below 1.
 */
dropout?: number, target_modules?: TargetModules, 
/**
 * `fp32` (PEFT upcasts adapters) or a 16-bit type kept by some frameworks.
 */
dtype?: LoraDtype, };

export type GpusFile = { count: Count, 
/**
 * GiB (2^30 bytes) per GPU.
 */
memory_gib?: number, 
/**
 * Bytes per GPU, for callers that hold an exact figure (a detected GPU's free memory).
 */
memory_bytes?: number, model?: string, };

export type Count = number;

export type Whole = number;

export type PlanFile = { 
/**
 * Read by [`crate::model::ModelRef::from_value`], the one reader of a model reference.
 */
model: { id: string } | { path: string } | { config: Record<string, unknown> }, task: Task, 
/**
 * Train only; default `full`.
 */
method?: Method, 
/**
 * Train only: the training framework, whose defaults fill the keys the plan leaves unset
 * (docs/frameworks.md). Default `hf_trainer`.
 */
framework?: Framework, 
/**
 * A preset name: built-in `fp32`, `bf16`, `fp16`, `int8`, `int4`, `int4_double`, `int4_offload`, `cpu`, or
 * a user preset. Default: the model's stored dtype (`qlora` implies `int4`).
 */
quantization?: string, 
/**
 * Default `bf16-mixed`.
 */
precision?: Precision, 
/**
 * For `lora` and `qlora`.
 */
lora?: LoraFile, 
/**
 * Embeddings and LM head trained in full beside LoRA. Default false.
 */
trainable_embeddings?: boolean, 
/**
 * Default `adamw`.
 */
optimizer?: Optimizer, 
/**
 * The optimizer step fused into backward, gradients freed per parameter. Default false.
 */
optimizer_in_backward?: boolean, 
/**
 * Micro-batch per GPU. Default 1.
 */
batch_size?: Count, 
/**
 * Tokens per sample (the prompt length for `infer`). Default 2048.
 */
sequence_length?: Count, 
/**
 * Training only: the longest sample of each successive micro-batch, when a dataset's lengths vary (a batch
 * padded to its longest sample). Its maximum is `sequence_length` (which defaults to it). Absent: every
 * batch is `sequence_length` long.
 */
sequence_lengths?: Array<Count>, 
/**
 * Default 1.
 */
gradient_accumulation_steps?: Count, 
/**
 * Default false.
 */
gradient_checkpointing?: boolean, 
/**
 * Default `sdpa`.
 */
attention?: AttentionImpl, 
/**
 * Default false.
 */
chunked_loss?: boolean, 
/**
 * Default false.
 */
activation_offload?: boolean, 
/**
 * Tokens generated after the prompt (`infer` only). Default 0.
 */
new_tokens?: Whole, 
/**
 * `infer` only. Default: the compute dtype.
 */
kv_cache_dtype?: KvDtype, 
/**
 * The GPUs of one machine. Omitted: no fit verdict.
 */
gpus?: GpusFile, 
/**
 * Machines, each with `gpus.count` GPUs. Default 1; more than 1 needs `gpus`.
 */
nodes?: Count, 
/**
 * Default `none` (plain data parallel).
 */
sharding?: Sharding, 
/**
 * Default `none`.
 */
offload?: Offload, 
/**
 * Fraction of GPU memory kept free for the fit verdict: at least 0, below 1. Default 0.10.
 */
margin?: number, 
/**
 * Extension: which figure of the estimate's band decides "fits": `high` (its upper end) or `central`.
 * Default `high`.
 */
fit_on?: FitOn, 
/**
 * Extension (`freeze` only): decoder layers trained. Default 2.
 */
freeze_trainable_layers?: Count, 
/**
 * Extension: PEFT's `prepare_model_for_kbit_training` casts non-quantized parameters to fp32. Default: on
 * for training on a quantized base.
 */
kbit_upcast?: boolean, 
/**
 * Extension: quantize `lm_head` too. Default false.
 */
quantize_lm_head?: boolean, 
/**
 * Extension (bitsandbytes presets): the bitsandbytes release the run uses, e.g. `"0.41.3"`. Releases before
 * 0.43.2 keep every 4-bit layer's input for backward. Default: not said; the estimate assumes a later
 * release and the band's upper end allows for an earlier one.
 */
bitsandbytes_version?: string, 
/**
 * Extension (training with gradient checkpointing): `use_reentrant` of `torch.utils.checkpoint`, as
 * `gradient_checkpointing_kwargs` passes it. Default: the framework's.
 */
use_reentrant?: boolean, 
/**
 * Extension (`infer`): logits of the last prompt token only, or of all. Default `last`.
 */
prefill_logits?: PrefillLogits, 
/**
 * Extension (`infer`): the model hands its KV cache back as tuples (transformers before 4.42, remote-code
 * models such as Qwen v1), so each decode step builds every layer's longer cache while the caller still holds
 * the old one. Default false (transformers' `DynamicCache`, which replaces one layer at a time).
 */
legacy_kv_cache?: boolean, 
/**
 * Extension: the run sets `PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True`, so the caching allocator grows
 * one segment per stream and maps freed pages to new requests: changing lengths and blocks freed before
 * larger requests leave nothing reserved beyond the usual slack. Default false.
 */
expandable_segments?: boolean, 
/**
 * Extension: the model runs under `torch.compile`. Default false.
 */
torch_compile?: boolean, 
/**
 * Extension (FSDP with LoRA/QLoRA): frozen base weights share an FSDP unit with trainable adapters.
 */
fsdp_frozen_in_trainable_units?: boolean, 
/**
 * Extension (FSDP): non-final micro-batches of gradient accumulation run under `no_sync()`.
 */
fsdp_no_sync?: boolean, };

export type GpuModel = { 
/**
 * The name a plan uses in `gpus.model`.
 */
name: string, 
/**
 * What NVML calls it (`nvmlDeviceGetName`), for matching a detected GPU to this entry.
 */
nvml_name: string, memory_bytes: number, 
/**
 * CUDA compute capability major × 10 + minor (86 = sm_86); Hopper (90) and newer get a larger cuBLAS
 * workspace (docs/estimator.md §10.1).
 */
compute_capability: number, };

export type MachineGpu = { index: number, name: string, memory_bytes: number, 
/**
 * Memory free when the source was read (`null` when the driver does not report it): what a plan started now
 * could use.
 */
free_bytes: number | null, 
/**
 * The catalog entry with the same NVML name, when there is one.
 */
catalog_name: string | null, 
/**
 * The plan's `gpus` value for this GPU (count 1): the catalog name when known, else its exact memory.
 */
plan_gpus: Record<string, unknown>, };

export type CachedModel = { 
/**
 * `org/name`, from the folder name `models--org--name`.
 */
id: string, 
/**
 * The repository folder.
 */
path: string, 
/**
 * The commit `refs/main` points to, when it exists.
 */
revision: string | null, 
/**
 * The snapshot folder to read: that of `refs/main`, else the most recently modified one.
 */
snapshot: string | null, 
/**
 * Every snapshot commit present.
 */
snapshots: Array<string>, 
/**
 * Bytes on disk, every file counted once.
 */
size_on_disk_bytes: number, 
/**
 * Whether the chosen snapshot has a config.json.
 */
has_config: boolean, 
/**
 * What could not be read (a broken symlink, an unreadable folder), in words.
 */
problems: Array<string>, };

export type CatalogModel = { id: string, model_type: string | null, };

export type HfCacheList = { 
/**
 * `null` when no cache folder could be determined (no HF_HUB_CACHE, HF_HOME nor home directory).
 */
cache_dir: string | null, models: Array<CachedModel>, };

export type PickedConfig = { path: string, config: Record<string, unknown>, };

export type GpuChoices = { catalog: Array<GpuModel>, machine: Array<MachineGpu>, 
/**
 * Why this machine's GPUs are not listed (no driver, …); `null` when they were read.
 */
machine_unavailable: string | null, };

export type TrainerFormat = "axolotl" | "llama_factory" | "training_arguments" | "torchtune" | "litgpt" | "accelerate" | "deepspeed";

export type ImportedFile = { 
/**
 * The path as given (or as found, for a file another one names).
 */
path: string, format: TrainerFormat, 
/**
 * `FILE KEY` when this file was loaded because another file names it (an Axolotl `deepspeed:` path).
 */
named_by?: string, };

export type MappedKey = { file: string, 
/**
 * The key's dotted path in its file (`zero_optimization.offload_optimizer.device`).
 */
key: string, value: unknown, 
/**
 * The plan key it sets (docs/contract.md §1), dotted (`lora.rank`).
 */
plan_key: string, plan_value: unknown, 
/**
 * How the value was read, when it was more than a rename (`global_batch_size / micro_batch_size`).
 */
note?: string, };

export type AutoResolved = { file: string, key: string, plan_key: string, 
/**
 * The plan value it became; `null` when the plan's own default applies.
 */
became: unknown, why: string, };

export type IgnoredKey = { file: string, key: string, why: string, };

export type NotUnderstood = { file: string, key: string, value: unknown, why: string, };

export type TrainerImportReport = { 
/**
 * The plan keys the files set, in the plan's JSON shape (docs/contract.md §1).
 */
plan: Record<string, unknown>, files: Array<ImportedFile>, mapped: Array<MappedKey>, auto_resolved: Array<AutoResolved>, ignored: Array<IgnoredKey>, not_understood: Array<NotUnderstood>, };

export type TrainerExportFormat = "accelerate" | "deepspeed";

export type SavedExport = { path: string, not_carried: Array<string>, };

export type EngineKind = "analytic" | "trace";

export type Stage = "import" | "build" | "prepare" | "forward" | "backward" | "optimizer" | "decode" | "simulate";

export type TraceProgress = { stage: Stage, 
/**
 * 0 to 1 over the whole trace.
 */
fraction: number, message: string, };

export type Phase = "load" | "forward" | "backward" | "optimizer" | "prefill" | "decode";

export type PeakPlace = { phase: Phase, 
/**
 * The module running at the peak (`model.layers.31.mlp.down_proj`); `null` outside any module.
 */
module: string | null, 
/**
 * The training step (0-based) when the plan runs several sequence lengths.
 */
step: number, };

export type TimelinePoint = { 
/**
 * The event's index in the allocation stream (the x axis).
 */
i: number, phase: Phase, module: string | null, allocated: number, reserved: number, };

export type TraceLayers = { traced: number, total: number, extrapolated: boolean, };

export type TraceInfo = { layers: TraceLayers, 
/**
 * python, torch, transformers, peft as the package reported them.
 */
versions: { [key in string]: string }, elapsed_s: number, };

export type TraceOutcome = { estimate: Estimate, timeline: Array<TimelinePoint>, };

export type PythonInfo = { 
/**
 * The interpreter as given or found on PATH.
 */
path: string, python: string, torch: string | null, 
/**
 * Why `import torch` failed, when it did.
 */
torch_error: string | null, transformers: string | null, peft: string | null, };

export type Device = "cuda" | "cpu";

export type TorchDtype = "auto" | "float32" | "float16" | "bfloat16";

export type DevicePlacement = string | number;

export type DeviceMap = string | { [key in string]: DevicePlacement };

export type LoadSettings = { device: Device, torch_dtype: TorchDtype, device_map?: DeviceMap, 
/**
 * Device (`"0"`, `"1"`, `"cpu"`, `"disk"`) → limit, such as `{"0": "10GB", "cpu": "30GB"}`. GPU keys are
 * strings here because JSON keys are; exports turn them into the integers accelerate requires.
 */
max_memory?: Record<string, string | number>, };

export type ComputeDtype = "float32" | "float16" | "bfloat16";

export type QuantType = "fp4" | "nf4";

export type QuantStorage = "float16" | "float32" | "int8" | "uint8" | "float64" | "bfloat16";

export type BnbConfig = { load_in_8bit: boolean, load_in_4bit: boolean, 
/**
 * Outlier threshold of LLM.int8(); always a float (transformers raises `TypeError` for an int).
 */
llm_int8_threshold: number, llm_int8_skip_modules: Array<string> | null, llm_int8_enable_fp32_cpu_offload: boolean, llm_int8_has_fp16_weight: boolean, bnb_4bit_compute_dtype: ComputeDtype, bnb_4bit_quant_type: QuantType, bnb_4bit_use_double_quant: boolean, bnb_4bit_quant_storage: QuantStorage, };

export type PresetBody = { description: string, load: LoadSettings, 
/**
 * `None` for presets that load the weights unquantized (`fp32`, `bf16`, `fp16`, `cpu`).
 */
quantization: BnbConfig | null, };

export type Preset = { name: string, 
/**
 * Built-ins cannot be edited, renamed or deleted; duplicate them instead.
 */
builtin: boolean, 
/**
 * For saved presets: what was read, for the conflict check on save. `null` for built-ins.
 */
revision: Revision, body: PresetBody, };

export type FieldError = { field: string, message: string, 
/**
 * The message as a key and arguments, for the UI to show in the person's language; absent where the words
 * come from elsewhere (serde's).
 */
message_key?: Message, };

export type SkippedFile = { path: string, reason: string, };

export type PresetList = { 
/**
 * Built-ins first (in [`builtin::NAMES`] order), then saved presets by name.
 */
presets: Array<Preset>, 
/**
 * Files that could not be read, moved aside; the rest loaded.
 */
quarantined: Array<Quarantine>, skipped: Array<SkippedFile>, 
/**
 * Entries that could not be read at all and were left where they are (a directory or a FIFO in place of a
 * preset file, a broken symbolic link, a file the system refuses to read); the rest loaded. Absent when
 * there are none.
 */
unreadable?: Array<SkippedFile>, };

export type TargetModules = "all-linear" | Array<string>;

export type LoraDtype = "fp32" | "bf16" | "fp16";

export type LoraSettings = { rank: number, alpha: number, dropout: number, target_modules: TargetModules, dtype: LoraDtype, };

export type BnbOverrides = { load_in_8bit?: boolean, load_in_4bit?: boolean, llm_int8_threshold?: number, llm_int8_skip_modules?: Array<string>, llm_int8_enable_fp32_cpu_offload?: boolean, llm_int8_has_fp16_weight?: boolean, bnb_4bit_compute_dtype?: ComputeDtype, bnb_4bit_quant_type?: QuantType, bnb_4bit_use_double_quant?: boolean, bnb_4bit_quant_storage?: QuantStorage, };

export type PresetOverrides = { torch_dtype?: TorchDtype, device_map?: DeviceMap, max_memory?: Record<string, string | number>, quantization?: BnbOverrides, };

export type ModelConfig = { 
/**
 * A built-in or user preset name.
 */
preset: string, overrides: PresetOverrides, task: Task, 
/**
 * Train only; `full` when absent.
 */
method?: Method, 
/**
 * With `method` `lora` or `qlora`.
 */
lora?: LoraSettings, 
/**
 * Presets the launcher falls back to, in order, after an out-of-memory failure (see [`Self::attempts`]).
 */
fallback_chain: Array<string>, notes: string, };

export type ModelConfigEntry = { model_id: string, revision: Revision, config: ModelConfig, 
/**
 * Presets the config names (as its choice or in its chain) that cannot be loaded: deleted, renamed by a
 * build that was interrupted, or unreadable. `run` refuses such a config until another preset is chosen.
 * Filled in by [`flag_missing_presets`] where a config is shown; absent when there are none.
 */
missing_presets?: Array<string>, };

export type ConfigList = { configs: Array<ModelConfigEntry>, 
/**
 * The chain a new config starts with ([`DEFAULT_FALLBACK_CHAIN`]), so the app's form need not know it.
 */
default_chain: Array<string>, quarantined: Array<Quarantine>, skipped: Array<SkippedFile>, 
/**
 * Entries that could not be read at all, left where they are (see
 * [`super::library::PresetList::unreadable`]); absent when there are none.
 */
unreadable?: Array<SkippedFile>, };

export type PresetSwitch = { model_id: string, 
/**
 * The config as saved now.
 */
entry: ModelConfigEntry, 
/**
 * The config before the switch, for Undo; `None` when the switch created it.
 */
previous: ModelConfigEntry | null, 
/**
 * What changed besides the preset, in words (empty when only the preset did).
 */
changes: Array<string>, };

export type ImportSource = "preset" | "bnb_json" | "model_config_json";

export type OnConflict = "fail" | "skip" | "replace";

export type ImportCounts = { added: Array<string>, replaced: Array<string>, 
/**
 * Already here with the same settings.
 */
unchanged: Array<string>, 
/**
 * Here with different settings, kept (`OnConflict::Skip`).
 */
skipped: Array<string>, };

export type ImportReport = { presets: ImportCounts, model_configs: ImportCounts, };

export type PresetCheck = { 
/**
 * Empty when the draft can be saved.
 */
errors: Array<FieldError>, 
/**
 * `BitsAndBytesConfig(...).to_dict()` as JSON; `null` for a preset that does not quantize (or an invalid
 * draft).
 */
bnb_json: string | null, 
/**
 * The `from_pretrained` keyword arguments as JSON (what the launcher passes); `null` for an invalid draft.
 */
kwargs_json: string | null, 
/**
 * Each `max_memory` limit in bytes, as accelerate reads it (empty for an invalid draft).
 */
max_memory_bytes: { [key in string]: number }, };

export type Renamed = { preset: Preset, 
/**
 * Model ids whose config named the old name and now name the new one.
 */
configs_changed: Array<string>, };

export type ExportFormat = "bnb_json" | "python";

export type PresetExport = { path: string, text: string, 
/**
 * Files that could not be read and so are not in a bundle.
 */
quarantined: Array<Quarantine>, 
/**
 * Entries that could not be read at all (left where they are), so not in a bundle; absent when none.
 */
unreadable?: Array<SkippedFile>, };

export type ImportedAs = { source: ImportSource, preset: Preset, };

export type WizardGpu = { name: string, memory_bytes: number, };

export type WizardGpus = { catalog: Array<WizardGpu>, machine: Array<MachineGpu>, 
/**
 * Why this machine's GPUs are not listed (no driver, …); `null` when they were read.
 */
machine_unavailable: string | null, };

export type WizardAsk = { model_id: string, task: Task, 
/**
 * Train only.
 */
method: Method | null, 
/**
 * A catalog GPU name (see [`wizard_gpus`]), or, with `memory_bytes`, the name of one of this machine's GPUs.
 */
gpu: string, 
/**
 * For one of this machine's GPUs: the memory free when the hardware step read it, planned as each GPU's
 * capacity. `null` for a catalog GPU.
 */
memory_bytes: number | null, gpu_count: number, 
/**
 * Sequences per micro-batch on each GPU; `null` (or absent) for the estimator's default.
 */
batch_size: number | null, 
/**
 * Tokens per sequence; `null` (or absent) for the estimator's default.
 */
sequence_length: number | null, 
/**
 * Train only: recompute activations in backward instead of keeping them; `null` (or absent) for the
 * framework's default, the same default the Plan view's plan gets.
 */
gradient_checkpointing: boolean | null, 
/**
 * Train only: the training framework whose defaults fill what the wizard does not ask (docs/frameworks.md);
 * `null` (or absent) for `hf_trainer`.
 */
framework: Framework | null, 
/**
 * Train only: every batch is padded or packed to the sequence length, so nothing strands between lengths and
 * the band has no allowance for them (docs/estimator.md §17); `null`, absent or false: the lengths are open,
 * as in the Plan view by default.
 */
fixed_lengths?: boolean, 
/**
 * Which figure of each estimate's band decides "fits" (docs/estimator.md §1.2); `null` (or absent) for the
 * band's upper end. The app fills in the Settings choice.
 */
fit_on?: FitOn, };

export type WizardRow = { preset: string, builtin: boolean, fits: boolean, 
/**
 * Estimated peak per GPU (device memory, CUDA context included).
 */
device_peak_bytes: number, 
/**
 * Usable memory left (negative: how much is missing).
 */
headroom_bytes: number, 
/**
 * What the preset costs in quality or speed, in words.
 */
caveat: string | null, 
/**
 * Why the preset cannot run this plan at all.
 */
unavailable: string | null, 
/**
 * `caveat` as messages the UI renders in the user's language, one per cost.
 */
caveat_messages?: Array<Message>, 
/**
 * `unavailable` as a message the UI renders in the user's language.
 */
unavailable_message?: Message, };

export type WizardRanking = { batch_size: number, sequence_length: number, 
/**
 * `null` for inference, which has no backward pass.
 */
gradient_checkpointing: boolean | null, 
/**
 * Train only: the ranking took every batch as padded or packed to `sequence_length`.
 */
fixed_lengths?: boolean, 
/**
 * Best first.
 */
rows: Array<WizardRow>, 
/**
 * This machine's calibration when it replaced the default CUDA context and allocator slack
 * (docs/estimator.md §10.5), so the wizard can say so.
 */
machine_calibration?: TaskCalibration, };
