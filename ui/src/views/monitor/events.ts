// The Monitor's event log: what changed from one reading to the next (a process started or stopped, an alert
// was raised or cleared, a process vanished while its GPU was critical: a likely out-of-memory exit). Derived
// from consecutive readings, every one of them (not only those that reach the screen), so none is lost.

import type { Level, Tick } from "../../lib/bindings";

export type EventKind = "process_start" | "process_stop" | "oom" | "alert_raised" | "alert_cleared";

export interface MonitorEvent {
  /** The reading's time (RFC 3339). */
  at: string;
  kind: EventKind;
  gpu: number;
  pid?: number;
  name?: string | null;
  level?: Level;
}

/** How many events the log keeps (oldest dropped first). */
export const MAX_EVENTS = 200;

export const EVENT_COLOURS: Record<EventKind, string> = {
  process_start: "#16a34a",
  process_stop: "#64748b",
  oom: "#dc2626",
  alert_raised: "#ca8a04",
  alert_cleared: "#0891b2",
};

/** The events between reading `prev` and reading `next`. A GPU whose processes were not read in either reading
 *  (the driver lists them every few seconds) is not compared: its list was carried, not observed. */
export function eventsBetween(prev: Tick | null, next: Tick): MonitorEvent[] {
  const at = next.snapshot.taken_at;
  const out: MonitorEvent[] = [];
  if (prev) {
    for (const g of next.snapshot.gpus) {
      const before = prev.snapshot.gpus.find((p) => p.index === g.index);
      if (!before || before.processes == null || g.processes == null) continue;
      const was = new Map(before.processes.map((p) => [p.pid, p]));
      const now = new Set(g.processes.map((p) => p.pid));
      for (const p of g.processes) {
        if (!was.has(p.pid)) out.push({ at, kind: "process_start", gpu: g.index, pid: p.pid, name: p.name });
      }
      const critical = prev.assessment.gpus.find((a) => a.gpu === g.index)?.level === "critical";
      for (const p of before.processes) {
        if (!now.has(p.pid)) out.push({ at, kind: critical ? "oom" : "process_stop", gpu: g.index, pid: p.pid, name: p.name });
      }
    }
  }
  for (const c of next.assessment.changes) {
    const raised = c.to !== "normal" && (c.from === "normal" || (c.from === "warning" && c.to === "critical"));
    out.push({ at, kind: raised ? "alert_raised" : c.to === "normal" ? "alert_cleared" : "alert_raised", gpu: c.gpu, level: c.to === "normal" ? c.from : c.to });
  }
  return out;
}

/** `log` with `more` appended, keeping the newest MAX_EVENTS. */
export function appendEvents(log: MonitorEvent[], more: MonitorEvent[]): MonitorEvent[] {
  if (more.length === 0) return log;
  const all = [...log, ...more];
  return all.length > MAX_EVENTS ? all.slice(all.length - MAX_EVENTS) : all;
}
