// What MemoryChart draws: time-aligned lines, one colour (and dash) each, with optional reference lines
// (capacity, thresholds) labelled on the plot and event markers. The Monitor view (live history) and the Runs
// view (one run's memory against its plan) both fill it.

export const PALETTE = ["#2563eb", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#db2777", "#65a30d", "#a16207"];
/** Dash patterns cycled with the colours, so two lines that lie on top of each other still both show. */
export const DASHES: (number[] | undefined)[] = [undefined, [10, 5], [3, 3], [12, 4, 3, 4]];
export const WARNING_COLOUR = "#ca8a04";
export const CRITICAL_COLOUR = "#dc2626";
export const CAPACITY_COLOUR = "#64748b";

const MIB = 2 ** 20;
const GIB = 2 ** 30;

/** Y-axis steps in whole GiB, so ticks read 10 GiB, 20 GiB, not 18.63 GiB. */
export const GIB_STEPS = [1, 2, 4, 5, 10, 20, 40, 80, 160, 320, 640, 1280].map((g) => g * GIB);
/** Below 2 GiB the axis counts whole MiB instead. */
export const MIB_STEPS = [1, 2, 4, 5, 10, 20, 50, 100, 128, 256, 512, 1024].map((m) => m * MIB);

export type ChartUnit = "bytes" | "percent" | "watts";

export interface ChartSeries {
  label: string;
  colour: string;
  dashed: boolean;
  /** An explicit dash pattern (a GPU line); `dashed` alone draws the reference lines' dash. */
  dash?: number[];
  /** A horizontal reference (capacity, a threshold): labelled at its right end on the plot. */
  reference?: boolean;
  values: (number | null | undefined)[];
}

/** Something that happened, drawn as a vertical marker at its time. */
export interface ChartEvent {
  /** Seconds since the epoch, like `x`. */
  t: number;
  label: string;
  colour: string;
}

export interface ChartData {
  /** Seconds since the epoch (uPlot's time unit). */
  x: number[];
  /** The window's span in seconds, so the axis shows the whole chosen range even while history is short. */
  from: number;
  to: number;
  series: ChartSeries[];
  /** What the values are; bytes when absent. */
  unit?: ChartUnit;
  events?: ChartEvent[];
}

/** Colour and dash of the i-th line: colours first, then the same colours dashed. */
export function lineStyle(i: number): { colour: string; dash: number[] | undefined } {
  return {
    colour: PALETTE[i % PALETTE.length]!,
    dash: DASHES[(i + Math.floor(i / PALETTE.length)) % DASHES.length],
  };
}

/** Whether an axis up to `max` bytes counts MiB (small totals) or GiB. */
export function byteAxisUnit(max: number): "MiB" | "GiB" {
  return max < 2 * GIB ? "MiB" : "GiB";
}

/** A tick label: whole numbers of the axis unit ("10 GiB", "512 MiB", "50 %", "300 W"). */
export function tickLabel(value: number, unit: ChartUnit, byteUnit: "MiB" | "GiB"): string {
  if (unit === "percent") return `${Math.round(value)} %`;
  if (unit === "watts") return `${Math.round(value)} W`;
  const n = value / (byteUnit === "MiB" ? MIB : GIB);
  return `${Number.isInteger(n) ? n : n.toFixed(1)} ${byteUnit}`;
}

/** The last value a series has, for the legend while the cursor is off the plot (instead of "n/a"). */
export function lastValue(values: (number | null | undefined)[]): number | null {
  for (let i = values.length - 1; i >= 0; i--) {
    const v = values[i];
    if (v != null) return v;
  }
  return null;
}
