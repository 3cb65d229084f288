import { describe, expect, it } from "vitest";
import { viewForKey, viewForShortcut } from "./views";

describe("navigation keys", () => {
  it("wraps around and jumps to the ends", () => {
    expect(viewForKey("monitor", "ArrowUp")).toBe("settings");
    expect(viewForKey("settings", "ArrowDown")).toBe("monitor");
    expect(viewForKey("runs", "Home")).toBe("monitor");
    expect(viewForKey("plan", "End")).toBe("settings");
    expect(viewForKey("plan", "a")).toBeNull();
  });

  it("maps Ctrl+1..6 and ignores other chords", () => {
    const key = (k: string, extra = {}) => ({ ctrlKey: true, metaKey: false, altKey: false, key: k, ...extra });
    expect(viewForShortcut(key("1"))).toBe("monitor");
    expect(viewForShortcut(key("6"))).toBe("settings");
    expect(viewForShortcut(key("7"))).toBeNull();
    expect(viewForShortcut(key("2", { altKey: true }))).toBeNull();
    expect(viewForShortcut(key("2", { ctrlKey: false }))).toBeNull();
  });
});
