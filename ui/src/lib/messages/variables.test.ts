import { describe, expect, it } from "vitest";
// The backend's catalog itself, read as text: the English the translations were made from must be its words.
import catalogSource from "../../../../src-tauri/core/src/env/catalog.rs?raw";
import { en } from "./variables";
import { variableText } from "../messageText";

/** Each catalog entry's name, effect and cost, Rust string continuations (`\` + newline + indent) and `\"` undone. */
function catalog(): { name: string; effect: string; cost: string }[] {
  const text = (s: string) => s.replace(/\\\n\s*/g, "").replace(/\\"/g, '"');
  const entry = /name: "([A-Z_0-9]+)",\s*effect: "((?:[^"\\]|\\[\s\S])*)",\s*cost: "((?:[^"\\]|\\[\s\S])*)"/g;
  return [...catalogSource.matchAll(entry)].map((m) => ({ name: m[1]!, effect: text(m[2]!), cost: text(m[3]!) }));
}

describe("the environment variable catalog's words", () => {
  it("has every catalog variable's effect and cost, in the backend's English word for word", () => {
    const variables = catalog();
    expect(variables.length).toBeGreaterThan(10);
    const table = en as Record<string, string>;
    for (const v of variables) {
      expect(table[`env.var.${v.name}.effect`], v.name).toBe(v.effect);
      expect(table[`env.var.${v.name}.cost`], v.name).toBe(v.cost);
    }
    expect(Object.keys(en)).toHaveLength(variables.length * 2);
  });

  it("shows the Japanese while its English is what the backend sent, else the backend's English", () => {
    const info = {
      name: "CUDA_LAUNCH_BLOCKING",
      effect: "1 makes every CUDA call synchronous, so an error is reported at the operation that failed",
      cost: "removes all CPU/GPU overlap: a large slowdown of every training step",
    };
    expect(variableText("ja", info, "effect")).toBe("1 にするとすべての CUDA 呼び出しが同期実行になり、エラーは失敗した演算の位置で報告されます");
    expect(variableText("en", info, "cost")).toBe(info.cost);
    // A catalog whose words changed since the translation: its own English, not a stale translation.
    expect(variableText("ja", { ...info, cost: "something new" }, "cost")).toBe("something new");
    expect(variableText("ja", { name: "MY_OWN", effect: "mine", cost: "none" }, "effect")).toBe("mine");
  });
});
