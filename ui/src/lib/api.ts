// The only file that talks to the backend. Every call is typed with the generated bindings, and every
// failure arrives as an IpcError `{code, message}`, whatever went wrong on the way.

import { Channel, invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import { getCurrentWindow } from "@tauri-apps/api/window";
import type {
  AlertConfig,
  AppInfo,
  CalibrationStatus,
  CatalogModel,
  ConfigList,
  DoctorResult,
  DoctorSource,
  ErrorCode,
  ExportFormat,
  Exported,
  FieldError,
  Fix,
  GpuChoices,
  HfCacheList,
  PickedConfig,
  HistoryFormat,
  HistoryWindow,
  ImportReport,
  ImportedAs,
  IpcError,
  LogTail,
  Message,
  ModelConfig,
  ModelConfigEntry,
  PresetSwitch,
  PythonInfo,
  SavedChart,
  TimelinePoint,
  TraceOutcome,
  TraceProgress,
  MonitorPush,
  MonitorStarted,
  OnConflict,
  PlanAnswer,
  Preset,
  PresetBody,
  PresetCheck,
  PresetExport,
  PresetList,
  ProcessIdle,
  Profile,
  ProfileFormat,
  ProfileList,
  ProfileView,
  RecordingFile,
  RecordingInfo,
  Renamed,
  Revision,
  SavedExport,
  TrainerExportFormat,
  TrainerImportReport,
  RunDefaults,
  RunList,
  RunRecord,
  RunSnapshot,
  RunUpdate,
  Settings,
  SourceRequest,
  StartRun,
  StopOutcome,
  VariableInfo,
  WizardAsk,
  WizardGpus,
  WizardRanking,
  PlanFile,
} from "./bindings";

export type * from "./bindings";

/**
 * A plan as a form holds it while the user types: only the keys of a plan file, each value as entered. The
 * backend reads it and names the key of anything wrong (the Rust side takes it as `Draft<PlanFile>`).
 */
export type PlanDraft = { [K in keyof PlanFile]?: unknown };

const ERROR_CODES: readonly ErrorCode[] = [
  "invalid",
  "conflict",
  "io",
  "denied",
  "no_driver",
  "driver",
  "process",
  "trace",
  "cancelled",
  "internal",
];

/** A backend message's shape (key and arguments); its arguments are checked where they are formatted. */
function isMessage(raw: unknown): raw is Message {
  if (typeof raw !== "object" || raw === null) return false;
  const { key, args } = raw as { key?: unknown; args?: unknown };
  return typeof key === "string" && typeof args === "object" && args !== null && !Array.isArray(args);
}

/** Turn whatever a rejected invoke gave us into an IpcError. */
export function toIpcError(raw: unknown): IpcError {
  if (typeof raw === "object" && raw !== null && "code" in raw && "message" in raw) {
    const { code, message, field, message_key } = raw as {
      code: unknown;
      message: unknown;
      field?: unknown;
      message_key?: unknown;
    };
    if (ERROR_CODES.includes(code as ErrorCode) && typeof message === "string") {
      const error: IpcError = { code: code as ErrorCode, message };
      if (typeof field === "string") error.field = field;
      // The reason as a key and arguments, so views can show it in the person's language (lib/errors.ts).
      if (isMessage(message_key)) error.message_key = message_key;
      return error;
    }
  }
  // Argument errors from Tauri itself (a bad enum value, a missing key) come as plain strings.
  return { code: "invalid", message: typeof raw === "string" ? raw : String(raw) };
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (raw) {
    throw toIpcError(raw);
  }
}

export const api = {
  appInfo: () => call<AppInfo>("app_info"),
  getSettings: () => call<Settings>("get_settings"),
  saveSettings: (settings: Settings) => call<Settings>("save_settings", { settings }),
  /** This machine's CUDA context and allocator slack, fitted from measured runs (docs/estimator.md §10.5). */
  getMachineCalibration: () => call<CalibrationStatus>("get_machine_calibration"),
  /** Ignore the runs so far (their records stay). */
  resetMachineCalibration: () => call<CalibrationStatus>("reset_machine_calibration"),
  /** Everything the Plan view shows for a plan (docs/contract.md §1 JSON). */
  planAnswer: (plan: PlanDraft) => call<PlanAnswer>("plan_answer", { plan }),
  planCatalog: (query: string) => call<CatalogModel[]>("plan_catalog", { query }),
  planHfCache: () => call<HfCacheList>("plan_hf_cache"),
  planGpus: () => call<GpuChoices>("plan_gpus"),
  /** System dialogs; each resolves to null when the person cancels. */
  planPickFolder: () => call<string | null>("plan_pick_folder"),
  /** A model's config.json picked with the system dialog and read; null when cancelled. */
  planPickConfig: () => call<PickedConfig | null>("plan_pick_config"),
  planSave: (plan: PlanDraft) => call<string | null>("plan_save", { plan }),
  planLoad: () => call<Record<string, unknown> | null>("plan_load"),
  planExportChart: (plan: PlanDraft) => call<SavedChart | null>("plan_export_chart", { plan }),
  /** A trainer config through the open dialog (docs/trainers.md): the plan it gives and what became of each key. */
  planImportConfig: () => call<TrainerImportReport | null>("plan_import_config"),
  /** The files last dropped on the window (the shell keeps their paths); `null` when none are waiting. */
  planImportDropped: () => call<TrainerImportReport | null>("plan_import_dropped"),
  /** The plan as an accelerate config or a DeepSpeed JSON through the save dialog. */
  planExportConfig: (plan: PlanDraft, format: TrainerExportFormat) =>
    call<SavedExport | null>("plan_export_config", { plan, format }),
  /** Files were dropped on the window: `handler` then asks for planImportDropped. */
  onConfigsDropped: (handler: () => void): Promise<UnlistenFn> => listen<number>("plan-configs-dropped", () => handler()),
  /** Trace the plan with the Python from Settings (seconds to minutes); progress arrives on `onProgress`. A
   *  cancelled trace rejects with code `cancelled`. */
  tracePlan: (plan: PlanDraft, onProgress: (p: TraceProgress) => void) => {
    const channel = new Channel<TraceProgress>();
    channel.onmessage = onProgress;
    return call<TraceOutcome>("trace_plan", { plan, onProgress: channel });
  },
  traceCancel: () => call<null>("trace_cancel"),
  /** Check a Python for the trace (`null`: search PATH); rejects with what is missing. */
  traceCheckPython: (path: string | null) => call<PythonInfo>("trace_check_python", { path }),
  /** The timeline as PNG or SVG through the system save dialog; `null` when cancelled. */
  traceExportChart: (timeline: TimelinePoint[], title: string) =>
    call<SavedChart | null>("trace_export_chart", { timeline, title }),
  /** Called in every window when any window saved the settings. */
  onSettingsChanged: (handler: (settings: Settings) => void): Promise<UnlistenFn> =>
    listen<Settings>("settings-changed", (event) => handler(event.payload)),
  /** While registered, closing the window first asks `keepOpen`; when it returns true the window stays open
   *  (the view asks the person, and calls `closeWindow` if they choose to close after all). */
  onCloseRequested: async (keepOpen: () => boolean): Promise<UnlistenFn> =>
    // Async, so that no window (a test page) is a rejected promise rather than a throw.
    await getCurrentWindow().onCloseRequested((event) => {
      if (keepOpen()) event.preventDefault();
    }),
  /** Close this window without asking again. */
  closeWindow: () => getCurrentWindow().destroy(),

  // Environment profiles and the doctor.
  envListProfiles: () => call<ProfileList>("env_list_profiles"),
  envLoadProfile: (name: string) => call<ProfileView>("env_load_profile", { name }),
  envCatalog: () => call<VariableInfo[]>("env_catalog"),
  envSaveProfile: (profile: Profile, expected: Revision) =>
    call<ProfileView>("env_save_profile", { profile, expected }),
  envDeleteProfile: (name: string, expected: Revision) => call<null>("env_delete_profile", { name, expected }),
  /** Apply a doctor's fix to the .env file it checked. */
  envFixFile: (path: string, fix: Fix) => call<null>("env_fix_file", { path, fix }),
  envApplyFix: (name: string, expected: Revision, fix: Fix) =>
    call<ProfileView>("env_apply_fix", { name, expected, fix }),
  envExport: (name: string, format: ProfileFormat) => call<string>("env_export", { name, format }),
  /** Opens the system save dialog in Rust; the path written, or `null` when the user cancels it. */
  envExportDialog: (name: string, format: ProfileFormat) =>
    call<string | null>("env_export_dialog", { name, format }),
  envDoctor: (source: DoctorSource, profile: string | null) =>
    call<DoctorResult>("env_doctor", { source, profile }),

  // Runs.
  runsDefaults: (model: string) => call<RunDefaults>("runs_defaults", { model }),
  /** Start a run; `onUpdate` receives its events in batches (at most 4 a second) until it has ended. */
  runsStart: (start: StartRun, onUpdate: (update: RunUpdate) => void) => {
    const channel = new Channel<RunUpdate>();
    channel.onmessage = onUpdate;
    return call<string>("runs_start", { start, onUpdate: channel });
  },
  /** The run going on now as pushed so far (`null`: none), its later updates then arriving on `onUpdate`:
   *  how the view picks a run up again after the window reloaded. */
  runsAttach: (onUpdate: (update: RunUpdate) => void) => {
    const channel = new Channel<RunUpdate>();
    channel.onmessage = onUpdate;
    return call<RunSnapshot | null>("runs_attach", { onUpdate: channel });
  },
  runsCancel: (runId: string) => call<null>("runs_cancel", { runId }),
  runsActive: () => call<string[]>("runs_active"),
  runsList: () => call<RunList>("runs_list"),
  runsLoad: (runId: string) => call<RunRecord>("runs_load", { runId }),
  runsLog: (runId: string, attempt: number) => call<LogTail>("runs_log", { runId, attempt }),
  /** Starts (or switches to) a monitor source; its readings arrive on `onPush`, at most 4 a second. */
  monitorStart: (
    source: SourceRequest,
    alerts: AlertConfig | null,
    intervalMs: number | null,
    onPush: (push: MonitorPush) => void,
  ) => {
    const channel = new Channel<MonitorPush>();
    channel.onmessage = onPush;
    return call<MonitorStarted>("monitor_start", { source, alerts, intervalMs, onPush: channel });
  },
  /** Samples memory every `intervalMs` (100 to 10,000) from now on, keeping the history. */
  monitorSetInterval: (intervalMs: number) => call<null>("monitor_set_interval", { intervalMs }),
  monitorStop: () => call<null>("monitor_stop"),
  /** The last `rangeMs` of history, min/max downsampled to at most `points` points per series. */
  monitorWindow: (rangeMs: number, points: number) => call<HistoryWindow>("monitor_window", { rangeMs, points }),
  monitorIdle: () => call<ProcessIdle[]>("monitor_idle"),
  monitorStopProcess: (pid: number) => call<StopOutcome>("monitor_stop_process", { pid }),
  monitorRecordStart: () => call<RecordingInfo>("monitor_record_start", {}),
  monitorRecordStop: () => call<RecordingInfo>("monitor_record_stop"),
  /** Recordings in the data folder, newest first, for the replay picker. */
  monitorRecordings: () => call<RecordingFile[]>("monitor_recordings"),
  monitorExport: (format: HistoryFormat, rangeMs: number, path: string | null) =>
    call<Exported>("monitor_export", { format, rangeMs, path }),

  // Presets and per-model configs. Drafts go to the backend as they are typed (`unknown`), so a wrong type
  // comes back as an error on the field rather than being coerced here.
  listPresets: () => call<PresetList>("list_presets"),
  checkPreset: (body: unknown) => call<PresetCheck>("check_preset", { body }),
  createPreset: (name: string, body: PresetBody | unknown) => call<Preset>("create_preset", { name, body }),
  savePreset: (name: string, body: unknown, revision: Revision) =>
    call<Preset>("save_preset", { name, body, revision }),
  duplicatePreset: (from: string, to: string) => call<Preset>("duplicate_preset", { from, to }),
  renamePreset: (from: string, to: string, revision: Revision) =>
    call<Renamed>("rename_preset", { from, to, revision }),
  deletePreset: (name: string, revision: Revision) => call<Preset>("delete_preset", { name, revision }),
  /** Each opens the system dialog in Rust; `null` when the user cancels it. */
  exportPresetDialog: (name: string, format: ExportFormat, modelId: string | null) =>
    call<PresetExport | null>("export_preset_dialog", { name, format, modelId }),
  exportBundleDialog: () => call<PresetExport | null>("export_bundle_dialog"),
  importPresetDialog: (name: string | null) => call<ImportedAs | null>("import_preset_dialog", { name }),
  importBundleDialog: (onConflict: OnConflict) => call<ImportReport | null>("import_bundle_dialog", { onConflict }),
  listConfigs: () => call<ConfigList>("list_configs"),
  checkConfig: (modelId: string, config: unknown) => call<FieldError[]>("check_config", { modelId, config }),
  /** The config's preset with its overrides applied, previewed as `checkPreset` previews a preset. */
  previewConfig: (config: unknown) => call<PresetCheck>("preview_config", { config }),
  saveConfig: (modelId: string, config: ModelConfig | unknown, revision: Revision) =>
    call<ModelConfigEntry>("save_config", { modelId, config, revision }),
  deleteConfig: (modelId: string, revision: Revision) =>
    call<ModelConfigEntry>("delete_config", { modelId, revision }),
  /** Switches a model's config to `preset` in one step; the answer holds the config before, for Undo. */
  switchConfigPreset: (modelId: string, preset: string) =>
    call<PresetSwitch>("switch_config_preset", { modelId, preset }),
  wizardModels: (query: string) => call<string[]>("wizard_models", { query }),
  wizardGpus: () => call<WizardGpus>("wizard_gpus"),
  wizardRank: (ask: WizardAsk) => call<WizardRanking>("wizard_rank", { ask }),
};

export type Api = typeof api;
