//! The monitor's preset advice, decided like the launcher's chain: the presets after the one a running process
//! uses, in its chain's order, each estimated at the run's batch size and sequence length with the model's
//! saved config and this machine's calibration, and the first that fits by the fit rule is the one to switch to.

use crate::estimate::available_presets;
use crate::model::{self, Resolver};
use crate::monitor::advice::{Advice, PresetAdvisor, PresetNeed};
use crate::monitor::procs::ModelLink;
use crate::paths::AppPaths;
use crate::presets::config_store::ConfigLibrary;
use crate::presets::library::PresetLibrary;
use crate::presets::model_config::DEFAULT_FALLBACK_CHAIN;

use super::history;
use super::predict::predict_chain;

/// Advice from the app's stores (per-model configs, presets, run records, settings, calibration).
pub struct EstimateAdvisor {
    paths: AppPaths,
    resolver: Resolver,
}

impl EstimateAdvisor {
    pub fn new(paths: AppPaths, resolver: Resolver) -> Self {
        EstimateAdvisor { paths, resolver }
    }

    /// The chain the run falls back along: its own run record's when Headroom launched it, else its model's
    /// saved config's, else the default one.
    fn chain(&self, link: &ModelLink) -> Vec<String> {
        if let Some(run_id) = &link.run_id {
            if let Ok((record, _)) = history::load(&self.paths, run_id) {
                return record.chain;
            }
        }
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
        let chain = self.chain(link);
        let after = link
            .preset
            .as_deref()
            .and_then(|current| chain.iter().position(|p| p == current))
            .map_or(0, |i| i + 1);
        let left = &chain[after.min(chain.len())..];
        if left.is_empty() {
            return Advice::EndOfChain;
        }
        let known = match available_presets(&PresetLibrary::new(&self.paths)) {
            Ok(known) => known,
            Err(e) => return Advice::Unknown(e.to_string()),
        };
        let prediction = match predict_chain(
            &self.paths,
            &link.id,
            left,
            batch_size,
            sequence_length,
            &known,
            |m| model::resolve(m, &self.resolver),
        ) {
            Ok(p) => p,
            Err(e) => return Advice::Unknown(e.to_string()),
        };
        let budget = prediction.budget(gpu_memory_bytes);
        let mut tried = Vec::new();
        for preset in left {
            // A preset the plan rejects (int8 for full training) is no step to recommend.
            let Some(per_gpu) = prediction.per_gpu.get(preset) else {
                continue;
            };
            let need = PresetNeed {
                preset: preset.clone(),
                deciding_bytes: budget.deciding_bytes(per_gpu),
            };
            if budget.fits(per_gpu) {
                return Advice::Fits {
                    choice: need,
                    skipped: tried,
                    usable_bytes: budget.usable_bytes,
                    batch_size,
                    sequence_length,
                };
            }
            tried.push(need);
        }
        Advice::NoneFits {
            tried,
            usable_bytes: budget.usable_bytes,
        }
    }
}
