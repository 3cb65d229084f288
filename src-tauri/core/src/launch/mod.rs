//! The launcher: runs a training command with an environment profile and a preset, follows its output for
//! CUDA out-of-memory, relaunches down a chain of presets, and keeps every attempt on disk.
//!
//! - [`handover`]: what a program receives per attempt ([`handover::PresetSource`]), the default chain.
//! - [`process`]: one child in its own process group, streamed output, cancel without orphans.
//! - [`oom`]: recognising an OOM and its figures in the output.
//! - [`runner`]: the chain's rules.
//! - [`history`]: the run records.
//! - [`predict`]: the estimator's device peak for each preset of the chain.
//! - [`probe`]: the measured peak of an attempt's process tree, from the monitor.
//! - [`tree`]: every descendant of an attempt, also those that left its process group, and the run's
//!   processes told apart from a reused pid.
//!
//! The program reads its preset like this (Python, transformers):
//!
//! ```python
//! import json, os
//! from transformers import AutoModelForCausalLM, BitsAndBytesConfig
//!
//! kwargs = json.load(open(os.environ["HEADROOM_LOAD_KWARGS"]))   # device_map, max_memory, torch_dtype
//! if "HEADROOM_QUANT_CONFIG" in os.environ:                     # absent for fp16/bf16/fp32 presets
//!     kwargs["quantization_config"] = BitsAndBytesConfig.from_dict(json.load(open(os.environ["HEADROOM_QUANT_CONFIG"])))
//! model = AutoModelForCausalLM.from_pretrained(model_id, **kwargs)
//! print("preset", os.environ["HEADROOM_PRESET"])
//! ```

pub mod handover;
pub mod history;
pub mod oom;
pub mod predict;
pub mod probe;
pub mod process;
pub mod runner;
pub mod tree;
