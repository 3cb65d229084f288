import { afterEach, describe, expect, it } from "vitest";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { api, toIpcError } from "./api";

afterEach(() => clearMocks());

describe("api", () => {
  it("sends the settings under the argument name the command expects", async () => {
    const calls: Array<[string, unknown]> = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      if (cmd === "save_settings") return (args as { settings: unknown }).settings;
      throw new Error(`unexpected ${cmd}`);
    });
    const saved = await api.saveSettings({ language: "ja", theme: "dark", notify_on_critical: false, fit_on: "high" });
    expect(saved).toEqual({ language: "ja", theme: "dark", notify_on_critical: false, fit_on: "high" });
    expect(calls).toEqual([["save_settings", { settings: { language: "ja", theme: "dark", notify_on_critical: false, fit_on: "high" } }]]);
  });

  it("passes backend errors through as {code, message}", async () => {
    mockIPC(() => {
      throw { code: "conflict", message: "presets/a.json was changed by someone else" };
    });
    await expect(api.getSettings()).rejects.toEqual({
      code: "conflict",
      message: "presets/a.json was changed by someone else",
    });
  });

  it("keeps the field an invalid error names", () => {
    expect(toIpcError({ code: "invalid", message: "lora.rank: must be a positive integer, got 0", field: "lora.rank" })).toEqual({
      code: "invalid",
      message: "lora.rank: must be a positive integer, got 0",
      field: "lora.rank",
    });
    expect(toIpcError({ code: "io", message: "x", field: 3 })).toEqual({ code: "io", message: "x" });
  });

  it("keeps the reason's message key, so the view can word it in the person's language", () => {
    const message_key = { key: "backend.invalid.monitor.interval", args: { interval_ms: { type: "count", value: 50 } } };
    expect(
      toIpcError({ code: "invalid", message: "interval_ms: 50 ms is outside 100 ms to 10 s", field: "interval_ms", message_key }),
    ).toEqual({ code: "invalid", message: "interval_ms: 50 ms is outside 100 ms to 10 s", field: "interval_ms", message_key });
    // Something that is not a message is dropped rather than passed on to be formatted.
    expect(toIpcError({ code: "invalid", message: "x", message_key: "backend.x" })).toEqual({ code: "invalid", message: "x" });
    expect(toIpcError({ code: "invalid", message: "x", message_key: { key: 1, args: {} } })).toEqual({ code: "invalid", message: "x" });
  });

  it("turns anything else into an 'invalid' error with its text", () => {
    expect(toIpcError("invalid args `settings` for command `save_settings`")).toEqual({
      code: "invalid",
      message: "invalid args `settings` for command `save_settings`",
    });
    expect(toIpcError({ code: "bogus", message: 1 }).code).toBe("invalid");
  });
});
