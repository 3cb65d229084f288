// Turns a history window into the chart's columns: one line per GPU (or per process of one GPU), plus the
// warning and critical thresholds as dashed lines. Bytes stay bytes; the axis formats them as GiB.

import type { HistoryWindow, SeriesWindow } from "../../lib/bindings";
import { PALETTE, type ChartData, type ChartSeries } from "../../lib/components/chart";

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
