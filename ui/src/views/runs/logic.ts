// The Runs view's logic, kept out of the components so it can be tested alone.

import type { IpcError } from "../../lib/api";
import type { AttemptRecord, LaunchEvent, ProbeReport, ResumePoint, RunRecord, RunSnapshot, RunUpdate, StartChoice } from "../../lib/bindings";
import { PALETTE, WARNING_COLOUR, type ChartData } from "../../lib/components/chart";
import type { MessageKey } from "../../lib/i18n";

/** Split a command line into argv as a POSIX shell would for words: '…' literal, "…" with \" and \\, and \
 * escaping outside quotes. No expansion: what you type is what the program gets. Null when a quote is open. */
export function splitArgv(text: string): string[] | null {
  const out: string[] = [];
  let word = "";
  let inWord = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return null;
      word += text.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      i += 1;
      let closed = false;
      while (i < text.length) {
        const d = text[i]!;
        if (d === '"') {
          closed = true;
          i += 1;
          break;
        }
        if (d === "\\" && (text[i + 1] === '"' || text[i + 1] === "\\")) {
          word += text[i + 1];
          i += 2;
        } else {
          word += d;
          i += 1;
        }
      }
      if (!closed) return null;
      inWord = true;
    } else if (c === "\\" && i + 1 < text.length) {
      word += text[i + 1];
      inWord = true;
      i += 2;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(word);
      word = "";
      inWord = false;
      i += 1;
    } else {
      word += c;
      inWord = true;
      i += 1;
    }
  }
  if (inWord) out.push(word);
  return out;
}

/** Move the chip at `index` one step left (-1) or right (+1); the same array when it cannot move. */
export function moveChip(chain: string[], index: number, step: -1 | 1): string[] {
  const to = index + step;
  if (index < 0 || index >= chain.length || to < 0 || to >= chain.length) return chain;
  const next = [...chain];
  [next[index], next[to]] = [next[to]!, next[index]!];
  return next;
}

/** One attempt as the timeline draws it: the finished record, or what is known while it runs. */
export interface TimelineEntry {
  index: number;
  preset: string;
  pid: number | null;
  expandable: boolean;
  /** The estimator's device peak for this attempt's preset, when the run has a plan. */
  predicted: number | null;
  /** The micro-batch and accumulation handed over, when the run has a batch. */
  microBatch: number | null;
  gradAccum: number | null;
  /** The checkpoint this relaunch resumed from. */
  resumedFrom: ResumePoint | null;
  record: AttemptRecord | null;
}

/** One reading of the attempt's process tree: `bytes` null when none of its processes was seen. */
export interface MemoryPoint {
  t: number;
  attempt: number;
  bytes: number | null;
}

/** The live state of a run, built only from what the launcher pushed. */
export interface LiveRun {
  runId: string;
  /** When the run started and what it trains (from the launcher's run_started), what the view titles it by;
   *  null until that event arrives. */
  origin: { startedMs: number; model: string } | null;
  attempts: TimelineEntry[];
  lines: { attempt: number; stream: "stdout" | "stderr"; line: string }[];
  droppedLines: number;
  finished: RunRecord | null;
  /** Why the launcher stopped the run early (a file it could not write), kept whole so the view words it in
   *  the person's language. */
  error: IpcError | null;
  memory: MemoryPoint[];
  /** Why the memory cannot be measured (no NVIDIA driver, …), when the probe said so. */
  memoryUnavailable: string | null;
  /** Why the run starts where it does down its chain, when it had estimates to choose by. */
  start: StartChoice | null;
}

/** The newest memory readings kept for the chart: an hour at NVML's 0.5 s. */
export const MAX_POINTS = 7200;

/** The newest lines kept on screen; the whole output is in each attempt's log file. */
export const MAX_LINES = 1000;

export function emptyRun(runId: string): LiveRun {
  return { runId, origin: null, attempts: [], lines: [], droppedLines: 0, finished: null, error: null, memory: [], memoryUnavailable: null, start: null };
}

function applyEvent(run: LiveRun, event: LaunchEvent) {
  switch (event.event) {
    case "run_started":
      run.runId = event.run_id;
      run.origin = { startedMs: event.started_unix_ms, model: event.model };
      run.start = event.start ?? null;
      break;
    case "attempt_started":
      run.attempts.push({
        index: event.index,
        preset: event.preset,
        pid: event.pid,
        expandable: event.expandable_segments,
        predicted: event.predicted_peak_bytes,
        microBatch: event.micro_batch ?? null,
        gradAccum: event.grad_accum ?? null,
        resumedFrom: event.resumed_from ?? null,
        record: null,
      });
      break;
    case "output":
      run.lines.push({ attempt: event.attempt, stream: event.stream, line: event.line });
      break;
    case "attempt_finished": {
      const a = event.attempt;
      const entry = run.attempts.find((e) => e.index === a.index);
      if (entry) entry.record = a;
      else run.attempts.push(entryOf(a));
      break;
    }
  }
}

function entryOf(a: AttemptRecord): TimelineEntry {
  return {
    index: a.index,
    preset: a.preset,
    pid: a.pid,
    expandable: a.expandable_segments,
    predicted: a.predicted_peak_bytes,
    microBatch: a.micro_batch ?? null,
    gradAccum: a.grad_accum ?? null,
    resumedFrom: a.resumed_from ?? null,
    record: a,
  };
}

function applyReport(run: LiveRun, report: ProbeReport) {
  if (report.kind === "unavailable") {
    run.memoryUnavailable = report.reason;
    return;
  }
  const attempt = run.attempts.find((a) => a.pid === report.pid);
  if (!attempt) return;
  run.memory.push({ t: report.unix_ms, attempt: attempt.index, bytes: report.bytes });
}

/** Fold one pushed batch into the run. */
export function applyUpdate(run: LiveRun, update: RunUpdate): LiveRun {
  for (const event of update.events) applyEvent(run, event);
  for (const report of update.memory) applyReport(run, report);
  if (run.memory.length > MAX_POINTS) run.memory.splice(0, run.memory.length - MAX_POINTS);
  run.droppedLines += update.dropped_lines;
  if (run.lines.length > MAX_LINES) {
    run.droppedLines += run.lines.length - MAX_LINES;
    run.lines.splice(0, run.lines.length - MAX_LINES);
  }
  if (update.finished) {
    run.finished = update.finished;
    run.attempts = update.finished.attempts.map(entryOf);
  }
  if (update.error) run.error = update.error;
  return run;
}

/** A run in progress as the backend kept it, for a window that reloaded: folded exactly as the pushed
 *  batches were, so the view draws it as if it had never gone away. */
export function runFromSnapshot(snapshot: RunSnapshot): LiveRun {
  const memory: ProbeReport[] = [...snapshot.memory];
  if (snapshot.memory_unavailable !== null) memory.push({ kind: "unavailable", reason: snapshot.memory_unavailable });
  return applyUpdate(emptyRun(snapshot.run_id), {
    run_id: snapshot.run_id,
    // The attempts first: each memory reading finds its attempt by pid.
    events: [...snapshot.attempts, ...snapshot.lines.map((l): LaunchEvent => ({ event: "output", ...l }))],
    dropped_lines: snapshot.dropped_lines,
    finished: null,
    error: null,
    memory,
  });
}

/** A finished run from the history, as the timeline draws it. */
export function entriesOf(record: RunRecord): TimelineEntry[] {
  return record.attempts.map(entryOf);
}

/** A form's optional whole number of at least 1: `undefined` when empty, `null` when it is not one. */
export function parseCount(text: string): number | undefined | null {
  const trimmed = text.trim();
  if (trimmed === "") return undefined;
  if (!/^[0-9]+$/.test(trimmed)) return null;
  const n = Number(trimmed);
  return Number.isSafeInteger(n) && n >= 1 ? n : null;
}

/** The live chart's columns: the tree's memory, and the attempt's predicted peak as a dashed "plan" line
 *  (only where the attempt has one). Bytes as the backend sent them; the axis formats them. */
export function runChartData(run: LiveRun, labels: { memory: string; plan: string }): ChartData {
  const x = run.memory.map((p) => p.t / 1000);
  const plans = new Map(run.attempts.map((a) => [a.index, a.predicted]));
  const series: ChartData["series"] = [
    { label: labels.memory, colour: PALETTE[0]!, dashed: false, values: run.memory.map((p) => p.bytes) },
  ];
  const plan = run.memory.map((p) => plans.get(p.attempt) ?? null);
  if (plan.some((v) => v !== null)) series.push({ label: labels.plan, colour: WARNING_COLOUR, dashed: true, values: plan });
  const from = x[0] ?? 0;
  const to = Math.max(x.at(-1) ?? 0, from + 1);
  return { x, from, to, series };
}

/** What to say about a run whose launcher died (the app or `headroom-cli` killed mid-run): the message and
 * the process it names. Null for any other run. */
export function interruptionOf(
  r: RunRecord,
): { key: "runs.interrupted.alive" | "runs.interrupted.gone" | "runs.interrupted.unknown"; pid: number | null } | null {
  if (r.outcome !== "interrupted") return null;
  const i = r.interruption;
  if (!i?.process || i.process_alive === null) return { key: "runs.interrupted.unknown", pid: null };
  return { key: i.process_alive ? "runs.interrupted.alive" : "runs.interrupted.gone", pid: i.process.pid };
}

/** Why a run started where it did down its chain, as lines for the view: each skipped step with its figures,
 *  then whether the start was pinned or nothing fitted. */
export function startLines(
  start: StartChoice,
  t: (key: MessageKey, values?: Record<string, string | number>) => string,
  gib: (bytes: number) => string,
): string[] {
  const lines = start.skipped.map((s) =>
    t("runs.startSkipped", {
      what: s.micro_batch != null ? t("runs.startAtBatch", { preset: s.preset, mb: s.micro_batch }) : s.preset,
      needs: s.high_bytes === s.central_bytes ? gib(s.central_bytes) : `${gib(s.central_bytes)}–${gib(s.high_bytes)}`,
      usable: gib(start.usable_bytes),
    }),
  );
  if (start.pinned) lines.push(t("runs.startPinned"));
  else if (start.none_fits) lines.push(t("runs.startNoneFits"));
  return lines;
}
