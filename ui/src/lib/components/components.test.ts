import { afterEach, describe, expect, it } from "vitest";
import { createRawSnippet, mount, unmount } from "svelte";
import ErrorBanner from "./ErrorBanner.svelte";
import Field from "./Field.svelte";
import Lock from "./Lock.svelte";

let component: ReturnType<typeof mount> | null = null;

afterEach(() => {
  if (component) unmount(component);
  component = null;
  document.body.innerHTML = "";
});

const input = createRawSnippet(() => ({ render: () => `<input data-testid="control" />` }));

describe("Field", () => {
  it("labels its control, shows the hint, and names the field on each error it shows", () => {
    component = mount(Field, {
      target: document.body,
      props: { label: "Batch size", name: "batch_size", hint: "Per GPU", errors: ["must be positive", null, ""], children: input },
    });
    const label = document.querySelector("label")!;
    expect(label.querySelector('[data-testid="control"]')).not.toBeNull();
    expect(label.textContent).toContain("Batch size");
    expect(label.querySelector(".hint")?.textContent).toBe("Per GPU");
    const errors = [...label.querySelectorAll(".field-error")];
    expect(errors.map((e) => e.textContent)).toEqual(["must be positive"]);
    expect(errors[0]!.getAttribute("data-error-for")).toBe("batch_size");
    expect(errors[0]!.getAttribute("role")).toBe("alert");
  });

  it("shows no hint and no error when there is none", () => {
    component = mount(Field, { target: document.body, props: { label: "Notes", errors: null, children: input } });
    expect(document.querySelector(".hint")).toBeNull();
    expect(document.querySelector(".field-error")).toBeNull();
  });
});

describe("ErrorBanner", () => {
  it("says the message as an alert, as a banner or inline", () => {
    component = mount(ErrorBanner, { target: document.body, props: { message: "disk full", testid: "e" } });
    const banner = document.querySelector('[data-testid="e"]')!;
    expect(banner.getAttribute("role")).toBe("alert");
    expect(banner.textContent?.trim()).toBe("disk full");
    expect(banner.classList.contains("inline")).toBe(false);
    unmount(component);
    component = mount(ErrorBanner, { target: document.body, props: { message: "bad", inline: true } });
    expect(document.querySelector('[role="alert"]')!.classList.contains("inline")).toBe(true);
  });
});

describe("Lock", () => {
  it("is an image named by its label, or hidden beside text that says it", () => {
    component = mount(Lock, { target: document.body, props: { label: "Built-in, locked" } });
    const named = document.querySelector("svg.lock")!;
    expect(named.getAttribute("role")).toBe("img");
    expect(named.getAttribute("aria-label")).toBe("Built-in, locked");
    expect(named.getAttribute("aria-hidden")).toBeNull();
    unmount(component);
    component = mount(Lock, { target: document.body, props: {} });
    const hidden = document.querySelector("svg.lock")!;
    expect(hidden.getAttribute("aria-hidden")).toBe("true");
    expect(hidden.getAttribute("role")).toBeNull();
  });
});
