// What MemoryChart draws: time-aligned lines of bytes, one colour each. The Monitor view (live history)
// and the Runs view (one run's memory against its plan) both fill it.

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
