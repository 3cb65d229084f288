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

  it("turns anything else into an 'invalid' error with its text", () => {
    expect(toIpcError("invalid args `settings` for command `save_settings`")).toEqual({
      code: "invalid",
      message: "invalid args `settings` for command `save_settings`",
    });
    expect(toIpcError({ code: "bogus", message: 1 }).code).toBe("invalid");
  });
});
