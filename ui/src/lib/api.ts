// The only file that talks to the backend. Every call is typed with the generated bindings, and every
// failure arrives as an IpcError `{code, message}`, whatever went wrong on the way.

import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type {
  AppInfo,
  ConfigList,
  ErrorCode,
  ExportFormat,
  Exported,
  FieldError,
  ImportedAs,
  ImportReport,
  IpcError,
  ModelConfig,
  ModelConfigEntry,
  OnConflict,
  Preset,
  PresetBody,
  PresetCheck,
  PresetList,
  Renamed,
  Revision,
  Settings,
} from "./bindings";

export type { AppInfo, IpcError, Settings } from "./bindings";

const ERROR_CODES: readonly ErrorCode[] = ["invalid", "conflict", "io", "internal"];

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
  exportPreset: (name: string, format: ExportFormat, modelId: string | null) =>
    call<Exported>("export_preset", { name, format, modelId }),
  exportBundle: () => call<Exported>("export_bundle"),
  importPreset: (name: string, text: string) => call<ImportedAs>("import_preset", { name, text }),
  importBundle: (text: string, onConflict: OnConflict) => call<ImportReport>("import_bundle", { text, onConflict }),
  listConfigs: () => call<ConfigList>("list_configs"),
  checkConfig: (modelId: string, config: unknown) => call<FieldError[]>("check_config", { modelId, config }),
  saveConfig: (modelId: string, config: ModelConfig | unknown, revision: Revision) =>
    call<ModelConfigEntry>("save_config", { modelId, config, revision }),
  deleteConfig: (modelId: string, revision: Revision) =>
    call<ModelConfigEntry>("delete_config", { modelId, revision }),
};

export type Api = typeof api;
