//! What an import says about each key of each file (docs/trainers.md): mapped to a plan key, an `"auto"` value
//! resolved, ignored (known, with no effect on memory), or not understood. Every key of every file lands in
//! exactly one of these lists, so nothing a file says is silently dropped.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The trainer config formats Headroom reads (docs/trainers.md).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TrainerFormat {
    /// An Axolotl config YAML.
    Axolotl,
    /// A LLaMA-Factory training YAML (`llamafactory-cli train FILE`).
    LlamaFactory,
    /// transformers' `TrainingArguments` or TRL's config classes (SFTConfig, ModelConfig), as JSON or YAML.
    TrainingArguments,
    /// A torchtune recipe config YAML.
    Torchtune,
    /// A LitGPT finetune config YAML.
    Litgpt,
    /// An accelerate config YAML (`accelerate launch --config_file FILE`).
    Accelerate,
    /// A DeepSpeed config JSON.
    Deepspeed,
}

impl TrainerFormat {
    pub fn label(self) -> &'static str {
        match self {
            TrainerFormat::Axolotl => "Axolotl config",
            TrainerFormat::LlamaFactory => "LLaMA-Factory config",
            TrainerFormat::TrainingArguments => "TrainingArguments",
            TrainerFormat::Torchtune => "torchtune recipe config",
            TrainerFormat::Litgpt => "LitGPT config",
            TrainerFormat::Accelerate => "accelerate config",
            TrainerFormat::Deepspeed => "DeepSpeed config",
        }
    }
}

/// One file read by an import.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct ImportedFile {
    /// The path as given (or as found, for a file another one names).
    pub path: String,
    pub format: TrainerFormat,
    /// `FILE KEY` when this file was loaded because another file names it (an Axolotl `deepspeed:` path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub named_by: Option<String>,
}

/// A key whose value became a plan key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct MappedKey {
    pub file: String,
    /// The key's dotted path in its file (`zero_optimization.offload_optimizer.device`).
    pub key: String,
    #[ts(type = "unknown")]
    pub value: Value,
    /// The plan key it sets (docs/contract.md §1), dotted (`lora.rank`).
    pub plan_key: String,
    #[ts(type = "unknown")]
    pub plan_value: Value,
    /// How the value was read, when it was more than a rename (`global_batch_size / micro_batch_size`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub note: Option<String>,
}

/// A key whose value was `"auto"` (or left to the trainer to decide), and what it became.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct AutoResolved {
    pub file: String,
    pub key: String,
    pub plan_key: String,
    /// The plan value it became; `null` when the plan's own default applies.
    #[ts(type = "unknown")]
    pub became: Value,
    pub why: String,
}

/// A key known to have no effect on the memory estimate (a learning rate, a dataset, a logger).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct IgnoredKey {
    pub file: String,
    pub key: String,
    pub why: String,
}

/// A key Headroom does not know, or knows but cannot express in a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct NotUnderstood {
    pub file: String,
    pub key: String,
    #[ts(type = "unknown")]
    pub value: Value,
    pub why: String,
}

/// The result of importing trainer configs: a partial plan (the plan keys the files say; the plan's defaults fill
/// the rest when it is estimated) and what became of every key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
// Named apart from the preset bundle's ImportReport in the UI's bindings.
#[ts(rename = "TrainerImportReport")]
pub struct ImportReport {
    /// The plan keys the files set, in the plan's JSON shape (docs/contract.md §1).
    #[ts(type = "Record<string, unknown>")]
    pub plan: Value,
    pub files: Vec<ImportedFile>,
    pub mapped: Vec<MappedKey>,
    pub auto_resolved: Vec<AutoResolved>,
    pub ignored: Vec<IgnoredKey>,
    pub not_understood: Vec<NotUnderstood>,
}
