//! The monitor's preset advice, decided like the launcher's chain: the presets after the one a running process
//! uses, in its chain's order, each estimated at the run's batch size and sequence length with the model's
//! saved config and this machine's calibration, and the first that fits by the fit rule is the one to switch to.

use crate::estimate::available_presets;
use crate::model::{self, Resolver};
use crate::monitor::advice::{Advice, PresetAdvisor};
use crate::monitor::procs::ModelLink;
use crate::paths::AppPaths;
use crate::presets::config_store::ConfigLibrary;
use crate::presets::library::PresetLibrary;
use crate::presets::model_config::DEFAULT_FALLBACK_CHAIN;

use super::history;
use super::predict::{predict_chain, PredictFor};
use super::steps::{self, BatchSetting, ChainStep};

/// Advice from the app's stores (per-model configs, presets, run records, settings, calibration).
pub struct EstimateAdvisor {
    paths: AppPaths,
    resolver: Resolver,
}

impl EstimateAdvisor {
    pub fn new(paths: AppPaths, resolver: Resolver) -> Self {
        EstimateAdvisor { paths, resolver }
    }

    /// The chain the run falls back along and the plan it was started with: its own run record's when Headroom
    /// launched it, else its model's saved config's chain (and no plan), else the default chain.
    fn chain_and_plan(&self, link: &ModelLink) -> (Vec<String>, Option<serde_json::Value>) {
        if let Some(run_id) = &link.run_id {
            if let Ok((record, _)) = history::load(&self.paths, run_id) {
                return (record.chain, record.plan);
            }
        }
        (self.saved_chain(link), None)
    }

    fn saved_chain(&self, link: &ModelLink) -> Vec<String> {
        let configs = ConfigLibrary::new(&self.paths);
        if configs.path_of(&link.id).is_ok() {
            if let Ok(Some(entry)) = configs.get(&link.id) {
                return entry.config.fallback_chain;
            }
        }
        DEFAULT_FALLBACK_CHAIN
            .iter()
            .map(|s| s.to_string())
            .collect()
    }
}

impl PresetAdvisor for EstimateAdvisor {
    fn advise(&self, link: &ModelLink, gpu_memory_bytes: u64) -> Advice {
        let (Some(batch_size), Some(sequence_length)) = (link.batch_size, link.sequence_length)
        else {
            return Advice::Unknown(
                "its batch size and sequence length are unknown (launch it from Runs with both, or pass \
                 --per_device_train_batch_size and --max_seq_length)"
                    .into(),
            );
        };
        // The recommendation switches presets: the chain's batch steps are the launcher's to take.
        let (chain, plan) = self.chain_and_plan(link);
        let presets: Vec<String> = match steps::parse_chain(&chain) {
            Ok(parsed) => parsed
                .into_iter()
                .filter_map(|step| match step {
                    ChainStep::Preset(p) => Some(p),
                    ChainStep::HalveMicroBatch => None,
                })
                .collect(),
            Err(e) => return Advice::Unknown(e.to_string()),
        };
        let after = link
            .preset
            .as_deref()
            .and_then(|current| presets.iter().position(|p| p == current))
            .map_or(0, |i| i + 1);
        let left = &presets[after.min(presets.len())..];
        if left.is_empty() {
            return Advice::EndOfChain;
        }
        let chosen = available_presets(&PresetLibrary::new(&self.paths)).and_then(|known| {
            let batch = BatchSetting::new(batch_size, 1)?;
            predict_chain(
                &self.paths,
                PredictFor {
                    model_id: &link.id,
                    chain: left,
                    batch,
                    sequence_length,
                    gpu_memory_bytes: Some(gpu_memory_bytes),
                    pin_start: false,
                    plan: plan.as_ref(),
                },
                &known,
                |m| model::resolve(m, &self.resolver),
            )
        });
        let prediction = match chosen {
            Ok(p) => p,
            Err(e) => return Advice::Unknown(e.to_string()),
        };
        // Where the launcher would start this chain is the step to recommend (launch/first_step.rs).
        let Some(start) = prediction.start else {
            return Advice::Unknown("the GPU's memory is unknown".into());
        };
        if start.none_fits {
            return Advice::NoneFits { why: start.message };
        }
        let step = prediction.steps.get(&start.step);
        if let Some(note) = step.and_then(|s| s.note.clone()) {
            // A preset the plan rejects stops the launcher's skipping; it is no switch to recommend.
            return Advice::Unknown(note);
        }
        Advice::Fits {
            preset: left[start.step as usize].clone(),
            skipped: start.message,
            usable_bytes: start.usable_bytes,
            batch_size,
            sequence_length,
        }
    }
}
