// The views in the order of the navigation; views/registry.ts gives each its component.

import type { MessageKey } from "./i18n";

export type ViewId = "monitor" | "plan" | "presets" | "environment" | "runs" | "settings";

export interface ViewEntry {
  id: ViewId;
  label: MessageKey;
}

export const VIEWS: readonly ViewEntry[] = [
  { id: "monitor", label: "nav.monitor" },
  { id: "plan", label: "nav.plan" },
  { id: "presets", label: "nav.presets" },
  { id: "environment", label: "nav.environment" },
  { id: "runs", label: "nav.runs" },
  { id: "settings", label: "nav.settings" },
];

/** The view a navigation key leads to from `current` (a vertical tab list), or null for other keys. */
export function viewForKey(current: ViewId, key: string): ViewId | null {
  const index = VIEWS.findIndex((v) => v.id === current);
  const last = VIEWS.length - 1;
  const target =
    key === "ArrowDown" ? (index + 1) % VIEWS.length
    : key === "ArrowUp" ? (index - 1 + VIEWS.length) % VIEWS.length
    : key === "Home" ? 0
    : key === "End" ? last
    : null;
  return target === null ? null : (VIEWS[target]?.id ?? null);
}

/** Ctrl+1 … Ctrl+6 jump straight to a view. */
export function viewForShortcut(event: { ctrlKey: boolean; metaKey: boolean; altKey: boolean; key: string }): ViewId | null {
  if (!(event.ctrlKey || event.metaKey) || event.altKey) return null;
  const n = Number.parseInt(event.key, 10);
  return Number.isInteger(n) && n >= 1 && n <= VIEWS.length ? (VIEWS[n - 1]?.id ?? null) : null;
}
