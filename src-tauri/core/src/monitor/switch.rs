//! Starting the Monitor's source, or switching to another: the new one keeps the sampler settings and alerts
//! of the one it replaces, and where that one last recorded (for CSV export).

use crate::monitor::advice::PresetAdvisor;
use crate::monitor::alerts::AlertConfig;
use crate::monitor::history::MAX_HISTORY_GPUS;
use crate::monitor::nvml::SharedNvml;
use crate::monitor::procs::{self, ProcFs};
use crate::monitor::sampler::{SamplerConfig, Tick};
use crate::monitor::session::{
    interval_for, spec_for, MonitorPush, MonitorStarted, Running, SourceRequest,
};
use crate::monitor::SourceSpec;
use crate::Result;

/// What a start may change besides the source: `alerts` replaces the thresholds (else the last ones apply);
/// `interval_ms` is the memory interval ([`interval_for`] gives the default); `advisor` estimates the preset
/// recommendations.
#[derive(Default)]
pub struct StartOptions {
    pub alerts: Option<AlertConfig>,
    pub interval_ms: Option<u64>,
    pub advisor: Option<Box<dyn PresetAdvisor>>,
}

/// Start `source` in `slot`, stopping what ran there, with `options`. Readings go to `push`, and each reading to
/// `on_reading` with whether the source is the demo.
pub fn start_or_switch(
    slot: &mut Option<Running>,
    source: &SourceRequest,
    options: StartOptions,
    nvml: &SharedNvml,
    push: impl Fn(MonitorPush) -> bool + Send + 'static,
    on_reading: impl Fn(&Tick, bool) + Send + 'static,
) -> Result<MonitorStarted> {
    let StartOptions {
        alerts,
        interval_ms,
        advisor,
    } = options;
    let spec = spec_for(source)?;
    let interval_ms = interval_for(source, interval_ms)?;
    let mut config = slot
        .as_ref()
        .map_or_else(SamplerConfig::default, |r| r.config);
    config.interval_ms = interval_ms;
    // Other hosts can bring many GPUs: history for every one of them, fewer hours each (the default is 16).
    if matches!(spec, SourceSpec::Remote(_)) {
        config.history = config.history.for_many_gpus(MAX_HISTORY_GPUS);
    }
    if let Some(alerts) = alerts {
        config.alerts = alerts;
    }
    config.validate()?;
    let last_recording = slot.as_ref().and_then(|r| {
        r.recording()
            .map(|info| info.path)
            .or(r.last_recording.clone())
    });
    // The old source stops first: one sampler at a time, and NVML's handle is released before a new one opens.
    *slot = None;
    let demo = matches!(spec, SourceSpec::Fake(_));
    let mut running = Running::start(
        &spec,
        config,
        ProcFs::default(),
        nvml,
        advisor,
        push,
        move |tick| on_reading(tick, demo),
    )?;
    running.last_recording = last_recording;
    let started = MonitorStarted {
        source: running.source.clone(),
        demo: running.demo,
        interval_ms: config.interval_ms,
        alerts: config.alerts,
        uid: procs::current_uid(),
    };
    *slot = Some(running);
    Ok(started)
}
