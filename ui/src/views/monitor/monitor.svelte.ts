// The Monitor view's state. Readings arrive pushed (at most 4 a second) and are applied on the next animation
// frame, so the view renders at most once per frame whatever the rate. The history window is fetched when the
// range changes and, while readings arrive, at most once a second; it too is applied on an animation frame,
// together with a reading when one is pending, because every frame that changes the page costs a repaint of
// it (tens of milliseconds where WebKit renders in software). The UI never computes memory: every figure comes
// from the backend's snapshot, assessment or history window.

import { api as realApi, type Api, type IpcError } from "../../lib/api";
import { fieldOf } from "../../lib/errors";
import { translate, type Lang } from "../../lib/i18n";
import type { AppModel } from "../../lib/app.svelte";
import type {
  Action,
  AlertConfig,
  HistoryFormat,
  GpuSample,
  HistoryWindow,
  Level,
  Message,
  MonitorPush,
  MonitorStarted,
  ProcessIdle,
  PresetSwitch,
  ProcessSample,
  RecordingFile,
  RecordingInfo,
  Scenario,
  SourceRequest,
  StopOutcome,
  Tick,
} from "../../lib/bindings";
import { appendEvents, eventsBetween, type MonitorEvent } from "./events";

export const RANGES = [
  { id: "1m", ms: 60_000 },
  { id: "5m", ms: 300_000 },
  { id: "15m", ms: 900_000 },
  { id: "1h", ms: 3_600_000 },
  { id: "6h", ms: 21_600_000 },
  { id: "24h", ms: 86_400_000 },
] as const;

export const SCENARIOS: readonly Scenario[] = ["idle", "training", "leak", "oom", "lost"];

/** Memory sampling intervals offered, in ms: 10 Hz to one reading every 10 s (the backend's range). */
export const INTERVALS = [100, 250, 500, 1000, 2000, 5000, 10_000] as const;

/** How many simulated GPUs the demo can show. */
export const DEMO_GPU_COUNTS = [1, 2, 4, 8, 16] as const;

export type Phase = "idle" | "starting" | "running" | "no_driver" | "failed";

/** A process row of the table: a process on one GPU, with how long it has been idle when history knows. */
export interface ProcessRow {
  gpu: number;
  process: ProcessSample;
  idleMs: number | null;
}

export type SortKey = "pid" | "user" | "name" | "command" | "gpu" | "memory" | "idle";

/** An active alert: a GPU at warning or critical, since when (the reading that raised it). */
export interface ActiveAlert {
  gpu: number;
  level: Level;
  message: string;
  /** `message` as key and arguments, for the view to show in the active language. */
  messageKey?: Message;
  since: string;
  fullness: number | null;
  timeToFullMs: number | null;
}

/** An action of the Monitor whose failure shows in the status line. */
export type MonitorAction = "interval" | "switch" | "undo" | "stop" | "record" | "recordings" | "export";

export type MonitorNotice =
  | { kind: "ok"; text: string; note?: Message }
  | { kind: "error"; action: MonitorAction; error: IpcError };

export class MonitorModel {
  phase = $state<Phase>("idle");
  /** Why NVML could not start, in the driver's words. */
  noDriverReason = $state("");
  error = $state<IpcError | null>(null);
  /** Why the last reading failed, in the source's words (the view words the sentence around it); cleared by the
   *  next reading that arrives. */
  readingFailed = $state<string | null>(null);
  started = $state<MonitorStarted | null>(null);
  request = $state<SourceRequest>({ kind: "nvml" });
  tick = $state.raw<Tick | null>(null);
  ended = $state(false);
  window = $state.raw<HistoryWindow | null>(null);
  idle = $state.raw<ProcessIdle[]>([]);
  rangeMs = $state<number>(RANGES[0].ms);
  /** Chart per process of this GPU; null = one line per GPU. */
  selectedGpu = $state<number | null>(null);
  sortKey = $state<SortKey>("memory");
  sortDescending = $state(true);
  alerts = $state.raw<ActiveAlert[]>([]);
  recording = $state<RecordingInfo | null>(null);
  /** Recordings on disk, for the replay picker. */
  recordings = $state.raw<RecordingFile[]>([]);
  /** The last outcome of an action (stop, record, export…) for the status line: a success as `what:details`
   *  with `note`, what the backend adds about it (an export's English-only chart); a failure as the action and
   *  the backend's error, so the view words both in the person's language. */
  notice = $state<MonitorNotice | null>(null);
  /** Field-level errors of the thresholds form, keyed by field name. */
  fieldErrors = $state<Record<string, IpcError>>({});
  /** The interval the user picked; null = each source's own default (demo 250 ms, replay as recorded, 1 s). */
  chosenInterval = $state<number | null>(null);
  demoGpus = $state(2);
  /** The last config switch made from a recommendation, while it can still be undone. */
  switched = $state<PresetSwitch | null>(null);
  /** What happened since the source started (processes, alerts, likely OOM exits), oldest first. */
  events = $state.raw<MonitorEvent[]>([]);

  /** Width of the chart in pixels; the window is fetched at about two points per pixel. */
  chartWidth = 800;
  private pending: Tick | null = null;
  private pendingWindow: { window: HistoryWindow; idle: ProcessIdle[] } | null = null;
  private lastPushAt = -Infinity;
  private frame: number | null = null;
  private lastWindowAt = 0;
  private windowInFlight = false;
  private generation = 0;
  private readonly since = new Map<number, string>();
  /** The reading before the latest, every one of them (the screen may skip some): events compare the two. */
  private lastTick: Tick | null = null;
  private eventLog: MonitorEvent[] = [];

  constructor(
    private readonly api: Api,
    private readonly schedule: (f: () => void) => number = (f) => requestAnimationFrame(f),
    private readonly now: () => number = () => performance.now(),
  ) {}

  get demo(): boolean {
    return this.started?.demo ?? false;
  }

  /** Starts a source; on "no driver" the view offers the demo instead. */
  async start(request: SourceRequest, alerts: AlertConfig | null = null): Promise<boolean> {
    const generation = ++this.generation;
    this.phase = "starting";
    this.error = null;
    this.readingFailed = null;
    this.fieldErrors = {};
    try {
      const started = await this.api.monitorStart(request, alerts, this.chosenInterval, (push) => {
        if (generation === this.generation) this.onPush(push);
      });
      if (generation !== this.generation) return false;
      this.request = request;
      this.started = started;
      this.tick = null;
      this.pending = null;
      this.window = null;
      this.alerts = [];
      this.events = [];
      this.eventLog = [];
      this.lastTick = null;
      this.since.clear();
      this.ended = false;
      this.recording = null;
      this.selectedGpu = null;
      this.phase = "running";
      return true;
    } catch (e) {
      const err = e as IpcError;
      if (generation !== this.generation) return false;
      if (err.code === "no_driver") {
        this.phase = "no_driver";
        this.noDriverReason = err.message;
      } else if (alerts && ["warning", "critical", "hysteresis"].includes(fieldOf(err) ?? "")) {
        // A threshold was refused: the source keeps running with the old ones; the error goes next to the field.
        this.fieldErrors = { [fieldOf(err)!]: err };
        this.phase = this.started ? "running" : "failed";
      } else {
        this.error = err;
        this.phase = this.started ? "running" : "failed";
      }
      return false;
    }
  }

  startDemo(scenario: Scenario, gpus: number = this.demoGpus): Promise<boolean> {
    this.demoGpus = gpus;
    return this.start({ kind: "demo", scenario, gpus }, this.started?.alerts ?? null);
  }

  /** Changes how often memory is read, keeping the history; it also applies to the next source started. */
  async setInterval(ms: number): Promise<void> {
    this.chosenInterval = ms;
    if (!this.started) return;
    try {
      await this.api.monitorSetInterval(ms);
      this.started = { ...this.started, interval_ms: ms };
    } catch (e) {
      this.notice = { kind: "error", action: "interval", error: e as IpcError };
    }
  }

  /** Carries out "switch this model's config to PRESET"; the result (with Undo) shows in the alerts panel. */
  async switchPreset(model: string, preset: string): Promise<void> {
    try {
      this.switched = await this.api.switchConfigPreset(model, preset);
      this.notice = null;
    } catch (e) {
      this.notice = { kind: "error", action: "switch", error: e as IpcError };
    }
  }

  /** Puts the config back as it was before the last switch (or removes the one the switch created). */
  async undoSwitch(): Promise<void> {
    const done = this.switched;
    if (!done) return;
    try {
      if (done.previous) await this.api.saveConfig(done.model_id, done.previous.config, done.entry.revision);
      else await this.api.deleteConfig(done.model_id, done.entry.revision);
      this.switched = null;
      this.notice = { kind: "ok", text: `undone:${done.model_id}` };
    } catch (e) {
      this.notice = { kind: "error", action: "undo", error: e as IpcError };
    }
  }

  /** Applies new thresholds (fractions) by restarting the current source with them. */
  applyThresholds(warning: number, critical: number): Promise<boolean> {
    const base = this.started?.alerts;
    if (!base) return Promise.resolve(false);
    return this.start(this.request, { ...base, warning, critical });
  }

  async stop(): Promise<void> {
    this.generation++;
    await this.api.monitorStop().catch(() => {});
    this.started = null;
    this.phase = "idle";
  }

  private onPush(push: MonitorPush): void {
    if (push.kind === "tick") {
      this.lastPushAt = this.now();
      this.pending = push.tick;
      // A reading after a failed one: the failure is over (set only when there was one, so no extra render).
      if (this.readingFailed !== null) this.readingFailed = null;
      this.collectChanges(push.tick);
      // Published with the next frame, like the reading itself.
      this.eventLog = appendEvents(this.eventLog, eventsBetween(this.lastTick, push.tick));
      this.lastTick = push.tick;
    } else if (push.kind === "ended") {
      this.ended = true;
    } else {
      this.readingFailed = push.message;
    }
    this.requestFrame();
  }

  private requestFrame(): void {
    if (this.frame === null) {
      this.frame = this.schedule(() => this.applyFrame());
    }
  }

  /** Remembers when each GPU entered its current level: level changes arrive with every push, none lost. */
  private collectChanges(tick: Tick): void {
    for (const change of tick.assessment.changes) {
      if (change.to === "normal") this.since.delete(change.gpu);
      else this.since.set(change.gpu, tick.snapshot.taken_at);
    }
  }

  /** One render: the latest reading and the latest history window, and a fresh window at most once a second. */
  applyFrame(): void {
    this.frame = null;
    const tick = this.pending;
    this.pending = null;
    const fetched = this.pendingWindow;
    this.pendingWindow = null;
    if (fetched) {
      this.window = fetched.window;
      this.idle = fetched.idle;
    }
    if (tick) {
      this.tick = tick;
      if (this.events !== this.eventLog) this.events = this.eventLog;
      this.alerts = tick.assessment.gpus
        .filter((g) => g.level !== "normal")
        .map((g) => {
          const change = [...tick.assessment.changes].reverse().find((c) => c.gpu === g.gpu && c.to === g.level);
          const before = this.alerts.find((a) => a.gpu === g.gpu && a.level === g.level);
          return {
          gpu: g.gpu,
          level: g.level,
          message: change?.message ?? before?.message ?? "",
          messageKey: change ? change.message_key : before?.messageKey,
          since: this.since.get(g.gpu) ?? tick.snapshot.taken_at,
          fullness: g.fullness,
          timeToFullMs: g.time_to_full_ms,
          };
        });
      if (this.now() - this.lastWindowAt >= 1000) void this.refreshWindow();
    }
  }

  async refreshWindow(): Promise<void> {
    if (!this.started || this.windowInFlight) return;
    this.windowInFlight = true;
    this.lastWindowAt = this.now();
    const generation = this.generation;
    try {
      const points = Math.max(100, Math.min(20_000, Math.round(this.chartWidth * 2)));
      const [window, idle] = await Promise.all([
        this.api.monitorWindow(this.rangeMs, points),
        this.api.monitorIdle(),
      ]);
      if (generation === this.generation) {
        this.pendingWindow = { window, idle };
        // While readings flow, the next one's frame carries the window too: one repaint instead of two.
        if (this.now() - this.lastPushAt > 500) this.requestFrame();
      }
    } catch (e) {
      if (generation === this.generation) this.error = e as IpcError;
    } finally {
      this.windowInFlight = false;
    }
  }

  setRange(ms: number): void {
    this.rangeMs = ms;
    void this.refreshWindow();
  }

  selectGpu(gpu: number | null): void {
    this.selectedGpu = this.selectedGpu === gpu ? null : gpu;
  }

  get gpus(): GpuSample[] {
    return this.tick?.snapshot.gpus ?? [];
  }

  levelOf(gpu: number): Level {
    return this.tick?.assessment.gpus.find((g) => g.gpu === gpu)?.level ?? "normal";
  }

  /** Every process on every GPU, sorted by the chosen column. */
  get processes(): ProcessRow[] {
    const rows: ProcessRow[] = [];
    for (const g of this.gpus) {
      for (const p of g.processes ?? []) {
        const idle = this.idle.find((i) => i.pid === p.pid && i.gpu === g.index);
        rows.push({ gpu: g.index, process: p, idleMs: idle ? idle.idle_ms : null });
      }
    }
    const key = (r: ProcessRow): number | string => {
      switch (this.sortKey) {
        case "pid": return r.process.pid;
        case "user": return r.process.user ?? "";
        case "name": return r.process.name ?? "";
        case "command": return r.process.command ?? "";
        case "gpu": return r.gpu;
        case "memory": return r.process.used_bytes ?? -1;
        case "idle": return r.idleMs ?? -1;
      }
    };
    const sign = this.sortDescending ? -1 : 1;
    return rows.sort((a, b) => {
      const [x, y] = [key(a), key(b)];
      return (x < y ? -1 : x > y ? 1 : a.process.pid - b.process.pid) * sign;
    });
  }

  sortBy(key: SortKey): void {
    if (this.sortKey === key) this.sortDescending = !this.sortDescending;
    else {
      this.sortKey = key;
      this.sortDescending = key === "memory" || key === "idle";
    }
  }

  /** "Stop…" is offered only for the user's own processes (and never for simulated demo ones). */
  canStop(p: ProcessSample): boolean {
    return !this.demo && this.started !== null && p.uid !== undefined && p.uid === this.started.uid;
  }

  async stopProcess(pid: number): Promise<StopOutcome | null> {
    try {
      const outcome = await this.api.monitorStopProcess(pid);
      this.notice = null;
      void this.refreshWindow();
      return outcome;
    } catch (e) {
      this.notice = { kind: "error", action: "stop", error: e as IpcError };
      return null;
    }
  }

  async toggleRecording(): Promise<void> {
    try {
      if (this.recording) {
        const done = await this.api.monitorRecordStop();
        this.recording = null;
        this.notice = { kind: "ok", text: `recorded:${done.snapshots}:${done.path}` };
        void this.loadRecordings();
      } else {
        this.recording = await this.api.monitorRecordStart();
        this.notice = null;
      }
    } catch (e) {
      this.notice = { kind: "error", action: "record", error: e as IpcError };
    }
  }

  async loadRecordings(): Promise<void> {
    try {
      this.recordings = await this.api.monitorRecordings();
    } catch (e) {
      this.notice = { kind: "error", action: "recordings", error: e as IpcError };
    }
  }

  async export(format: HistoryFormat, path: string | null): Promise<void> {
    try {
      const done = await this.api.monitorExport(format, this.rangeMs, path);
      this.notice = { kind: "ok", text: `exported:${done.path}`, note: done.note_message };
    } catch (e) {
      this.notice = { kind: "error", action: "export", error: e as IpcError };
    }
  }
}

/** The words for a recommended action, and whether the view can do it with a button (stop a process). */
export function actionText(action: Action): { key: "stop" | "env" | "checkpointing" | "preset" | "check"; copy: string } {
  switch (action.action) {
    case "stop_process":
      return { key: "stop", copy: `kill ${action.pid}` };
    case "set_env":
      return { key: "env", copy: `${action.name}=${action.value}` };
    case "enable_gradient_checkpointing":
      return { key: "checkpointing", copy: "model.gradient_checkpointing_enable()" };
    case "switch_preset":
      return { key: "preset", copy: `headroom-cli configs switch ${action.model ?? "MODEL_ID"} ${action.preset}` };
    case "check_gpu":
      return { key: "check", copy: `nvidia-smi -q -i ${action.gpu}` };
  }
}

/** "45 s", "12 min", "3 h 05 min" ("3 時間 05 分"): how long a process has been idle, in `lang`'s unit words. */
export function formatDuration(ms: number, lang: Lang): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return translate(lang, "unit.seconds", { n: s });
  const m = Math.floor(s / 60);
  if (m < 60) return translate(lang, "unit.minutes", { n: m });
  const hours = translate(lang, "unit.hours", { n: Math.floor(m / 60) });
  return `${hours} ${translate(lang, "unit.minutes", { n: String(m % 60).padStart(2, "0") })}`;
}

/** The reason a GPU's field is missing, from the snapshot's `unavailable` list (which names the GPU). */
export function reasonFor(unavailable: string[], gpu: number, field: string): string | null {
  const mine = unavailable.filter((u) => u.includes(`GPU ${gpu}`) || !/GPU \d/.test(u));
  return mine.find((u) => u.toLowerCase().includes(field)) ?? mine[0] ?? null;
}

const monitors = new WeakMap<AppModel, MonitorModel>();

/** The app's one monitor: it outlives the view, so switching to Plan and back keeps the source, its history and
 *  a recording in progress running. */
export function monitorFor(app: AppModel): MonitorModel {
  let m = monitors.get(app);
  if (!m) {
    m = new MonitorModel(realApi);
    monitors.set(app, m);
  }
  return m;
}
