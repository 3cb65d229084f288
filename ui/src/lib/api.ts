// The only file that talks to the backend. Every call is typed with the generated bindings, and every
// failure arrives as an IpcError `{code, message}`, whatever went wrong on the way.

import { Channel, invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type {
  AlertConfig,
  AppInfo,
  ErrorCode,
  ExportFormat,
  Exported,
  HistoryWindow,
  IpcError,
  MonitorPush,
  MonitorStarted,
  ProcessIdle,
  RecordingFile,
  RecordingInfo,
  Settings,
  SourceRequest,
  StopOutcome,
} from "./bindings";

export type { AppInfo, IpcError, Settings } from "./bindings";

const ERROR_CODES: readonly ErrorCode[] = ["invalid", "conflict", "io", "denied", "no_driver", "internal"];

/** Turn whatever a rejected invoke gave us into an IpcError. */
export function toIpcError(raw: unknown): IpcError {
  if (typeof raw === "object" && raw !== null && "code" in raw && "message" in raw) {
    const { code, message } = raw as { code: unknown; message: unknown };
    if (ERROR_CODES.includes(code as ErrorCode) && typeof message === "string") {
      return { code: code as ErrorCode, message };
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
  /** Called in every window when any window saved the settings. */
  onSettingsChanged: (handler: (settings: Settings) => void): Promise<UnlistenFn> =>
    listen<Settings>("settings-changed", (event) => handler(event.payload)),

  /** Starts (or switches to) a monitor source; its readings arrive on `onPush`, at most 4 a second. */
  monitorStart: (source: SourceRequest, alerts: AlertConfig | null, onPush: (push: MonitorPush) => void) => {
    const channel = new Channel<MonitorPush>();
    channel.onmessage = onPush;
    return call<MonitorStarted>("monitor_start", { source, alerts, onPush: channel });
  },
  monitorStop: () => call<null>("monitor_stop"),
  /** The last `rangeMs` of history, min/max downsampled to at most `points` points per series. */
  monitorWindow: (rangeMs: number, points: number) => call<HistoryWindow>("monitor_window", { rangeMs, points }),
  monitorIdle: () => call<ProcessIdle[]>("monitor_idle"),
  monitorStopProcess: (pid: number) => call<StopOutcome>("monitor_stop_process", { pid }),
  monitorRecordStart: () => call<RecordingInfo>("monitor_record_start", {}),
  monitorRecordStop: () => call<RecordingInfo>("monitor_record_stop"),
  /** Recordings in the data folder, newest first, for the replay picker. */
  monitorRecordings: () => call<RecordingFile[]>("monitor_recordings"),
  monitorExport: (format: ExportFormat, rangeMs: number, path: string | null) =>
    call<Exported>("monitor_export", { format, rangeMs, path }),
};

export type Api = typeof api;
