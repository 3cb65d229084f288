//! TypeScript declarations of every type that crosses IPC, generated from the Rust types with ts-rs into
//! `ui/src/lib/bindings.ts`. The test below fails when the committed file differs from what the types say;
//! run `UPDATE_BINDINGS=1 cargo test -p headroom bindings` to regenerate it.

use ts_rs::{Config, TS};

/// The file's contents: a header and one exported declaration per type, in a stable order.
pub fn render() -> String {
    // u64 byte counts stay plain numbers: exact up to 8 PiB, far beyond any GPU.
    let cfg = Config::new().with_large_int("number");
    let decls = [
        headroom_core::message::MessageArg::decl(&cfg),
        headroom_core::message::Message::decl(&cfg),
        headroom_core::settings::Language::decl(&cfg),
        headroom_core::settings::Theme::decl(&cfg),
        headroom_core::settings::Settings::decl(&cfg),
        headroom_core::store::Quarantine::decl(&cfg),
        headroom_core::paths::AppPaths::decl(&cfg),
        crate::commands::app::AppInfo::decl(&cfg),
        crate::error::ErrorCode::decl(&cfg),
        crate::error::IpcError::decl(&cfg),
        headroom_core::store::Revision::decl(&cfg),
        headroom_core::env::profile::Purpose::decl(&cfg),
        headroom_core::env::profile::Setting::decl(&cfg),
        headroom_core::env::profile::Profile::decl(&cfg),
        headroom_core::env::catalog::VariableInfo::decl(&cfg),
        headroom_core::env::profile::SettingView::decl(&cfg),
        headroom_core::env::profile::ProfileView::decl(&cfg),
        headroom_core::env::profile::ProfileSummary::decl(&cfg),
        headroom_core::env::profile::ProfileList::decl(&cfg),
        headroom_core::env::doctor::Severity::decl(&cfg),
        headroom_core::env::doctor::Fix::decl(&cfg),
        headroom_core::env::doctor::Rule::decl(&cfg),
        headroom_core::env::doctor::Finding::decl(&cfg),
        headroom_core::env::doctor::Report::decl(&cfg),
        crate::commands::env::ProfileFormat::decl(&cfg),
        headroom_core::env::check::DoctorSource::decl(&cfg),
        headroom_core::env::check::DoctorResult::decl(&cfg),
        headroom_core::launch::process::Stream::decl(&cfg),
        headroom_core::launch::process::ExitInfo::decl(&cfg),
        headroom_core::launch::oom::OomMarker::decl(&cfg),
        headroom_core::launch::oom::OomDetails::decl(&cfg),
        headroom_core::launch::history::Outcome::decl(&cfg),
        headroom_core::launch::tree::ProcessStamp::decl(&cfg),
        headroom_core::launch::history::Interruption::decl(&cfg),
        headroom_core::launch::history::NextStep::decl(&cfg),
        headroom_core::launch::history::PredictionDetail::decl(&cfg),
        headroom_core::launch::resume::CheckpointKind::decl(&cfg),
        headroom_core::launch::resume::ResumePoint::decl(&cfg),
        headroom_core::launch::first_step::SkippedStep::decl(&cfg),
        headroom_core::launch::first_step::StartChoice::decl(&cfg),
        headroom_core::launch::distributed::DistributedLauncher::decl(&cfg),
        headroom_core::launch::distributed::DistributedRun::decl(&cfg),
        headroom_core::launch::history::AttemptRecord::decl(&cfg),
        headroom_core::launch::history::RunRecord::decl(&cfg),
        headroom_core::launch::history::RunList::decl(&cfg),
        headroom_core::launch::runner::LaunchEvent::decl(&cfg),
        headroom_core::launch::probe::ProbeReport::decl(&cfg),
        headroom_core::launch::start::StartRun::decl(&cfg),
        crate::commands::runs::RunUpdate::decl(&cfg),
        headroom_core::launch::start::RunDefaults::decl(&cfg),
        headroom_core::launch::log_tail::LogTail::decl(&cfg),
        headroom_core::launch::live::OutputLine::decl(&cfg),
        headroom_core::launch::live::RunSnapshot::decl(&cfg),
        headroom_core::monitor::Timestamp::decl(&cfg),
        headroom_core::monitor::GpuStatus::decl(&cfg),
        headroom_core::monitor::Memory::decl(&cfg),
        headroom_core::monitor::AllocatorStats::decl(&cfg),
        headroom_core::monitor::ProcessSample::decl(&cfg),
        headroom_core::monitor::procs::ModelLink::decl(&cfg),
        headroom_core::monitor::GpuSample::decl(&cfg),
        headroom_core::monitor::Snapshot::decl(&cfg),
        headroom_core::monitor::HostState::decl(&cfg),
        headroom_core::monitor::fake::Scenario::decl(&cfg),
        headroom_core::monitor::alerts::AlertConfig::decl(&cfg),
        headroom_core::monitor::alerts::Level::decl(&cfg),
        headroom_core::monitor::alerts::Action::decl(&cfg),
        headroom_core::monitor::alerts::Recommendation::decl(&cfg),
        headroom_core::monitor::alerts::GpuAlert::decl(&cfg),
        headroom_core::monitor::alerts::LevelChange::decl(&cfg),
        headroom_core::monitor::alerts::Assessment::decl(&cfg),
        headroom_core::monitor::sampler::Tick::decl(&cfg),
        headroom_core::monitor::decimate::Points::decl(&cfg),
        headroom_core::monitor::history::SeriesWindow::decl(&cfg),
        headroom_core::monitor::history::HistoryWindow::decl(&cfg),
        headroom_core::monitor::history::ProcessIdle::decl(&cfg),
        headroom_core::monitor::procs::StoppedBy::decl(&cfg),
        headroom_core::monitor::procs::StopOutcome::decl(&cfg),
        headroom_core::monitor::session::SourceRequest::decl(&cfg),
        headroom_core::monitor::session::MonitorStarted::decl(&cfg),
        headroom_core::monitor::session::MonitorPush::decl(&cfg),
        headroom_core::monitor::session::RecordingInfo::decl(&cfg),
        headroom_core::monitor::export::HistoryFormat::decl(&cfg),
        headroom_core::monitor::export::Exported::decl(&cfg),
        crate::commands::monitor::RecordingFile::decl(&cfg),
        // Plan view
        headroom_core::estimate::Components::decl(&cfg),
        headroom_core::estimate::PerGpu::decl(&cfg),
        headroom_core::estimate::band::Range::decl(&cfg),
        headroom_core::estimate::band::PeakRanges::decl(&cfg),
        headroom_core::estimate::plan::FitOn::decl(&cfg),
        headroom_core::estimate::ParameterSummary::decl(&cfg),
        headroom_core::estimate::Estimate::decl(&cfg),
        headroom_core::estimate::calibration::CalibrationFit::decl(&cfg),
        headroom_core::estimate::calibration::TaskCalibration::decl(&cfg),
        headroom_core::estimate::calibration::MachineCalibration::decl(&cfg),
        headroom_core::launch::calibration::CalibrationStatus::decl(&cfg),
        headroom_core::estimate::WeightFormat::decl(&cfg),
        headroom_core::estimate::Placement::decl(&cfg),
        headroom_core::estimate::recommend::Limits::decl(&cfg),
        headroom_core::estimate::recommend::RankedPreset::decl(&cfg),
        headroom_core::estimate::recommend::Suggestion::decl(&cfg),
        headroom_core::estimate::VerdictKind::decl(&cfg),
        headroom_core::estimate::Verdict::decl(&cfg),
        headroom_core::estimate::answer::ModelSummary::decl(&cfg),
        headroom_core::estimate::PlanAnswer::decl(&cfg),
        headroom_core::estimate::plan::Task::decl(&cfg),
        headroom_core::estimate::plan::Method::decl(&cfg),
        headroom_core::estimate::plan::Framework::decl(&cfg),
        headroom_core::estimate::plan::Precision::decl(&cfg),
        headroom_core::estimate::plan::Optimizer::decl(&cfg),
        headroom_core::estimate::plan::AttentionImpl::decl(&cfg),
        headroom_core::estimate::plan::KvDtype::decl(&cfg),
        headroom_core::estimate::plan::Sharding::decl(&cfg),
        headroom_core::estimate::plan::Offload::decl(&cfg),
        headroom_core::estimate::plan::PrefillLogits::decl(&cfg),
        headroom_core::estimate::plan::file::LoraFile::decl(&cfg),
        headroom_core::estimate::plan::file::GpusFile::decl(&cfg),
        headroom_core::estimate::plan::file::Count::decl(&cfg),
        headroom_core::estimate::plan::file::Whole::decl(&cfg),
        headroom_core::estimate::plan::file::PlanFile::decl(&cfg),
        headroom_core::estimate::gpus::GpuModel::decl(&cfg),
        headroom_core::estimate::gpus::MachineGpu::decl(&cfg),
        headroom_core::model::hf_cache::CachedModel::decl(&cfg),
        crate::commands::plan::CatalogModel::decl(&cfg),
        crate::commands::plan::HfCacheList::decl(&cfg),
        crate::commands::plan::PickedConfig::decl(&cfg),
        crate::commands::plan::GpuChoices::decl(&cfg),
        // Trainer configs (docs/trainers.md)
        headroom_core::trainers::TrainerFormat::decl(&cfg),
        headroom_core::trainers::ImportedFile::decl(&cfg),
        headroom_core::trainers::MappedKey::decl(&cfg),
        headroom_core::trainers::AutoResolved::decl(&cfg),
        headroom_core::trainers::IgnoredKey::decl(&cfg),
        headroom_core::trainers::NotUnderstood::decl(&cfg),
        headroom_core::trainers::ImportReport::decl(&cfg),
        headroom_core::trainers::export::ExportFormat::decl(&cfg),
        crate::commands::trainers::SavedExport::decl(&cfg),
        // The trace engine
        headroom_core::estimate::EngineKind::decl(&cfg),
        headroom_core::trace::Stage::decl(&cfg),
        headroom_core::trace::TraceProgress::decl(&cfg),
        headroom_core::trace::Phase::decl(&cfg),
        headroom_core::trace::PeakPlace::decl(&cfg),
        headroom_core::trace::TimelinePoint::decl(&cfg),
        headroom_core::trace::TraceLayers::decl(&cfg),
        headroom_core::trace::TraceInfo::decl(&cfg),
        headroom_core::trace::TraceOutcome::decl(&cfg),
        headroom_core::trace::PythonInfo::decl(&cfg),
        // Presets view
        headroom_core::presets::Device::decl(&cfg),
        headroom_core::presets::TorchDtype::decl(&cfg),
        headroom_core::presets::Placement::decl(&cfg),
        headroom_core::presets::DeviceMap::decl(&cfg),
        headroom_core::presets::LoadSettings::decl(&cfg),
        headroom_core::presets::bnb::ComputeDtype::decl(&cfg),
        headroom_core::presets::bnb::QuantType::decl(&cfg),
        headroom_core::presets::bnb::QuantStorage::decl(&cfg),
        headroom_core::presets::BnbConfig::decl(&cfg),
        headroom_core::presets::PresetBody::decl(&cfg),
        headroom_core::presets::Preset::decl(&cfg),
        headroom_core::presets::FieldError::decl(&cfg),
        headroom_core::presets::library::SkippedFile::decl(&cfg),
        headroom_core::presets::library::PresetList::decl(&cfg),
        headroom_core::presets::model_config::TargetModules::decl(&cfg),
        headroom_core::presets::model_config::LoraDtype::decl(&cfg),
        headroom_core::presets::model_config::LoraSettings::decl(&cfg),
        headroom_core::presets::model_config::BnbOverrides::decl(&cfg),
        headroom_core::presets::model_config::PresetOverrides::decl(&cfg),
        headroom_core::presets::model_config::ModelConfig::decl(&cfg),
        headroom_core::presets::config_store::ModelConfigEntry::decl(&cfg),
        headroom_core::presets::config_store::ConfigList::decl(&cfg),
        headroom_core::presets::switch::PresetSwitch::decl(&cfg),
        headroom_core::presets::import::ImportSource::decl(&cfg),
        headroom_core::presets::bundle::OnConflict::decl(&cfg),
        headroom_core::presets::bundle::ImportCounts::decl(&cfg),
        headroom_core::presets::bundle::ImportReport::decl(&cfg),
        crate::commands::presets::PresetCheck::decl(&cfg),
        crate::commands::presets::Renamed::decl(&cfg),
        crate::commands::presets::ExportFormat::decl(&cfg),
        crate::commands::presets::PresetExport::decl(&cfg),
        crate::commands::presets::ImportedAs::decl(&cfg),
        crate::commands::configs::WizardGpu::decl(&cfg),
        crate::commands::configs::WizardGpus::decl(&cfg),
        headroom_core::presets::wizard::WizardAsk::decl(&cfg),
        headroom_core::presets::wizard::WizardRow::decl(&cfg),
        headroom_core::presets::wizard::WizardRanking::decl(&cfg),
    ];
    let mut out = String::from(
        "// Generated from the Rust types by src-tauri/src/bindings.rs. Do not edit: run\n\
         // `UPDATE_BINDINGS=1 cargo test -p headroom bindings` after changing a type.\n\n",
    );
    for decl in decls {
        out.push_str("export ");
        out.push_str(&decl);
        out.push_str("\n\n");
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn bindings_are_up_to_date() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/ui/src/lib/bindings.ts");
        let fresh = super::render();
        if std::env::var_os("UPDATE_BINDINGS").is_some() {
            std::fs::write(path, &fresh).unwrap();
            return;
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == fresh,
            "ui/src/lib/bindings.ts is out of date: run `UPDATE_BINDINGS=1 cargo test -p headroom bindings`"
        );
    }
}
