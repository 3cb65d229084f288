import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { flushSync, mount, unmount } from "svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import MachineCalibration from "./MachineCalibration.svelte";
import type { CalibrationStatus } from "../../lib/bindings";
import { translate, type MessageKey } from "../../lib/i18n";

const MIB = 2 ** 20;
const DAY = 86_400_000;

const CALIBRATED: CalibrationStatus = {
  calibration: {
    train: {
      cuda_context_bytes: 412 * MIB,
      allocator_slack_permille: 73,
      runs: 5,
      first_run_unix_ms: 20_000 * DAY,
      last_run_unix_ms: 20_003 * DAY,
      fit: "regression",
      lengths_runs: 1,
    },
    infer: null,
  },
  train_runs: 5,
  infer_runs: 1,
  min_runs: 3,
  reset_unix_ms: null,
  default_cuda_context_bytes: 500 * MIB,
  default_train_slack_permille: 50,
  default_infer_slack_permille: 20,
  unreadable: null,
};

let calls: string[] = [];
let component: ReturnType<typeof mount> | null = null;

function backend(reset: () => CalibrationStatus | never) {
  calls = [];
  mockIPC((cmd) => {
    calls.push(cmd);
    switch (cmd) {
      case "get_machine_calibration":
        return CALIBRATED;
      case "reset_machine_calibration":
        return reset();
      default:
        throw { code: "internal", message: `unexpected command ${cmd}` };
    }
  });
}

function show(lang: "en" | "ja" = "en") {
  const t = (key: MessageKey, values?: Record<string, string | number>) => translate(lang, key, values);
  component = mount(MachineCalibration, { target: document.body, props: { t } });
  flushSync();
}

async function settle() {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
  flushSync();
}

const text = (id: string) => document.querySelector(`[data-testid="${id}"]`)?.textContent?.replace(/\s+/g, " ").trim();
const button = () => document.querySelector<HTMLButtonElement>('[data-testid="calibration-reset"]')!;

beforeEach(() => (document.body.innerHTML = ""));
afterEach(() => {
  if (component) unmount(component);
  component = null;
  clearMocks();
});

describe("Settings: learned from this machine", () => {
  it("shows each task's context, slack, runs and dates, or how many runs it still needs", async () => {
    backend(() => CALIBRATED);
    show();
    await settle();
    expect(calls).toEqual(["get_machine_calibration"]);
    expect(text("calibration-train")?.startsWith(
      "CUDA context 412 MiB, allocator slack 7.3%: from 5 runs, 4 Oct 2024 to 7 Oct 2024 ",
    )).toBe(true);
    expect(text("calibration-infer")).toBe(
      "Not calibrated yet: 1 of 3 measured runs. Estimates use the defaults (CUDA context 500 MiB, allocator slack 2.0%).",
    );
    expect(text("calibration-train-lengths")).toBe(
      "Batches of changing length: 1 of 3 runs that left their lengths open. Until then the range allows what the allocator model strands.",
    );
    expect(text("calibration-reset-at")).toBeUndefined();
    expect(text("calibration-unreadable")).toBeUndefined();
  });

  it("says what share of the lengths allowance this machine's runs needed, in either language", async () => {
    const learnt: CalibrationStatus = {
      ...CALIBRATED,
      calibration: {
        ...CALIBRATED.calibration,
        train: { ...CALIBRATED.calibration.train!, lengths_share_permille: 650, lengths_runs: 4 },
      },
    };
    mockIPC((cmd) => (cmd === "get_machine_calibration" ? learnt : null));
    show();
    await settle();
    expect(text("calibration-train-lengths")).toBe(
      "Batches of changing length: the 4 runs that left their lengths open needed at most 65% of the range's allowance for them, so the range allows that share.",
    );
    unmount(component!);
    component = null;
    document.body.innerHTML = "";
    show("ja");
    await settle();
    expect(text("calibration-train-lengths")).toContain("最大 65%");
    expect(text("calibration-train-lengths")).toContain("4 回");
  });

  it("says when the calibration file could not be read", async () => {
    backend(() => CALIBRATED);
    mockIPC((cmd) => (cmd === "get_machine_calibration" ? { ...CALIBRATED, unreadable: "not a Headroom document" } : null));
    show();
    await settle();
    expect(text("calibration-unreadable")).toBe(
      "The calibration file could not be read (not a Headroom document): no reset applies until the next one.",
    );
  });

  it("resets: the runs so far are set aside and the date is shown", async () => {
    const afterReset: CalibrationStatus = {
      ...CALIBRATED,
      calibration: { train: null, infer: null },
      train_runs: 0,
      infer_runs: 0,
      reset_unix_ms: 20_010 * DAY,
    };
    backend(() => afterReset);
    show();
    await settle();
    button().click();
    await settle();
    expect(calls).toEqual(["get_machine_calibration", "reset_machine_calibration"]);
    expect(text("calibration-train")).toContain("Not calibrated yet: 0 of 3 measured runs");
    expect(text("calibration-train")).toContain("allocator slack 5.0%");
    expect(text("calibration-reset-at")).toBe("Runs started before 14 Oct 2024 are ignored (reset).");
    expect(button().disabled).toBe(false);
  });

  it("says why a reset failed and keeps what it showed", async () => {
    backend(() => {
      throw { code: "io", message: "calibration.json: permission denied" };
    });
    show("ja");
    await settle();
    button().click();
    await settle();
    expect(text("calibration-error")).toBe("calibration.json: permission denied");
    expect(text("calibration-train")).toContain("CUDA コンテキスト 412 MiB");
  });
});
