//! Which source a `--source` value (or the Monitor view's choice) names, and opening it: the one place that knows
//! every kind of source, so the sources themselves depend only on the [`GpuSource`] trait.

use std::path::PathBuf;

use super::fake::{FakeConfig, FakeSource, Scenario};
use super::nvml::{NvmlSource, SharedNvml};
use super::procs::ProcFs;
use super::remote::{RemoteKind, RemoteSource, RemoteSpec};
use super::replay::ReplaySource;
use super::source::GpuSource;
use crate::message::{Key, Message};
use crate::{Error, Result};

/// A parsed `--source` value.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    Nvml,
    Fake(FakeConfig),
    Replay(PathBuf),
    /// `prometheus:URL`, `dcgm:URL,…` or `headroom:URL,…`: other hosts over HTTP.
    Remote(RemoteSpec),
}

impl SourceSpec {
    /// Parses `nvml`, `fake:SCENARIO`, `replay:FILE`, `prometheus:URL`, `dcgm:URL` or `headroom:URL`; the fake's GPU and process counts and seed come from
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
                return Err(Error::invalid_msg(
                    "source",
                    Message::new(Key::InvalidSourceReplayFile),
                ));
            }
            return Ok(SourceSpec::Replay(PathBuf::from(file)));
        }
        for kind in [
            RemoteKind::Prometheus,
            RemoteKind::Dcgm,
            RemoteKind::Headroom,
        ] {
            if let Some(url) = text
                .strip_prefix(kind.prefix())
                .and_then(|t| t.strip_prefix(':'))
            {
                return Ok(SourceSpec::Remote(RemoteSpec::parse(kind, url)?));
            }
        }
        Err(Error::invalid_msg(
            "source",
            Message::new(Key::InvalidSourceUnknown)
                .text("value", super::remote::strip_userinfo(text))
                .text("scenarios", Scenario::NAMES.join(", ")),
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
        SourceSpec::Remote(spec) => Box::new(RemoteSource::new(spec.clone())),
    })
}
