import { describe, expect, it } from "vitest";
import { noteParts } from "./noteText";

describe("estimate notes", () => {
  it("turn backticks into code spans", () => {
    expect(noteParts("preset `int4` on `model.layers.0`", "en")).toEqual([
      { code: false, text: "preset " },
      { code: true, text: "int4" },
      { code: false, text: " on " },
      { code: true, text: "model.layers.0" },
    ]);
  });

  it("separate thousands in long numbers only", () => {
    const [part] = noteParts("8030261248 parameters, 32768 tokens, 2048 tokens, 1.5 GiB, Qwen2.5-32B, 2023", "en");
    expect(part!.text).toBe("8,030,261,248 parameters, 32,768 tokens, 2048 tokens, 1.5 GiB, Qwen2.5-32B, 2023");
  });
});
