//! Where snapshots come from. A source is owned by one thread (the sampler) for its whole life, so it needs
//! `Send` but no locks.

use std::path::PathBuf;

use super::fake::{FakeConfig, FakeSource, Scenario};
use super::nvml::{NvmlSource, SharedNvml};
use super::procs::ProcFs;
use super::replay::ReplaySource;
use super::{Snapshot, Timestamp};
use crate::{Error, Result};

/// What a sampler asks of a source at one tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleRequest {
    /// The wall-clock time to stamp on a live reading (replays keep their recorded time).
    pub at: Timestamp,
    /// Whether to list processes this time: they cost more than memory (one /proc walk per process), so the
    /// sampler asks for them every 2 to 5 s only.
    pub processes: bool,
}

pub trait GpuSource: Send {
    /// `nvml`, `fake:SCENARIO` or `replay:FILE`: goes into [`Snapshot::source`].
    fn label(&self) -> String;

    /// Reads every GPU once. `Ok(None)` means the source has nothing more to give (the end of a replay).
    /// A GPU that stops answering is not an error: it comes back as [`super::GpuStatus::Lost`] and is retried.
    fn sample(&mut self, request: SampleRequest) -> Result<Option<Snapshot>>;
}

/// A parsed `--source` value.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    Nvml,
    Fake(FakeConfig),
    Replay(PathBuf),
}

impl SourceSpec {
    /// Parses `nvml`, `fake:SCENARIO` or `replay:FILE`; the fake's GPU and process counts and seed come from
    /// `fake` so the CLI can set them with their own flags.
    pub fn parse(text: &str, fake: FakeConfig) -> Result<Self> {
        if text == "nvml" {
            return Ok(SourceSpec::Nvml);
        }
        if let Some(name) = text.strip_prefix("fake:") {
            let scenario = Scenario::parse(name)?;
            return Ok(SourceSpec::Fake(FakeConfig { scenario, ..fake }));
        }
        if let Some(file) = text.strip_prefix("replay:") {
            if file.is_empty() {
                return Err(Error::invalid(
                    "source",
                    "replay: needs a file, as in replay:run.jsonl",
                ));
            }
            return Ok(SourceSpec::Replay(PathBuf::from(file)));
        }
        Err(Error::invalid(
            "source",
            format!(
                "`{text}` is not one of nvml, fake:SCENARIO ({}), replay:FILE",
                Scenario::NAMES.join(", ")
            ),
        ))
    }
}

/// Opens the source a spec names. NVML without a driver fails with [`Error::NoDriver`].
pub fn open_source(spec: &SourceSpec, procfs: ProcFs) -> Result<Box<dyn GpuSource>> {
    open_source_shared(spec, procfs, &SharedNvml::default())
}

/// The same, with NVML on the process's shared handle (the app keeps one for its life).
pub fn open_source_shared(
    spec: &SourceSpec,
    procfs: ProcFs,
    nvml: &SharedNvml,
) -> Result<Box<dyn GpuSource>> {
    Ok(match spec {
        SourceSpec::Nvml => Box::new(NvmlSource::open_shared(nvml, procfs)?),
        SourceSpec::Fake(config) => Box::new(FakeSource::new(config.clone())?),
        SourceSpec::Replay(path) => Box::new(ReplaySource::open(path)?),
    })
}
