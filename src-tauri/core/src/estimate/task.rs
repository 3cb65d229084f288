//! What a plan runs: training or inference. A leaf, so that every part of the estimator can name it.

use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    Train,
    Infer,
}
