// Turns a history window into the chart's columns: one line per GPU (or per process of one GPU), plus the
// warning and critical thresholds as dashed lines. Bytes stay bytes; the axis formats them as GiB.

import type { HistoryWindow, SeriesWindow } from "../../lib/bindings";

export const PALETTE = ["#2563eb", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#db2777", "#65a30d", "#a16207"];
export const WARNING_COLOUR = "#ca8a04";
export const CRITICAL_COLOUR = "#dc2626";

/** Y-axis steps in whole GiB (and halves below 4 GiB), so ticks read 10.00 GiB, 20.00 GiB, not 18.63 GiB. */
export const GIB_STEPS = [0.25, 0.5, 1, 2, 4, 5, 10, 20, 40, 80, 160, 320, 640].map((g) => g * 2 ** 30);

export interface ChartSeries {
  label: string;
  colour: string;
  dashed: boolean;
  values: (number | null | undefined)[];
}

export interface ChartData {
  /** Seconds since the epoch (uPlot's time unit). */
  x: number[];
  /** The window's span in seconds, so the axis shows the whole chosen range even while history is short. */
  from: number;
  to: number;
  series: ChartSeries[];
}

/** The thresholds in the chart's terms: the alert compares `total − free` (used plus reserved) with
 *  fraction × total, so in used bytes the line sits at fraction × total − reserved. */
export interface Threshold {
  label: string;
  bytes: number;
  colour: string;
}

/** Aligns the series on one time axis (the union of their times); a time a series lacks is `undefined` (the
 *  line continues), a gap it reported is `null` (the line breaks). */
export function chartData(window: HistoryWindow, gpu: number | null, thresholds: Threshold[]): ChartData {
  const lines: SeriesWindow[] = gpu === null ? window.gpus : window.processes.filter((p) => p.gpu === gpu);
  const times = new Set<number>();
  for (const s of lines) for (const t of s.used.t) times.add(t);
  const x = [...times].sort((a, b) => a - b);
  const index = new Map(x.map((t, i) => [t, i]));
  const series: ChartSeries[] = lines.map((s, i) => {
    const values: (number | null | undefined)[] = new Array(x.length).fill(undefined);
    s.used.t.forEach((t, j) => {
      values[index.get(t)!] = s.used.v[j] ?? null;
    });
    return { label: s.label, colour: PALETTE[i % PALETTE.length]!, dashed: false, values };
  });
  for (const th of thresholds) {
    series.push({ label: th.label, colour: th.colour, dashed: true, values: x.map(() => th.bytes) });
  }
  return { x: x.map((t) => t / 1000), from: Date.parse(window.from) / 1000, to: Date.parse(window.to) / 1000, series };
}
