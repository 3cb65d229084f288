import { afterEach, describe, expect, it } from "vitest";
import { flushSync, mount, unmount } from "svelte";
import PlanAnswer from "./PlanAnswer.svelte";
import { api } from "../../lib/api";
import { AppModel } from "../../lib/app.svelte";
import type { Message, PlanAnswer as Answer } from "../../lib/bindings";

const GIB = 2 ** 30;

/** The QLoRA preset note, its precision a plain argument and its source a phrase of its own. */
const DTYPE: Message = {
  key: "backend.note.dtype",
  args: {
    source: { type: "message", value: { key: "backend.note.dtype.source.preset", args: { preset: { type: "text", value: "int4_double" } } } },
    format: { type: "text", value: "NF4" },
    bytes: { type: "count", value: 2 },
    precision: { type: "text", value: "bf16-mixed" },
  },
};
/** A sentence that leaves a phrase out (no MLA here): empty text. */
const KV: Message = {
  key: "backend.note.kv_cache",
  args: {
    dtype: { type: "text", value: "Bf16" },
    bytes: { type: "bytes", value: 2 * GIB },
    tokens: { type: "count", value: 16384 },
    batch: { type: "count", value: 1 },
    mla: { type: "text", value: "" },
  },
};
const MODEL_NOTE = "catalog source: config.json";
const NOTES = [
  "preset `int4_double`: weights NF4, 2-byte activations (bf16-mixed)",
  "KV cache in Bf16: 2.00 GiB for 16384 tokens × batch 1",
  MODEL_NOTE,
];
/** The model's own note exists only in English: the backend sends it as it is. */
const MESSAGES: Message[] = [DTYPE, KV, { key: "backend.note.verbatim", args: { text: { type: "text", value: MODEL_NOTE } } }];

function answer(noteMessages?: Message[]): Answer {
  const device = 10 * GIB;
  return {
    plan: { model: { id: "m" }, task: "train" },
    model: { id: "m", model_type: "llama", parameters: 8030261248 },
    preset: "int4_double",
    estimate: {
      per_gpu: {
        components: { weights: 5 * GIB, lora: 0, gradients: 0, optimizer: 0, activations: 4 * GIB, logits: 0, kv_cache: 0, workspace: 0 },
        allocated_peak_bytes: 9 * GIB,
        allocator_overhead_bytes: GIB / 2,
        reserved_peak_bytes: 9.5 * GIB,
        managed_memory_bytes: 0,
        cuda_context_bytes: GIB / 2,
        device_peak_bytes: device,
      },
      cpu_bytes: 0,
      parameters: { total: 8030261248, trainable: 0 },
      notes: NOTES,
      ...(noteMessages ? { note_messages: noteMessages } : {}),
    },
    gpu_memory_bytes: null,
    usable_bytes: null,
    verdict: null,
    limits: null,
    ranked: [],
    suggestions: [],
  } as unknown as Answer;
}

let component: ReturnType<typeof mount> | null = null;
afterEach(() => {
  if (component) unmount(component);
  component = null;
  document.body.innerHTML = "";
});

function notes(a: Answer, language: "en" | "ja"): string[] {
  const app = new AppModel(api);
  app.settings.language = language;
  const noop = () => {};
  component = mount(PlanAnswer, {
    target: document.body,
    props: { app, answer: a, plan: null, stale: false, working: false, onapply: noop, onpreset: noop },
  });
  flushSync();
  return [...document.querySelectorAll(".notes li")].map((li) => li.textContent!.trim());
}

describe("PlanAnswer notes", () => {
  it("are rendered in Japanese from their messages, code spans and number separators kept", () => {
    expect(notes(answer(MESSAGES), "ja")).toEqual([
      "プリセット int4_double：重みは NF4、活性は 2 バイト（bf16-mixed）",
      "KV キャッシュ（Bf16）：16,384 トークン × バッチ 1 で 2.00 GiB",
      "catalog source: config.json",
    ]);
    expect(document.querySelector(".notes li code")?.textContent).toBe("int4_double");
  });

  it("read as the backend wrote them in English", () => {
    expect(notes(answer(MESSAGES), "en")).toEqual([
      "preset int4_double: weights NF4, 2-byte activations (bf16-mixed)",
      "KV cache in Bf16: 2.00 GiB for 16,384 tokens × batch 1",
      "catalog source: config.json",
    ]);
  });

  it("fall back to the English notes from a backend that sends no messages", () => {
    expect(notes(answer(), "ja")).toEqual([
      "preset int4_double: weights NF4, 2-byte activations (bf16-mixed)",
      "KV cache in Bf16: 2.00 GiB for 16,384 tokens × batch 1",
      "catalog source: config.json",
    ]);
  });
});
