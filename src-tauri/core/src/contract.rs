//! JSON Schemas of the command line's contract (docs/contract.md), generated from the types that read and print
//! it. `docs/schemas/*.schema.json` hold them; the CLI's contract test regenerates them (drift fails the test)
//! and validates real `headroom-cli` output against them.

use schemars::{generate::SchemaSettings, JsonSchema};
use serde_json::Value;

use crate::estimate::{plan::file::PlanFile, Estimate};
use crate::monitor::Snapshot;

/// One schema file: its name under docs/schemas and its contents.
pub struct SchemaFile {
    pub file_name: &'static str,
    pub schema: Value,
}

/// Every schema of the contract, in the order of docs/contract.md.
pub fn schemas() -> Vec<SchemaFile> {
    vec![
        schema_file::<PlanFile>("plan.schema.json"),
        schema_file::<Estimate>("estimate.schema.json"),
        schema_file::<Snapshot>("monitor-snapshot.schema.json"),
    ]
}

fn schema_file<T: JsonSchema>(file_name: &'static str) -> SchemaFile {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let schema = generator.into_root_schema_for::<T>();
    SchemaFile {
        file_name,
        schema: schema.to_value(),
    }
}

/// The text a schema file holds: pretty JSON with a final newline.
pub fn render(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(schema).unwrap_or_default();
    text.push('\n');
    text
}
