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
        // Plan view
        headroom_core::estimate::Components::decl(&cfg),
        headroom_core::estimate::PerGpu::decl(&cfg),
        headroom_core::estimate::ParameterSummary::decl(&cfg),
        headroom_core::estimate::Estimate::decl(&cfg),
        headroom_core::estimate::WeightFormat::decl(&cfg),
        headroom_core::estimate::Placement::decl(&cfg),
        headroom_core::estimate::recommend::Limits::decl(&cfg),
        headroom_core::estimate::recommend::RankedPreset::decl(&cfg),
        headroom_core::estimate::recommend::Suggestion::decl(&cfg),
        headroom_core::estimate::VerdictKind::decl(&cfg),
        headroom_core::estimate::Verdict::decl(&cfg),
        headroom_core::estimate::answer::ModelSummary::decl(&cfg),
        headroom_core::estimate::PlanAnswer::decl(&cfg),
        headroom_core::estimate::gpus::GpuModel::decl(&cfg),
        headroom_core::estimate::gpus::MachineGpu::decl(&cfg),
        headroom_core::model::hf_cache::CachedModel::decl(&cfg),
        crate::commands::plan::CatalogModel::decl(&cfg),
        crate::commands::plan::HfCacheList::decl(&cfg),
        crate::commands::plan::GpuChoices::decl(&cfg),
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
