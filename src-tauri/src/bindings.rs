//! TypeScript declarations of every type that crosses IPC, generated from the Rust types with ts-rs into
//! `ui/src/lib/bindings.ts`. The test below fails when the committed file differs from what the types say;
//! run `UPDATE_BINDINGS=1 cargo test -p headroom bindings` to regenerate it.

use ts_rs::{Config, TS};

/// The file's contents: a header and one exported declaration per type, in a stable order.
pub fn render() -> String {
    // u64 byte counts stay plain numbers: exact up to 8 PiB, far beyond any GPU.
    let cfg = Config::new().with_large_int("number");
    let decls = [
        headroom_core::settings::Language::decl(&cfg),
        headroom_core::settings::Theme::decl(&cfg),
        headroom_core::settings::Settings::decl(&cfg),
        headroom_core::store::Quarantine::decl(&cfg),
        headroom_core::paths::AppPaths::decl(&cfg),
        crate::commands::app::AppInfo::decl(&cfg),
        crate::error::ErrorCode::decl(&cfg),
        crate::error::IpcError::decl(&cfg),
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
        headroom_core::store::Revision::decl(&cfg),
        headroom_core::presets::Preset::decl(&cfg),
        headroom_core::presets::FieldError::decl(&cfg),
        headroom_core::presets::library::SkippedFile::decl(&cfg),
        headroom_core::presets::library::PresetList::decl(&cfg),
        headroom_core::presets::model_config::Task::decl(&cfg),
        headroom_core::presets::model_config::Method::decl(&cfg),
        headroom_core::presets::model_config::TargetModules::decl(&cfg),
        headroom_core::presets::model_config::AllLinear::decl(&cfg),
        headroom_core::presets::model_config::LoraDtype::decl(&cfg),
        headroom_core::presets::model_config::LoraSettings::decl(&cfg),
        headroom_core::presets::model_config::BnbOverrides::decl(&cfg),
        headroom_core::presets::model_config::PresetOverrides::decl(&cfg),
        headroom_core::presets::model_config::ModelConfig::decl(&cfg),
        headroom_core::presets::model_config::ModelConfigEntry::decl(&cfg),
        headroom_core::presets::model_config::ConfigList::decl(&cfg),
        headroom_core::presets::import::ImportSource::decl(&cfg),
        headroom_core::presets::bundle::OnConflict::decl(&cfg),
        headroom_core::presets::bundle::ImportCounts::decl(&cfg),
        headroom_core::presets::bundle::ImportReport::decl(&cfg),
        crate::commands::presets::PresetCheck::decl(&cfg),
        crate::commands::presets::Renamed::decl(&cfg),
        crate::commands::presets::ExportFormat::decl(&cfg),
        crate::commands::presets::Exported::decl(&cfg),
        crate::commands::presets::ImportedAs::decl(&cfg),
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
