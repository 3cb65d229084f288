//! Arguments the UI sends as a `T` it is still editing (a plan, a preset body, a per-model config, the wizard's
//! answers). Kept as raw JSON at the IPC boundary so the core's own reader reports each problem at its field
//! (`lora.rank: must be a positive integer, got 0`), instead of Tauri refusing the whole call as "invalid
//! args". The type parameter says what the value is meant to be; `ui/src/lib/api.ts` sends that TypeScript type.

use std::marker::PhantomData;

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct Draft<T> {
    raw: Value,
    #[serde(skip)]
    meant: PhantomData<fn() -> T>,
}

impl<T> Draft<T> {
    pub fn raw(&self) -> &Value {
        &self.raw
    }

    pub fn into_raw(self) -> Value {
        self.raw
    }
}
