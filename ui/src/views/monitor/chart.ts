// Turns a history window into the charts' columns: memory (one line per GPU, or per process of one GPU, with
// the capacity and the warning and critical thresholds as labelled reference lines), and each GPU's
// utilization and power beside it. Bytes stay bytes; the axis formats them.

import type { HistoryWindow, Points, SeriesWindow } from "../../lib/bindings";
import { CAPACITY_COLOUR, lineStyle, type ChartData, type ChartEvent, type ChartSeries } from "../../lib/components/chart";

/** The thresholds in the chart's terms: the alert compares `total − free` (used plus reserved) with
 *  fraction × total, so in used bytes the line sits at fraction × total − reserved. */
export interface Threshold {
  label: string;
  bytes: number;
  colour: string;
}

/** The board's capacity line: its total memory, labelled. */
export interface Capacity {
  label: string;
  bytes: number;
}

/** Aligns `lines` on one time axis (the union of their times); a time a series lacks is `undefined` (the line
 *  continues), a gap it reported is `null` (the line breaks). `pick` chooses which points of a series. */
function aligned(lines: SeriesWindow[], pick: (s: SeriesWindow) => Points | undefined, scale = 1) {
  const times = new Set<number>();
  for (const s of lines) for (const t of pick(s)?.t ?? []) times.add(t);
  const x = [...times].sort((a, b) => a - b);
  const index = new Map(x.map((t, i) => [t, i]));
  const series: ChartSeries[] = lines.map((s, i) => {
    const values: (number | null | undefined)[] = new Array(x.length).fill(undefined);
    const points = pick(s);
    points?.t.forEach((t, j) => {
      const v = points.v[j];
      values[index.get(t)!] = v == null ? null : v * scale;
    });
    // Colour and dash by the line's place: two GPUs with the same readings still show as two lines.
    const style = lineStyle(i);
    return { label: s.label, colour: style.colour, dashed: false, dash: style.dash, values };
  });
  return { x, series };
}

function span(window: HistoryWindow) {
  return { from: Date.parse(window.from) / 1000, to: Date.parse(window.to) / 1000 };
}

export function chartData(
  window: HistoryWindow,
  gpu: number | null,
  thresholds: Threshold[],
  capacity: Capacity | null = null,
  events: ChartEvent[] = [],
): ChartData {
  const lines: SeriesWindow[] = gpu === null ? window.gpus : window.processes.filter((p) => p.gpu === gpu);
  const { x, series } = aligned(lines, (s) => s.used);
  if (capacity) {
    series.push({ label: capacity.label, colour: CAPACITY_COLOUR, dashed: true, dash: [2, 0], reference: true, values: x.map(() => capacity.bytes) });
  }
  for (const th of thresholds) {
    series.push({ label: th.label, colour: th.colour, dashed: true, reference: true, values: x.map(() => th.bytes) });
  }
  return { x: x.map((t) => t / 1000), ...span(window), series, events };
}

/** Each GPU's utilization in percent over the window (null when the window has none, e.g. an older backend). */
export function utilizationData(window: HistoryWindow, gpu: number | null): ChartData | null {
  const lines = window.gpus.filter((g) => gpu === null || g.gpu === gpu);
  if (!lines.some((g) => g.utilization_percent?.t.length)) return null;
  const { x, series } = aligned(lines, (s) => s.utilization_percent);
  return { x: x.map((t) => t / 1000), ...span(window), series, unit: "percent" };
}

/** Each GPU's board power in watts over the window (the backend keeps milliwatts). */
export function powerData(window: HistoryWindow, gpu: number | null): ChartData | null {
  const lines = window.gpus.filter((g) => gpu === null || g.gpu === gpu);
  if (!lines.some((g) => g.power_mw?.t.length)) return null;
  const { x, series } = aligned(lines, (s) => s.power_mw, 1 / 1000);
  return { x: x.map((t) => t / 1000), ...span(window), series, unit: "watts" };
}
