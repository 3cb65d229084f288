import { describe, expect, it } from "vitest";
import type { Message } from "./bindings";
import { formatAxisTime, formatBytes, formatCount, formatDate, formatDateTime, localeName } from "./format";
import { builtinDescription, formatDuration, messageText, messagesText } from "./messageText";

const idle: Message = {
  key: "backend.rec.stop_idle",
  args: {
    name: { type: "text", value: "python" },
    pid: { type: "text", value: "12345" },
    held: { type: "bytes", value: 3 * 2 ** 30 },
    idle: { type: "duration_ms", value: 600_000 },
  },
};

describe("backend messages", () => {
  it("render in English and Japanese with locale-formatted arguments", () => {
    expect(messageText("en", idle)).toBe("python (pid 12345) holds 3.00 GiB and has been idle for 10 min");
    expect(messageText("ja", idle)).toBe("python（pid 12345）は 3.00 GiB を保持したまま 10 分 アイドル状態です");
  });

  it("show a small size in MiB, never 0.00 GiB", () => {
    const m: Message = { key: "backend.suggest.checkpointing", args: { saving: { type: "bytes", value: 300 * 2 ** 20 } } };
    expect(messageText("en", m)).toBe("turn on gradient checkpointing: saves 300.0 MiB");
    expect(messageText("ja", m)).toBe("勾配チェックポイントを有効にする：300.0 MiB 節約");
  });

  it("fall back to the English text without a message or with an unknown key", () => {
    expect(messageText("ja", undefined, "as sent")).toBe("as sent");
    expect(messageText("ja", { key: "backend.nope", args: {} }, "as sent")).toBe("as sent");
  });

  it("join several costs the language's way", () => {
    const costs: Message[] = [
      { key: "backend.caveat.int4", args: {} },
      { key: "backend.caveat.offload", args: {} },
    ];
    expect(messagesText("en", costs)).toContain("critical work; layers");
    expect(messagesText("ja", costs)).toContain("向いています。GPU");
    expect(messagesText("ja", [], "none")).toBe("none");
  });

  it("translate built-in descriptions and keep a user's own", () => {
    expect(builtinDescription("ja", "preset", "cpu", true, "x")).toContain("GPU なし");
    expect(builtinDescription("ja", "preset", "cpu", false, "mine")).toBe("mine");
    expect(builtinDescription("ja", "profile", "debug", true, "x")).toContain("クラッシュ");
  });
});

describe("formatting", () => {
  it("counts, sizes and durations follow the language", () => {
    expect(formatCount(1048576, "en")).toBe("1,048,576");
    expect(formatBytes(512, "en")).toBe("512 bytes");
    expect(formatBytes(1536, "en")).toBe("1.5 KiB");
    expect(formatDuration(45_000, "ja")).toBe("45 秒");
    expect(formatDuration(3 * 3600_000, "en")).toBe("3.0 h");
  });

  it("dates have one format per language", () => {
    const t = Date.UTC(2026, 11, 7, 12, 0, 0);
    expect(formatDate(t, "en")).toBe("7 Dec 2026");
    expect(formatDate(t, "ja")).toBe("2026/12/07");
    expect(formatDateTime(t, "ja")).toMatch(/^2026\/12\/07 \d{1,2}:00$/);
  });
});

describe("locale names and chart times", () => {
  it("name a system locale the way people do, never as en_US.UTF-8", () => {
    expect(localeName("en_US.UTF-8", "en")).toBe("American English");
    expect(localeName("ja_JP.UTF-8", "ja")).toBe("日本語 (日本)");
    expect(localeName("C", "en")).toBeNull();
    expect(localeName(undefined, "en")).toBeNull();
  });

  it("label a chart's time axis in the language, with seconds only on a short span", () => {
    const t = new Date(2026, 11, 7, 14, 5, 9).getTime();
    expect(formatAxisTime(t, 60_000, "en")).toBe("14:05:09");
    expect(formatAxisTime(t, 3_600_000, "ja")).toBe("14:05");
    expect(formatAxisTime(t, 2 * 86_400_000, "ja")).toBe("12月7日 14:05");
  });
});
