//! A plan (docs/contract.md §1): what the user means to run.
//! - [`types`]: the domain types, every default filled in ([`Plan`]);
//! - [`file`]: the plan as a file holds it ([`file::PlanFile`]), also the source of its JSON Schema and TS type;
//! - [`parse`]: file → plan, every error naming its key;
//! - [`write`]: plan → the file's JSON, every default written out (what "save" stores);
//! - [`framework`]: each training framework's defaults for the keys a plan leaves unset (docs/frameworks.md).

pub mod file;
pub mod framework;
mod parse;
mod types;
mod write;

pub use framework::Framework;
pub use parse::{parse_plan, plan_from_value};
pub use types::*;
pub use write::plan_to_value;
