import { afterEach, describe, expect, it } from "vitest";
import { mount, unmount } from "svelte";
import Timeline from "./Timeline.svelte";
import type { TimelineEntry } from "./logic";
import type { AppModel } from "../../lib/app.svelte";
import { en } from "../../lib/messages/runs";

let component: ReturnType<typeof mount> | null = null;
afterEach(() => {
  if (component) unmount(component);
  component = null;
  document.body.innerHTML = "";
});

const app = { lang: "en", t: (key: string) => (en as Record<string, string>)[key] ?? key } as unknown as AppModel;

function entry(predicted: number | null, note: string | null): TimelineEntry {
  return {
    index: 0,
    preset: "bf16",
    expandable: false,
    record: {
      predicted_peak_bytes: predicted,
      predicted_note: note,
      measured_peak_bytes: null,
      duration_ms: 1000,
      cancelled: false,
      oom: null,
      exit: { code: 0, signal: null },
      next: { kind: "done" },
    },
  } as unknown as TimelineEntry;
}

describe("the run timeline", () => {
  it("says in words why an attempt has no estimate", () => {
    component = mount(Timeline, { target: document.body, props: { app, entries: [entry(null, null)] } });
    expect(document.querySelector('[data-testid="why-no-estimate"]')?.textContent).toContain("no plan was linked to this run");
  });
  it("says nothing more when there is an estimate", () => {
    component = mount(Timeline, { target: document.body, props: { app, entries: [entry(2 ** 30, null)] } });
    expect(document.querySelector('[data-testid="why-no-estimate"]')).toBeNull();
  });
});
