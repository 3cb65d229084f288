//! The demo source: scripted, seeded, deterministic GPU readings for machines with no GPU, for tests and for the
//! UI's clearly labelled "demo" button. Every reading depends only on (seed, scenario, GPU, sample number), so the
//! same seed gives the same numbers whatever the timing.
//!
//! The shapes follow what a fine-tuning run looks like in `nvidia-smi`; the sizes are scenario parameters, not
//! measurements:
//! - every process holds a CUDA context of [`CONTEXT_BYTES`] (the order of magnitude PyTorch's context takes on
//!   recent GPUs), and the driver reserves `total / 160` (about 0.5 GiB of an 80 GiB board, like NVML's `reserved`
//!   on an H100);
//! - process 0 of each GPU is the trainer; processes beyond the first on a GPU are idle holders of
//!   [`IDLE_HOLDER_BYTES`] (a forgotten notebook kernel), constant so they show as idle; only as many holders as
//!   fit beside the trainer's context exist (more processes than fit on a board could not have allocated);
//! - every reading is consistent, as a real board's is: the processes' memory adds up to `used`, and `used` +
//!   `free` + the driver's reservation to `total`. The process list is computed at no cost, so it comes with every
//!   reading (a list carried forward from an earlier reading would still show a trainer that has exited);
//! - `idle`: no trainer load, utilization 0;
//! - `training`: weights load over 30 samples to 45% of the GPU, then 70% ±0.5% noise, with an evaluation spike
//!   of +12% for 10 samples every 120;
//! - `leak`: 50% and 48 MiB more every sample, up to the last 256 MiB;
//! - `oom`: 40% and 1% more every sample until the next step would not fit: then the trainer exits (CUDA out of
//!   memory) and the GPU stays idle;
//! - `lost`: `training`, with GPU 0 lost for samples 0 to 14 of every 60, then back: lost from the first reading,
//!   so `monitor --once --source fake:lost` shows what the scenario is about.

use serde::{Deserialize, Serialize};

use super::procs::{model_link_from_args, ModelLink};
use super::source::{GpuSource, SampleRequest};
use super::{AllocatorStats, GpuSample, GpuStatus, Memory, ProcessSample, Snapshot, GIB, MIB};
use crate::message::{Key, Message};
use crate::{Error, Result};

/// The model the demo's trainers fine-tune (a catalog model that fills most of an 80 GiB board with LoRA in bf16).
pub const DEMO_MODEL: &str = "Qwen/Qwen2.5-32B-Instruct";

pub const CONTEXT_BYTES: u64 = 512 * MIB;
/// The samples (of every 60) in which `lost` has lost GPU 0.
const LOST_SAMPLES: std::ops::Range<u64> = 0..15;
pub const IDLE_HOLDER_BYTES: u64 = 3 * GIB;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    Idle,
    Training,
    Leak,
    Oom,
    Lost,
}

impl Scenario {
    pub const NAMES: [&'static str; 5] = ["idle", "training", "leak", "oom", "lost"];

    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "idle" => Scenario::Idle,
            "training" => Scenario::Training,
            "leak" => Scenario::Leak,
            "oom" => Scenario::Oom,
            "lost" => Scenario::Lost,
            other => {
                return Err(Error::invalid_msg(
                    "source",
                    Message::new(Key::InvalidSourceScenario)
                        .text("value", other)
                        .text("choices", Self::NAMES.join(", ")),
                ))
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Idle => "idle",
            Scenario::Training => "training",
            Scenario::Leak => "leak",
            Scenario::Oom => "oom",
            Scenario::Lost => "lost",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct FakeConfig {
    pub scenario: Scenario,
    /// 1 to 16.
    pub gpus: u32,
    /// 0 to 256, spread over the GPUs in turn.
    pub processes: u32,
    pub seed: u64,
    /// Memory of each fake GPU; 80 GiB (an H100 80GB) by default.
    pub total_bytes: u64,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            scenario: Scenario::Training,
            gpus: 1,
            processes: 1,
            seed: 0,
            total_bytes: 80 * GIB,
        }
    }
}

impl FakeConfig {
    pub fn validate(&self) -> Result<()> {
        if !(1..=16).contains(&self.gpus) {
            return Err(Error::invalid_msg(
                "gpus",
                Message::new(Key::InvalidSourceFakeGpus).text("gpus", self.gpus.to_string()),
            ));
        }
        if self.processes > 256 {
            return Err(Error::invalid(
                "processes",
                format!("{} fake processes; use 0 to 256", self.processes),
            ));
        }
        if self.total_bytes < 4 * GIB {
            return Err(Error::invalid(
                "total_bytes",
                "a fake GPU needs at least 4 GiB",
            ));
        }
        Ok(())
    }
}

pub struct FakeSource {
    config: FakeConfig,
    step: u64,
    /// Per GPU: the sample at which its trainer ran out of memory (`oom` only).
    oom_at: Vec<Option<u64>>,
    /// The trainers' command line (less their rank) and the model read from it once, as the NVML source reads
    /// a real process's.
    trainer_command: String,
    trainer_model: Option<ModelLink>,
}

impl FakeSource {
    pub fn new(config: FakeConfig) -> Result<Self> {
        config.validate()?;
        let oom_at = vec![None; config.gpus as usize];
        let trainer_command = format!(
            "python train.py --model_name_or_path {DEMO_MODEL} --per_device_train_batch_size 2 --max_seq_length 2048 --demo"
        );
        let trainer_model = model_link_from_args(&trainer_command.split(' ').collect::<Vec<_>>());
        Ok(FakeSource {
            config,
            step: 0,
            oom_at,
            trainer_command,
            trainer_model,
        })
    }

    /// How many samples have been taken.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Uniform noise in [-1, 1], a pure function of (seed, gpu, step): SplitMix64 (Steele, Lea, Flood,
    /// "Fast splittable pseudorandom number generators", OOPSLA 2014).
    fn noise(&self, gpu: u32, salt: u64) -> f64 {
        let mut z = self
            .config
            .seed
            .wrapping_add(u64::from(gpu).wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .wrapping_add(self.step.wrapping_mul(0xBF58_476D_1CE4_E5B9))
            .wrapping_add(salt.wrapping_mul(0x94D0_49BB_1331_11EB));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }

    fn fraction(&self, f: f64) -> u64 {
        (self.config.total_bytes as f64 * f) as u64
    }

    /// The trainer's bytes (context included) and utilization on `gpu` at the current step; `None` when there is
    /// no trainer running there.
    fn trainer(
        &mut self,
        gpu: u32,
        reserved: u64,
        holders: u64,
    ) -> Option<(u64, u32, Option<AllocatorStats>)> {
        let total = self.config.total_bytes;
        let k = self.step;
        let cap = total.saturating_sub(reserved + holders);
        let (bytes, util) = match self.config.scenario {
            Scenario::Idle => return None,
            Scenario::Training | Scenario::Lost => training_curve(self, gpu, k),
            Scenario::Leak => (self.fraction(0.5) + k * 48 * MIB, 97),
            Scenario::Oom => {
                if self.oom_at.get(gpu as usize)?.is_some() {
                    return None;
                }
                let bytes = self.fraction(0.40 + 0.01 * k as f64);
                if bytes + self.fraction(0.01) > cap {
                    // The next step would not fit: this is the trainer's last reading.
                    if let Some(slot) = self.oom_at.get_mut(gpu as usize) {
                        *slot = Some(k);
                    }
                }
                (bytes.min(cap), 99)
            }
        };
        let bytes = bytes.min(cap.saturating_sub(256 * MIB)).max(CONTEXT_BYTES);
        // PyTorch's allocator keeps freed blocks cached: allocated is below what it reserved from the driver, and
        // the gap grows with evaluation spikes (activations of a different shape).
        let cached = bytes - CONTEXT_BYTES;
        let allocated = (cached as f64 * (0.78 + 0.04 * self.noise(gpu, 7))) as u64;
        let stats = AllocatorStats {
            allocated_bytes: allocated,
            reserved_bytes: cached,
        };
        Some((bytes, util, Some(stats)))
    }
}

fn training_curve(src: &FakeSource, gpu: u32, k: u64) -> (u64, u32) {
    if k < 30 {
        let f = 0.45 * (k + 1) as f64 / 30.0;
        return (src.fraction(f), 15);
    }
    let phase = k % 120;
    let eval = (100..110).contains(&phase);
    let f = 0.70 + 0.005 * src.noise(gpu, 1) + if eval { 0.12 } else { 0.0 };
    let util = if eval {
        60.0
    } else {
        95.0 + 4.0 * src.noise(gpu, 2)
    };
    (src.fraction(f), util.clamp(0.0, 100.0) as u32)
}

impl GpuSource for FakeSource {
    fn label(&self) -> String {
        format!("fake:{}", self.config.scenario.name())
    }

    fn sample(&mut self, request: SampleRequest) -> Result<Option<Snapshot>> {
        let cfg = self.config.clone();
        let total = cfg.total_bytes;
        let reserved = total / 160;
        let mut gpus = Vec::with_capacity(cfg.gpus as usize);
        let mut unavailable = Vec::new();
        for g in 0..cfg.gpus {
            let name = Some(format!("Headroom demo GPU {g} (fake, {} GiB)", total / GIB));
            let uuid = Some(format!("GPU-fake-{:08x}-{g:04}", cfg.seed as u32));
            if cfg.scenario == Scenario::Lost && g == 0 && LOST_SAMPLES.contains(&(self.step % 60))
            {
                unavailable.push(format!(
                    "gpu {g}: lost (scripted by fake:lost); retrying at every sample"
                ));
                gpus.push(GpuSample::lost(g, name, uuid));
                continue;
            }
            // Processes on this GPU: indices i with i % gpus == g; the first is the trainer, then as many idle
            // holders as fit beside the trainer's context and a margin.
            let room = total - reserved - CONTEXT_BYTES - 256 * MIB;
            let fitting = usize::try_from(room / IDLE_HOLDER_BYTES).unwrap_or(usize::MAX);
            let pids: Vec<u32> = (0..cfg.processes)
                .filter(|i| i % cfg.gpus == g)
                .take(fitting + 1)
                .collect();
            let holders = pids.len().saturating_sub(1) as u64 * IDLE_HOLDER_BYTES;
            let mut procs = Vec::with_capacity(pids.len());
            let mut used = 0u64;
            let mut util = 0u32;
            for (n, i) in pids.iter().enumerate() {
                let (bytes, command, allocator, model) = if n == 0 {
                    match self.trainer(g, reserved, holders) {
                        Some((bytes, u, stats)) => {
                            util = u;
                            let command = format!("{} --rank {g}", self.trainer_command);
                            (bytes, command, stats, self.trainer_model.clone())
                        }
                        None => continue,
                    }
                } else {
                    (
                        IDLE_HOLDER_BYTES,
                        format!("python -m ipykernel_launcher --demo-kernel {i}"),
                        None,
                        None,
                    )
                };
                used += bytes;
                procs.push(ProcessSample {
                    pid: 10_000 + i,
                    name: Some("python".into()),
                    user: Some("demo".into()),
                    uid: None,
                    used_bytes: Some(bytes),
                    allocator,
                    model,
                    command: Some(command),
                });
            }
            // Never clamps (the trainer and the holders are sized to fit); kept so a scripting mistake cannot
            // underflow `free`. The consistency test over every scenario would catch the clamp.
            let used = used.min(total - reserved);
            gpus.push(GpuSample {
                index: g,
                name,
                uuid,
                status: GpuStatus::Ok,
                memory: Memory {
                    total_bytes: Some(total),
                    used_bytes: Some(used),
                    free_bytes: Some(total - reserved - used),
                    reserved_bytes: Some(reserved),
                },
                utilization_percent: Some(util),
                // A rough thermal and power model of an 80 GB board: 35 °C and 70 W idle, 80 °C and 700 W busy.
                temperature_c: Some(35 + util * 45 / 100),
                power_watts: Some(70.0 + f64::from(util) * 6.3),
                // Always: see the module documentation.
                processes: Some(procs),
                host: None,
                host_gpu: None,
                // Where the slots of a typical 8-GPU board's first bus would be; a demo's, like its name.
                pci_bus_id: Some(format!("00000000:{:02X}:00.0", 0x18 + g)),
                labels: None,
            });
        }
        self.step += 1;
        Ok(Some(Snapshot {
            hosts: None,
            source: self.label(),
            taken_at: request.at,
            gpus,
            unavailable,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::Timestamp;

    fn run(config: FakeConfig, n: u64) -> Vec<Snapshot> {
        let mut src = FakeSource::new(config).unwrap();
        (0..n)
            .map(|k| {
                src.sample(SampleRequest {
                    at: Timestamp(k * 1000),
                    processes: true,
                })
                .unwrap()
                .unwrap()
            })
            .collect()
    }

    #[test]
    fn same_seed_same_numbers_other_seed_other_numbers() {
        let cfg = FakeConfig {
            gpus: 2,
            processes: 3,
            seed: 42,
            ..FakeConfig::default()
        };
        assert_eq!(run(cfg.clone(), 200), run(cfg.clone(), 200));
        assert_ne!(
            run(cfg.clone(), 200),
            run(FakeConfig { seed: 43, ..cfg }, 200)
        );
    }

    #[test]
    fn memory_adds_up_and_never_exceeds_the_board() {
        for scenario in [
            Scenario::Idle,
            Scenario::Training,
            Scenario::Leak,
            Scenario::Oom,
            Scenario::Lost,
        ] {
            for s in run(
                FakeConfig {
                    scenario,
                    gpus: 3,
                    processes: 5,
                    ..FakeConfig::default()
                },
                400,
            ) {
                for g in s.gpus.iter().filter(|g| g.status == GpuStatus::Ok) {
                    let m = g.memory;
                    assert_eq!(
                        m.total_bytes.unwrap(),
                        m.used_bytes.unwrap() + m.free_bytes.unwrap() + m.reserved_bytes.unwrap()
                    );
                    let procs: u64 = g
                        .processes
                        .as_ref()
                        .unwrap()
                        .iter()
                        .filter_map(|p| p.used_bytes)
                        .sum();
                    assert_eq!(procs, m.used_bytes.unwrap(), "{scenario:?}");
                }
            }
        }
    }

    #[test]
    fn oom_run_climbs_then_its_trainer_disappears() {
        let snaps = run(
            FakeConfig {
                scenario: Scenario::Oom,
                ..FakeConfig::default()
            },
            80,
        );
        let used: Vec<u64> = snaps
            .iter()
            .map(|s| s.gpus[0].memory.used_bytes.unwrap())
            .collect();
        let peak = used.iter().copied().max().unwrap();
        assert!(peak as f64 > 0.95 * (80 * GIB) as f64, "peak {peak}");
        assert_eq!(*used.last().unwrap(), 0);
        assert!(snaps.last().unwrap().gpus[0]
            .processes
            .as_ref()
            .unwrap()
            .is_empty());
    }

    #[test]
    fn lost_gpu_is_lost_from_the_first_reading_and_comes_back() {
        let snaps = run(
            FakeConfig {
                scenario: Scenario::Lost,
                gpus: 2,
                ..FakeConfig::default()
            },
            61,
        );
        assert_eq!(snaps[0].gpus[0].status, GpuStatus::Lost);
        assert_eq!(snaps[0].gpus[0].memory.used_bytes, None);
        assert!(snaps[0]
            .unavailable
            .iter()
            .any(|u| u.contains("gpu 0: lost")));
        assert_eq!(snaps[0].gpus[1].status, GpuStatus::Ok);
        assert_eq!(snaps[14].gpus[0].status, GpuStatus::Lost);
        assert_eq!(snaps[15].gpus[0].status, GpuStatus::Ok);
        assert_eq!(snaps[60].gpus[0].status, GpuStatus::Lost);
    }

    #[test]
    fn bad_counts_name_the_field() {
        let err = FakeSource::new(FakeConfig {
            gpus: 0,
            ..FakeConfig::default()
        })
        .err()
        .unwrap();
        assert!(err.to_string().starts_with("gpus:"), "{err}");
    }
}
