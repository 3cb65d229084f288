//! Framework profiles (docs/frameworks.md): what each training framework does when its user leaves a setting
//! alone, as defaults for the plan keys the plan leaves unset. An explicit plan key always wins; the keys a
//! profile filled in are recorded on the plan ([`super::Plan::from_framework`]) so the estimate's notes can say
//! so. Every value below cites the framework source it was read from in docs/frameworks.md.

use serde::{Deserialize, Serialize};

use super::types::{LoraDtype, Optimizer, Precision};

/// The training framework a plan runs under.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ts_rs::TS,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Framework {
    /// Hugging Face `Trainer` with PEFT, as the transformers and PEFT examples run it.
    #[default]
    HfTrainer,
    /// TRL's `SFTTrainer`.
    Trl,
    Axolotl,
    LlamaFactory,
    Litgpt,
    Torchtune,
    MsSwift,
    Unsloth,
    /// A plain PyTorch training loop: nothing beyond what the plan says.
    Plain,
}

impl Framework {
    /// The name a person reads.
    pub fn label(self) -> &'static str {
        match self {
            Framework::HfTrainer => "Hugging Face Trainer + PEFT",
            Framework::Trl => "TRL SFTTrainer",
            Framework::Axolotl => "Axolotl",
            Framework::LlamaFactory => "LLaMA-Factory",
            Framework::Litgpt => "LitGPT",
            Framework::Torchtune => "torchtune",
            Framework::MsSwift => "ms-swift",
            Framework::Unsloth => "Unsloth",
            Framework::Plain => "a plain PyTorch loop",
        }
    }
}

/// What a framework does by default, for the plan keys it decides. `None`: the framework leaves the key to
/// Headroom's own default (docs/contract.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    pub precision: Option<Precision>,
    pub gradient_checkpointing: bool,
    /// Checkpointing comes on with PEFT's `prepare_model_for_kbit_training`, whose `use_gradient_checkpointing`
    /// defaults to true (peft `src/peft/utils/other.py`): on whenever the kbit upcast runs.
    pub kbit_checkpointing: bool,
    /// Checkpointed layer inputs go to CPU RAM (Unsloth's `use_gradient_checkpointing="unsloth"`): the plan's
    /// `activation_offload`, when checkpointing is on.
    pub offloaded_checkpointing: bool,
    pub chunked_loss: bool,
    /// PEFT's `prepare_model_for_kbit_training` on a quantized base: `None` keeps Headroom's default (on).
    pub kbit_upcast: Option<bool>,
    pub optimizer: Optimizer,
    pub torch_compile: bool,
    pub quantize_lm_head: bool,
    /// `use_reentrant` of the framework's gradient checkpointing, in its current release.
    pub use_reentrant: bool,
    /// Its 4-bit layers are bitsandbytes' (`Linear4bit` and its `MatMul4Bit`), whose release decides whether they
    /// keep their inputs; torchtune's NF4 (torchao) and Unsloth's fused LoRA kernels keep none.
    pub bnb_4bit_layers: bool,
}

/// The profile of a framework, given whether the base weights are quantized (some frameworks pick their
/// precision by it).
pub fn profile(framework: Framework, quantized: bool) -> Profile {
    // Hugging Face Trainer + PEFT: TrainingArguments defaults (gradient_checkpointing=False, optim AdamW,
    // torch_compile=False), transformers' loss upcasts the whole logits, and the PEFT recipe calls
    // prepare_model_for_kbit_training on a quantized base.
    let hf = Profile {
        precision: None,
        gradient_checkpointing: false,
        kbit_checkpointing: true,
        offloaded_checkpointing: false,
        chunked_loss: false,
        kbit_upcast: None,
        optimizer: Optimizer::Adamw,
        torch_compile: false,
        quantize_lm_head: false,
        // transformers 5's gradient_checkpointing_enable: {"use_reentrant": False} when no kwargs are given
        // (4.38 to 4.57 gave True, and Trainer before 4.45 passed {} so torch's own default, True, applied).
        use_reentrant: false,
        bnb_4bit_layers: true,
    };
    match framework {
        Framework::HfTrainer => hf,
        // A plain loop calls nothing of PEFT's beyond get_peft_model; torch.utils.checkpoint without the argument
        // still falls back to use_reentrant=True (with a warning).
        Framework::Plain => Profile {
            kbit_checkpointing: false,
            use_reentrant: true,
            ..hf
        },
        // SFTConfig: gradient_checkpointing=True, loss_type "chunked_nll" unless Liger; SFTTrainer never calls
        // prepare_model_for_kbit_training.
        Framework::Trl => Profile {
            gradient_checkpointing: true,
            chunked_loss: true,
            kbit_upcast: Some(false),
            ..hf
        },
        // Config defaults: gradient_checkpointing false, Liger off unless its plugin is enabled; the loader
        // calls prepare_model_for_kbit_training for lora/qlora on a 4- or 8-bit base.
        // (It passes its own gradient_checkpointing setting to prepare_model_for_kbit_training, so the kbit
        // preparation does not turn checkpointing on by itself.)
        // normalize_config sets gradient_checkpointing_kwargs {"use_reentrant": True} when the config gives none.
        Framework::Axolotl => Profile {
            kbit_checkpointing: false,
            use_reentrant: true,
            ..hf
        },
        // disable_gradient_checkpointing=False; no prepare_model_for_kbit_training (upcast_layernorm=False);
        // use_reentrant_gc=True.
        Framework::LlamaFactory => Profile {
            gradient_checkpointing: true,
            kbit_upcast: Some(false),
            use_reentrant: true,
            ..hf
        },
        // finetune/lora.py: chunked_cross_entropy with lm_head_chunk_size=128; no activation checkpointing on
        // one device; bitsandbytes quantization refuses mixed precision and quantizes every nn.Linear.
        Framework::Litgpt => Profile {
            precision: quantized.then_some(Precision::Bf16True),
            chunked_loss: true,
            kbit_upcast: Some(false),
            quantize_lm_head: true,
            ..hf
        },
        // Recipe configs: dtype bf16, enable_activation_checkpointing True, LinearCrossEntropyLoss (8 chunks),
        // compile False.
        Framework::Torchtune => Profile {
            precision: Some(Precision::Bf16True),
            gradient_checkpointing: true,
            chunked_loss: true,
            kbit_upcast: Some(false),
            // training.set_activation_checkpointing wraps each layer with CheckpointImpl.NO_REENTRANT; NF4 is
            // torchao's linear_nf4, which keeps no input.
            use_reentrant: false,
            bnb_4bit_layers: false,
            ..hf
        },
        // TrainArguments: gradient_checkpointing=True; ms-swift never calls prepare_model_for_kbit_training; from
        // 3.0 it forces use_reentrant=True (False only under plain DDP; 1.x and 2.x patched torch's default to
        // False from torch 2.1 on).
        Framework::MsSwift => Profile {
            gradient_checkpointing: true,
            kbit_upcast: Some(false),
            use_reentrant: true,
            ..hf
        },
        // get_peft_model(use_gradient_checkpointing="unsloth"): offloaded checkpointing; fused chunked CE loss;
        // its own prepare_model_for_kbit_training keeps norms, embeddings and lm_head as they are.
        // Its checkpointing is reentrant, and its LoRA layers are its own autograd functions (fast_lora.py).
        Framework::Unsloth => Profile {
            gradient_checkpointing: true,
            offloaded_checkpointing: true,
            chunked_loss: true,
            kbit_upcast: Some(false),
            use_reentrant: true,
            bnb_4bit_layers: false,
            ..hf
        },
    }
}

/// The adapters' dtype under a framework, or `None` for Headroom's default (fp32: PEFT's
/// `autocast_adapter_dtype=True`).
pub fn lora_dtype(
    framework: Framework,
    precision: Precision,
    quantized: bool,
) -> Option<LoraDtype> {
    // The model's own dtype: 16-bit under a "-true" precision, fp32 otherwise.
    let model_dtype = match precision {
        Precision::Bf16True => LoraDtype::Bf16,
        Precision::Fp16True => LoraDtype::Fp16,
        _ => LoraDtype::Fp32,
    };
    match framework {
        // SFTTrainer casts trainable parameters of a quantized model to bf16 after get_peft_model.
        Framework::Trl if quantized => Some(LoraDtype::Bf16),
        // Adapters are created in the model's dtype (torchtune under set_default_dtype, LitGPT under
        // fabric.init_module).
        Framework::Torchtune | Framework::Litgpt => Some(model_dtype),
        _ => None,
    }
}

/// The note that says which settings the framework profile supplied, with their values; `None` when the plan
/// gave every one of them.
pub fn defaults_note(plan: &super::Plan) -> Option<(String, crate::message::Message)> {
    if plan.from_framework.is_empty() {
        return None;
    }
    fn json<T: Serialize>(v: &T) -> String {
        match serde_json::to_value(v) {
            Ok(serde_json::Value::String(s)) => s,
            Ok(v) => v.to_string(),
            Err(_) => String::new(),
        }
    }
    let settings: Vec<String> = plan
        .from_framework
        .iter()
        .map(|key| {
            let value = match key.as_str() {
                "precision" => json(&plan.precision),
                "lora.dtype" => plan
                    .lora
                    .as_ref()
                    .map_or_else(String::new, |l| json(&l.dtype)),
                "optimizer" => json(&plan.optimizer),
                "gradient_checkpointing" => plan.gradient_checkpointing.to_string(),
                "chunked_loss" => plan.chunked_loss.to_string(),
                "activation_offload" => plan.activation_offload.to_string(),
                "kbit_upcast" => plan.kbit_upcast.unwrap_or(true).to_string(),
                "quantize_lm_head" => plan.quantize_lm_head.to_string(),
                "torch_compile" => plan.torch_compile.to_string(),
                "use_reentrant" => plan.use_reentrant.to_string(),
                _ => String::new(),
            };
            format!("{key} {value}")
        })
        .collect();
    let text = format!(
        "framework {} ({}) defaults, for what the plan left unset: {} (docs/frameworks.md)",
        json(&plan.framework),
        plan.framework.label(),
        settings.join(", ")
    );
    let message = crate::message::Message::new(crate::message::Key::NoteFramework)
        .text("framework", json(&plan.framework))
        .text("label", plan.framework.label())
        .text("settings", settings.join(", "));
    Some((text, message))
}
