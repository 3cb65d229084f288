import { describe, expect, it } from "vitest";
import { DEFAULT_DRAFT, draftFromPlan, draftFromSuggestion, errorField, longestOf, planFromDraft, sequenceLengthsFrom } from "./draft";

describe("the Plan form's default plan", () => {
  it("leaves the keys a framework decides to the core, as the wizard does", () => {
    // tests/ipc/presets.rs (`plan_view_default_plan`) answers exactly this plan and the wizard's ranking for the
    // same model and GPU, and checks that both give the same estimate.
    expect(planFromDraft({ ...DEFAULT_DRAFT, modelId: "Qwen/Qwen2.5-32B-Instruct", gpu: "catalog:H100 80GB" })).toEqual({
      model: { id: "Qwen/Qwen2.5-32B-Instruct" },
      task: "train",
      batch_size: 1,
      sequence_length: 2048,
      attention: "sdpa",
      margin: 0.1,
      method: "qlora",
      framework: "hf_trainer",
      gradient_accumulation_steps: 1,
      optimizer_in_backward: false,
      sharding: "none",
      offload: "none",
      lora: { rank: 16, alpha: 32, target_modules: "all-linear" },
      trainable_embeddings: false,
      gpus: { count: 1, model: "H100 80GB" },
      nodes: 1,
    });
  });

  it("sends a setting once the person gives it, and reads a loaded plan's framework", () => {
    const d = { ...DEFAULT_DRAFT, modelId: "m", checkpointing: false, chunkedLoss: true, optimizer: "adamw_8bit" };
    expect(planFromDraft(d)).toMatchObject({ gradient_checkpointing: false, chunked_loss: true, optimizer: "adamw_8bit" });
    expect(draftFromPlan({ model: { id: "m" }, task: "train", framework: "torchtune" }, DEFAULT_DRAFT).framework).toBe("torchtune");
  });

  it("sends the bitsandbytes release and use_reentrant once given, and reads them back as fields, not kept keys", () => {
    const d = { ...DEFAULT_DRAFT, modelId: "m", bnbVersion: " 0.41.3 ", useReentrant: false };
    expect(planFromDraft(d)).toMatchObject({ bitsandbytes_version: "0.41.3", use_reentrant: false });
    expect(planFromDraft({ ...DEFAULT_DRAFT, modelId: "m" })).not.toHaveProperty("use_reentrant");
    expect(planFromDraft({ ...DEFAULT_DRAFT, modelId: "m", task: "infer", useReentrant: true })).not.toHaveProperty("use_reentrant");
    const back = draftFromPlan({ model: { id: "m" }, task: "train", bitsandbytes_version: "0.41.3", use_reentrant: true }, DEFAULT_DRAFT);
    expect([back.bnbVersion, back.useReentrant, back.others]).toEqual(["0.41.3", true, {}]);
    // A suggestion's plan carries the framework's use_reentrant written out: it stays the framework's.
    const answered = { model: { id: "m" }, task: "train", use_reentrant: false, batch_size: 2 };
    const applied = draftFromSuggestion({ ...answered, batch_size: 1 }, DEFAULT_DRAFT, answered);
    expect(applied.useReentrant).toBeNull();
  });

  it("sends a picked config.json as the model, and reads one back from a loaded plan", () => {
    const config = { model_type: "llama", hidden_size: 4096 };
    const d = { ...DEFAULT_DRAFT, modelSource: "config" as const, modelConfig: config, configPath: "/m/config.json" };
    expect(planFromDraft(d)?.model).toEqual({ config });
    expect(planFromDraft({ ...d, modelConfig: null })).toBeNull();
    const back = draftFromPlan({ model: { config }, task: "train" }, DEFAULT_DRAFT);
    expect([back.modelSource, back.modelConfig, back.configPath]).toEqual(["config", config, ""]);
  });
});

describe("the varying lengths field (plan key sequence_lengths)", () => {
  const train = { ...DEFAULT_DRAFT, modelId: "m", sequenceLength: "4096" };

  it("reads comma- or space-separated token counts, empty entries skipped", () => {
    expect(sequenceLengthsFrom("")).toEqual([]);
    expect(sequenceLengthsFrom("  ")).toEqual([]);
    expect(sequenceLengthsFrom("512, 1024,2048 4096,")).toEqual([512, 1024, 2048, 4096]);
    expect(longestOf([512, 4096, 1024])).toBe(4096);
    expect(longestOf([])).toBeNull();
  });

  it("sends the lengths with the sequence length at their longest; empty sends fixed shapes", () => {
    const plan = planFromDraft({ ...train, sequenceLengths: "1024, 3072, 2048" })!;
    expect(plan.sequence_lengths).toEqual([1024, 3072, 2048]);
    expect(plan.sequence_length).toBe(3072);
    const fixed = planFromDraft({ ...train, sequenceLengths: "" })!;
    expect("sequence_lengths" in fixed).toBe(false);
    expect(fixed.sequence_length).toBe(4096);
    // Inference has no micro-batches to vary: the key is training only, as the backend enforces.
    expect("sequence_lengths" in planFromDraft({ ...train, task: "infer", sequenceLengths: "1024" })!).toBe(false);
  });

  it("passes a bad entry on as typed, for the backend to name it, and keeps the typed sequence length", () => {
    for (const [typed, sent] of [
      ["abc", ["abc"]],
      ["512, 0", [512, 0]],
      ["1024, -3", [1024, -3]],
      ["1.5", [1.5]],
    ] as const) {
      const plan = planFromDraft({ ...train, sequenceLengths: typed })!;
      expect(plan.sequence_lengths).toEqual(sent);
      expect(longestOf([...sent])).toBeNull();
      expect(plan.sequence_length).toBe(4096);
    }
    // The backend's refusal names the entry; it belongs to the field.
    const refusal = (field: string) => ({ code: "invalid" as const, message: `${field}: must be a positive integer, got 0`, field });
    expect(errorField(refusal("sequence_lengths[1]"))).toBe("sequence_lengths");
    expect(errorField(refusal("sequence_lengths"))).toBe("sequence_lengths");
  });

  it("round-trips a loaded plan's lengths through the form, not as a kept key", () => {
    const loaded = { model: { id: "m" }, task: "train", sequence_length: 4096, sequence_lengths: [1024, 4096, 512] };
    const d = draftFromPlan(loaded, DEFAULT_DRAFT);
    expect(d.sequenceLengths).toBe("1024, 4096, 512");
    expect(d.others).toEqual({});
    const back = planFromDraft(d)!;
    expect(back.sequence_lengths).toEqual([1024, 4096, 512]);
    expect(back.sequence_length).toBe(4096);
    // A plan without the key leaves the lengths open, whatever the form held before.
    const open = draftFromPlan({ model: { id: "m" }, task: "train" }, d);
    expect([open.sequenceLengths, open.fixedLengths]).toEqual(["", false]);
  });

  it("sends padded or packed batches as the one sequence length, and reads that back as the box ticked", () => {
    const plan = planFromDraft({ ...train, fixedLengths: true, sequenceLengths: "1024, 2048" })!;
    expect(plan.sequence_lengths).toEqual([4096]);
    expect(plan.sequence_length).toBe(4096);
    // Inference has no micro-batches: nothing is sent.
    expect("sequence_lengths" in planFromDraft({ ...train, task: "infer", fixedLengths: true })!).toBe(false);
    const d = draftFromPlan({ model: { id: "m" }, task: "train", sequence_length: 2048, sequence_lengths: [2048] }, DEFAULT_DRAFT);
    expect([d.fixedLengths, d.sequenceLengths, d.sequenceLength]).toEqual([true, "", "2048"]);
    expect(planFromDraft(d)!.sequence_lengths).toEqual([2048]);
    // Without a sequence length, the one length is it.
    expect(draftFromPlan({ model: { id: "m" }, task: "train", sequence_lengths: [1024] }, DEFAULT_DRAFT).sequenceLength).toBe("1024");
    // One length that is not the sequence length is a list the backend judges, not the box.
    const odd = draftFromPlan({ model: { id: "m" }, task: "train", sequence_length: 2048, sequence_lengths: [1024] }, DEFAULT_DRAFT);
    expect([odd.fixedLengths, odd.sequenceLengths]).toEqual([false, "1024"]);
  });
});
