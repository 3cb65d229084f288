import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { flushSync, mount, unmount } from "svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import EnvironmentView from "./EnvironmentView.svelte";
import { api } from "../../lib/api";
import { AppModel } from "../../lib/app.svelte";
import type { Finding, ProfileView } from "../../lib/bindings";
import { fieldOf, messageFor } from "../../lib/errors";
import { en as variableWords } from "../../lib/messages/variables";
import { copyName, fixLabel } from "./logic";

// The catalog's own English for the variables it has (lib/messages/variables.ts holds it equal to the backend's).
const catalogWords = variableWords as Record<string, string>;
const info = (name: string, debug_only: boolean) => ({
  name,
  effect: catalogWords[`env.var.${name}.effect`] ?? `${name} effect`,
  cost: catalogWords[`env.var.${name}.cost`] ?? `${name} cost`,
  source: "docs/estimator.md §15",
  debug_only,
});

const production: ProfileView = {
  name: "production",
  description: "Training runs",
  purpose: "production",
  builtin: true,
  revision: null,
  variables: [
    { name: "CUDA_LAUNCH_BLOCKING", value: null, info: info("CUDA_LAUNCH_BLOCKING", true) },
    { name: "PYTORCH_CUDA_ALLOC_CONF", value: "expandable_segments:True", info: info("PYTORCH_CUDA_ALLOC_CONF", false) },
  ],
};

let mine: ProfileView;
let calls: { cmd: string; args: Record<string, unknown> }[];
let conflictOnSave = false;
/** What the save dialog answers: the path written, or null when cancelled. */
let exportDialogAnswer: string | null = null;
let component: ReturnType<typeof mount> | null = null;

const blocking: Finding = {
  severity: "error",
  rule: "debug_setting_in_production",
  variable: "CUDA_LAUNCH_BLOCKING",
  message: "CUDA_LAUNCH_BLOCKING=1 makes every CUDA call synchronous",
  message_key: { key: "backend.doctor.launch_blocking", args: { value: { type: "text", value: "1" } } },
  fix: { action: "unset", variable: "CUDA_LAUNCH_BLOCKING" },
};

function backend() {
  calls = [];
  mine = {
    name: "mine",
    description: "",
    purpose: "production",
    builtin: false,
    revision: "00000000000000aa",
    variables: [{ name: "CUDA_LAUNCH_BLOCKING", value: "1", info: info("CUDA_LAUNCH_BLOCKING", true) }],
  };
  mockIPC((cmd, raw) => {
    const args = (raw ?? {}) as Record<string, unknown>;
    calls.push({ cmd, args });
    switch (cmd) {
      case "env_catalog":
        return [info("CUDA_LAUNCH_BLOCKING", true), info("NCCL_DEBUG", false)];
      case "env_list_profiles":
        return {
          profiles: [
            { name: "production", purpose: "production", builtin: true, description: "" },
            { name: "debug", purpose: "debug", builtin: true, description: "" },
            { name: "mine", purpose: "production", builtin: false, description: "" },
          ],
          quarantined: [],
        };
      case "env_load_profile":
        return args.name === "mine" ? mine : production;
      case "env_doctor": {
        const on = mine.variables.some((v) => v.name === "CUDA_LAUNCH_BLOCKING" && v.value === "1");
        return { report: { profile: args.profile, findings: on ? [blocking] : [] }, skipped_lines: [], variables: 12 };
      }
      case "env_fix_file":
        return null;
      case "env_apply_fix":
        mine = { ...mine, revision: "00000000000000bb", variables: [{ ...mine.variables[0]!, value: null }] };
        return mine;
      case "env_save_profile":
        if (conflictOnSave) throw { code: "conflict", message: "mine.json was changed by someone else" };
        if ((args.profile as { name: string }).name === "") throw { code: "invalid", message: "name: must not be empty", field: "name" };
        return { ...mine, ...(args.profile as object), builtin: false, revision: "00000000000000cc", variables: mine.variables };
      case "env_delete_profile":
        return null;
      case "env_export_dialog":
        return exportDialogAnswer;
      case "env_export":
        return args.format === "shell" ? "#!/bin/sh\nunset CUDA_LAUNCH_BLOCKING\n" : "# CUDA_LAUNCH_BLOCKING must be unset\n";
      default:
        throw { code: "internal", message: `unexpected command ${cmd}` };
    }
  });
}

const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
  flushSync();
};

async function open() {
  backend();
  const app = new AppModel(api);
  component = mount(EnvironmentView, { target: document.body, props: { app } });
  await settle();
  return app;
}

/** Open "mine" for editing and change its description. */
async function editMine() {
  document.querySelector<HTMLButtonElement>('[data-profile="mine"]')!.click();
  await settle();
  button("Edit").click();
  flushSync();
  const description = document.querySelector<HTMLInputElement>('input[name="profile-description"]')!;
  description.value = "my edit";
  description.dispatchEvent(new Event("input"));
  // The binding finishes the input a tick later, as it would before any click a person could make.
  await settle();
}

const unsaved = () => document.querySelector('[role="alertdialog"]');

const button = (text: string) =>
  [...document.querySelectorAll("button")].find((b) => b.textContent?.trim() === text) as HTMLButtonElement;

beforeEach(() => {
  document.body.innerHTML = "";
  conflictOnSave = false;
  exportDialogAnswer = null;
});
afterEach(() => {
  if (component) unmount(component);
  component = null;
  clearMocks();
  vi.restoreAllMocks();
});

describe("the Environment view", () => {
  it("lists built-in profiles locked and user profiles below, and shows what each variable does and costs", async () => {
    await open();
    const names = [...document.querySelectorAll("[data-profile]")].map((b) => b.getAttribute("data-profile"));
    expect(names).toEqual(["production", "debug", "mine"]);
    const row = document.querySelector('[data-testid="profile"] tr[data-variable="CUDA_LAUNCH_BLOCKING"]')!;
    expect(row.textContent).toContain("debug only");
    expect(row.textContent).toContain("unset");
    expect(row.textContent).toContain("1 makes every CUDA call synchronous, so an error is reported at the operation that failed");
    expect(row.textContent).toContain("removes all CPU/GPU overlap: a large slowdown of every training step");
    expect(document.body.textContent).toContain("Built-in profiles are locked");
  });

  it("shows a finding with its fix as a button and applies it to the profile", async () => {
    await open();
    document.querySelector<HTMLButtonElement>('[data-profile="mine"]')!.click();
    await settle();
    document.querySelector<HTMLButtonElement>('[data-testid="doctor-check"]')!.click();
    await settle();
    const finding = document.querySelector('[data-testid="findings"] [data-variable="CUDA_LAUNCH_BLOCKING"]')!;
    expect(finding.getAttribute("data-severity")).toBe("error");
    expect(finding.textContent).toContain("Error");
    const fix = button("Unset CUDA_LAUNCH_BLOCKING in mine");
    expect(fix.disabled).toBe(false);
    fix.click();
    await settle();
    const applied = calls.find((c) => c.cmd === "env_apply_fix")!;
    expect(applied.args).toEqual({ name: "mine", expected: "00000000000000aa", fix: blocking.fix });
    expect(document.querySelector('[data-testid="doctor-clean"]')?.textContent).toContain("12 variables");
  });

  it("shows the backend's finding and a built-in profile's description in Japanese", async () => {
    const app = await open();
    app.settings.language = "ja";
    flushSync();
    expect(document.querySelector('[data-testid="profile-description"]')?.textContent).toContain("学習の実行用");
    // What each catalog variable does and costs, in Japanese too.
    const row = document.querySelector('tr[data-variable="PYTORCH_CUDA_ALLOC_CONF"]')!;
    expect(row.textContent).toContain("CUDA キャッシュアロケータのオプション");
    expect(row.textContent).toContain("expandable_segments ならなし");
    expect(row.textContent).not.toContain("options of the CUDA caching allocator");
    document.querySelector<HTMLButtonElement>('[data-testid="doctor-check"]')!.click();
    await settle();
    const finding = document.querySelector('[data-testid="findings"] [data-variable="CUDA_LAUNCH_BLOCKING"]')!;
    expect(finding.textContent).toContain("CUDA_LAUNCH_BLOCKING=1 はすべての CUDA 呼び出しを同期にします");
    expect(finding.textContent).not.toContain("makes every CUDA call synchronous");
  });

  it("applies a fix for a locked built-in profile to a copy of it, and says so in words", async () => {
    await open();
    // production is selected; the mocked doctor reports CUDA_LAUNCH_BLOCKING as on.
    document.querySelector<HTMLButtonElement>('[data-testid="doctor-check"]')!.click();
    await settle();
    expect(document.querySelector('[data-testid="fix-locked"]')?.textContent).toContain(
      "production is built in and locked, so fixes go to a copy of it, production-fixed",
    );
    const fix = button("Unset CUDA_LAUNCH_BLOCKING in production-fixed");
    expect(fix.disabled).toBe(false);
    fix.click();
    await settle();
    const save = calls.find((c) => c.cmd === "env_save_profile")!;
    expect(save.args.expected).toBeNull();
    const copy = save.args.profile as { name: string; variables: { name: string; value: string | null }[] };
    expect(copy.name).toBe("production-fixed");
    expect(copy.variables.find((v) => v.name === "CUDA_LAUNCH_BLOCKING")).toEqual({ name: "CUDA_LAUNCH_BLOCKING", value: null });
    expect(calls.some((c) => c.cmd === "env_apply_fix")).toBe(false);
  });

  it("applies a fix to the .env file it checked, and checks it again", async () => {
    await open();
    document.querySelector<HTMLInputElement>('input[value="file"]')!.click();
    flushSync();
    const file = document.querySelector<HTMLInputElement>('input[name="doctor-file"]')!;
    file.value = "/home/me/project/.env";
    file.dispatchEvent(new Event("input"));
    document.querySelector<HTMLButtonElement>('[data-testid="doctor-check"]')!.click();
    await settle();
    const fix = document.querySelector<HTMLButtonElement>('[data-testid="fix-file"]')!;
    expect(fix.textContent).toBe("Unset CUDA_LAUNCH_BLOCKING in .env");
    const doctorRuns = calls.filter((c) => c.cmd === "env_doctor").length;
    fix.click();
    await settle();
    expect(calls.find((c) => c.cmd === "env_fix_file")?.args).toEqual({
      path: "/home/me/project/.env",
      fix: { action: "unset", variable: "CUDA_LAUNCH_BLOCKING" },
    });
    expect(calls.filter((c) => c.cmd === "env_doctor").length).toBe(doctorRuns + 1);
    expect(document.querySelector('[data-testid="file-fixed"]')?.textContent).toContain("Applied to /home/me/project/.env");
  });

  it("checks a process id before asking the backend, and says so next to the field", async () => {
    await open();
    document.querySelector<HTMLInputElement>('input[value="process"]')!.click();
    flushSync();
    const pid = document.querySelector<HTMLInputElement>('input[name="doctor-pid"]')!;
    pid.value = "12x";
    pid.dispatchEvent(new Event("input"));
    document.querySelector<HTMLButtonElement>('[data-testid="doctor-check"]')!.click();
    await settle();
    expect(pid.getAttribute("aria-invalid")).toBe("true");
    expect(document.body.textContent).toContain("Process id must be a whole number");
    expect(calls.some((c) => c.cmd === "env_doctor")).toBe(false);
  });

  it("duplicates a profile, and a conflicting save offers a reload that keeps the edits", async () => {
    await open();
    await editMine();
    conflictOnSave = true;
    document.querySelector<HTMLFormElement>('[data-testid="profile-form"]')!.requestSubmit();
    await settle();
    expect(document.body.textContent).toContain("changed elsewhere");
    button("Reload").click();
    await settle();
    expect(document.querySelector<HTMLInputElement>('input[name="profile-description"]')!.value).toBe("my edit");
    conflictOnSave = false;
    document.querySelector<HTMLFormElement>('[data-testid="profile-form"]')!.requestSubmit();
    await settle();
    const save = calls.filter((c) => c.cmd === "env_save_profile").at(-1)!;
    expect((save.args.profile as { description: string }).description).toBe("my edit");
    expect(save.args.expected).toBe("00000000000000aa");
  });

  it("closes the form with Escape", async () => {
    await open();
    document.querySelector<HTMLButtonElement>('[data-profile="mine"]')!.click();
    await settle();
    button("Duplicate…").click();
    flushSync();
    expect(document.querySelector<HTMLInputElement>('input[name="profile-name"]')!.value).toBe("mine-copy");
    // The form says what a known variable does and costs, and suggests the ones Headroom knows.
    expect(document.querySelector(".row-help")?.textContent).toContain("removes all CPU/GPU overlap: a large slowdown of every training step");
    expect([...document.querySelectorAll("#env-catalog option")].map((o) => o.getAttribute("value"))).toEqual([
      "CUDA_LAUNCH_BLOCKING",
      "NCCL_DEBUG",
    ]);
    window.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape" }));
    flushSync();
    expect(document.querySelector('[data-testid="profile-form"]')).toBeNull();
  });

  it("deletes a user profile with undo", async () => {
    await open();
    document.querySelector<HTMLButtonElement>('[data-profile="mine"]')!.click();
    await settle();
    button("Delete").click();
    await settle();
    expect(calls.find((c) => c.cmd === "env_delete_profile")!.args).toEqual({ name: "mine", expected: "00000000000000aa" });
    button("Undo").click();
    await settle();
    const restore = calls.filter((c) => c.cmd === "env_save_profile").at(-1)!;
    expect(restore.args.expected).toBeNull();
    expect((restore.args.profile as { name: string }).name).toBe("mine");
  });

  it("exports as a shell script, saved where the system dialog says", async () => {
    await open();
    button("Shell script").click();
    await settle();
    expect(document.querySelector('[data-testid="export-text"]')?.textContent).toContain("unset CUDA_LAUNCH_BLOCKING");
    // Cancelled: nothing written, nothing said.
    button("Save to file…").click();
    await settle();
    expect(calls.find((c) => c.cmd === "env_export_dialog")?.args).toEqual({ name: "production", format: "shell" });
    expect(document.querySelector('.export [role="status"]')).toBeNull();
    exportDialogAnswer = "/home/me/project/env.sh";
    button("Save to file…").click();
    await settle();
    expect(document.querySelector('.export [role="status"]')?.textContent).toBe("Wrote /home/me/project/env.sh.");
    expect(document.querySelector('input[name="export-path"]')).toBeNull();
  });

  it("asks before switching profile drops unsaved edits", async () => {
    await open();
    await editMine();
    const loads = calls.filter((c) => c.cmd === "env_load_profile").length;
    document.querySelector<HTMLButtonElement>('[data-profile="production"]')!.click();
    await settle();
    expect(unsaved()?.textContent).toContain("mine has unsaved changes");
    expect(calls.filter((c) => c.cmd === "env_load_profile")).toHaveLength(loads);
    expect(document.activeElement?.textContent).toBe("Keep editing");
    button("Keep editing").click();
    flushSync();
    expect(unsaved()).toBeNull();
    expect(document.querySelector<HTMLInputElement>('input[name="profile-description"]')!.value).toBe("my edit");
    document.querySelector<HTMLButtonElement>('[data-profile="production"]')!.click();
    await settle();
    button("Discard changes").click();
    await settle();
    expect(document.querySelector('[data-testid="profile-form"]')).toBeNull();
    expect(document.querySelector("#profile-title")?.textContent).toContain("production");
  });

  it("switches, and closes the form with Escape, without asking when nothing was changed", async () => {
    await open();
    document.querySelector<HTMLButtonElement>('[data-profile="mine"]')!.click();
    await settle();
    button("Edit").click();
    flushSync();
    document.querySelector<HTMLButtonElement>('[data-profile="production"]')!.click();
    await settle();
    expect(unsaved()).toBeNull();
    expect(document.querySelector("#profile-title")?.textContent).toContain("production");
  });

  it("asks before Escape drops unsaved edits", async () => {
    await open();
    await editMine();
    window.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape" }));
    flushSync();
    expect(unsaved()).not.toBeNull();
    expect(document.querySelector('[data-testid="profile-form"]')).not.toBeNull();
    // A second Escape answers "keep editing".
    window.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape" }));
    flushSync();
    expect(unsaved()).toBeNull();
    expect(document.querySelector('[data-testid="profile-form"]')).not.toBeNull();
  });

  it("asks before the app leaves the view with unsaved edits", async () => {
    const app = await open();
    let left = 0;
    expect(app.leaveGuard!(() => (left += 1))).toBe(false);
    await editMine();
    expect(app.leaveGuard!(() => (left += 1))).toBe(true);
    flushSync();
    expect(unsaved()?.textContent).toContain("mine has unsaved changes");
    expect(left).toBe(0);
    button("Discard changes").click();
    flushSync();
    expect(left).toBe(1);
    expect(document.querySelector('[data-testid="profile-form"]')).toBeNull();
    unmount(component!);
    component = null;
    expect(app.leaveGuard).toBeNull();
  });

  it("asks before closing the window drops unsaved edits, listening only while there are some", async () => {
    let keepOpen: (() => boolean) | null = null;
    const unlisten = vi.fn();
    const listen = vi.spyOn(api, "onCloseRequested").mockImplementation(async (handler) => {
      keepOpen = handler;
      return unlisten;
    });
    const close = vi.spyOn(api, "closeWindow").mockResolvedValue(undefined);
    await open();
    expect(listen).not.toHaveBeenCalled();
    await editMine();
    await settle();
    expect(listen).toHaveBeenCalledTimes(1);
    expect(keepOpen!()).toBe(true);
    flushSync();
    expect(unsaved()?.textContent).toContain("mine has unsaved changes");
    expect(close).not.toHaveBeenCalled();
    button("Discard changes").click();
    await settle();
    expect(close).toHaveBeenCalledTimes(1);
    expect(unlisten).toHaveBeenCalledTimes(1);
  });
});

describe("environment logic", () => {
  it("finds the field an invalid error names", () => {
    const e = { code: "invalid" as const, message: "variables[2].name: \"1X\" is not a variable name", field: "variables[2].name" };
    expect(fieldOf(e)).toBe("variables[2].name");
    expect(messageFor(e)).toBe('"1X" is not a variable name');
    expect(fieldOf({ code: "io", message: "a: b" })).toBeNull();
  });
  it("names a copy that is free", () => {
    expect(copyName("production", ["production"])).toBe("production-fixed");
    expect(copyName("production", ["production-fixed", "production-fixed-2"])).toBe("production-fixed-3");
  });
  it("labels fixes", () => {
    expect(fixLabel({ action: "set", variable: "NCCL_DEBUG", value: "WARN" }, "p")).toEqual({
      key: "env.fix.set",
      values: { variable: "NCCL_DEBUG", value: "WARN", profile: "p" },
    });
  });
});
