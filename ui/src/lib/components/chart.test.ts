import { describe, expect, it } from "vitest";
import { formatGiB } from "../format";
import { byteAxisUnit, GIB_STEPS, lastValue, lineStyle, PALETTE, tickLabel } from "./chart";

const GIB = 2 ** 30;
const MIB = 2 ** 20;

describe("chart helpers", () => {
  it("gives two lines different colours, and lines past the palette a dash as well", () => {
    expect(lineStyle(0)).toEqual({ colour: PALETTE[0], dash: undefined });
    expect(lineStyle(1).colour).not.toBe(lineStyle(0).colour);
    const wrapped = lineStyle(PALETTE.length);
    expect(wrapped.colour).toBe(PALETTE[0]);
    expect(wrapped.dash).toBeDefined();
  });

  it("ticks whole GiB, and whole MiB when the chart is small", () => {
    expect(GIB_STEPS.every((s) => Number.isInteger(s / GIB))).toBe(true);
    expect(byteAxisUnit(80 * GIB)).toBe("GiB");
    expect(byteAxisUnit(300 * MIB)).toBe("MiB");
    expect(tickLabel(20 * GIB, "bytes", "GiB")).toBe("20 GiB");
    expect(tickLabel(256 * MIB, "bytes", "MiB")).toBe("256 MiB");
    expect(tickLabel(42.4, "percent", "GiB")).toBe("42 %");
    expect(tickLabel(299.6, "watts", "GiB")).toBe("300 W");
  });

  it("reads a series' latest value for the legend, skipping gaps", () => {
    expect(lastValue([1, 2, null, undefined])).toBe(2);
    expect(lastValue([null])).toBeNull();
  });

  it("writes sizes under 1 GiB in MiB", () => {
    expect(formatGiB(512 * MIB)).toBe("512.0 MiB");
    expect(formatGiB(0)).toBe("0.00 GiB");
    expect(formatGiB(10 * GIB)).toBe("10.00 GiB");
  });
});
