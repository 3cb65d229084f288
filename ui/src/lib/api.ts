// The only file that talks to the backend. Every call is typed with the generated bindings, and every
// failure arrives as an IpcError `{code, message}`, whatever went wrong on the way.

import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type { AppInfo, ErrorCode, GpuChoices, HfCacheList, CatalogModel, IpcError, PlanAnswer, Settings } from "./bindings";

export type { AppInfo, IpcError, Settings } from "./bindings";

const ERROR_CODES: readonly ErrorCode[] = ["invalid", "conflict", "io", "no_driver", "internal"];

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
  /** Everything the Plan view shows for a plan (CONTRACTS.md §1 JSON). */
  planAnswer: (plan: Record<string, unknown>) => call<PlanAnswer>("plan_answer", { plan }),
  planCatalog: (query: string) => call<CatalogModel[]>("plan_catalog", { query }),
  planHfCache: () => call<HfCacheList>("plan_hf_cache"),
  planGpus: () => call<GpuChoices>("plan_gpus"),
  /** System dialogs; each resolves to null when the person cancels. */
  planPickFolder: () => call<string | null>("plan_pick_folder"),
  planSave: (plan: Record<string, unknown>) => call<string | null>("plan_save", { plan }),
  planLoad: () => call<Record<string, unknown> | null>("plan_load"),
  planExportChart: (plan: Record<string, unknown>) => call<string | null>("plan_export_chart", { plan }),
  /** Called in every window when any window saved the settings. */
  onSettingsChanged: (handler: (settings: Settings) => void): Promise<UnlistenFn> =>
    listen<Settings>("settings-changed", (event) => handler(event.payload)),
};

export type Api = typeof api;
