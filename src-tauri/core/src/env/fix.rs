//! A fix the doctor proposes and a profile applies: its own module so the profile and the doctor each depend on
//! it, not on each other.

use serde::{Deserialize, Serialize};

/// A change that resolves a finding, as data so the UI can offer it as a button.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Fix {
    Set { variable: String, value: String },
    Unset { variable: String },
}
