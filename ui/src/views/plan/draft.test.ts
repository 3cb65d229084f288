import { describe, expect, it } from "vitest";
import { DEFAULT_DRAFT, draftFromPlan, planFromDraft } from "./draft";

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

  it("sends a picked config.json as the model, and reads one back from a loaded plan", () => {
    const config = { model_type: "llama", hidden_size: 4096 };
    const d = { ...DEFAULT_DRAFT, modelSource: "config" as const, modelConfig: config, configPath: "/m/config.json" };
    expect(planFromDraft(d)?.model).toEqual({ config });
    expect(planFromDraft({ ...d, modelConfig: null })).toBeNull();
    const back = draftFromPlan({ model: { config }, task: "train" }, DEFAULT_DRAFT);
    expect([back.modelSource, back.modelConfig, back.configPath]).toEqual(["config", config, ""]);
  });
});
