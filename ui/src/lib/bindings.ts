// Generated from the Rust types by src-tauri/src/bindings.rs. Do not edit: run
// `UPDATE_BINDINGS=1 cargo test -p headroom bindings` after changing a type.

export type Language = "auto" | "en" | "ja";

export type Theme = "system" | "light" | "dark";

export type Settings = { language: Language, theme: Theme, };

export type Quarantine = { original: string, moved_to: string, reason: string, };

export type AppPaths = { 
/**
 * Settings, presets, per-model configs, environment profiles (`~/.config/headroom` on Linux).
 */
config_dir: string, 
/**
 * Recordings and run history (`~/.local/share/headroom` on Linux).
 */
data_dir: string, 
/**
 * Log files, size-bounded (`<data_dir>/logs`).
 */
log_dir: string, };

export type AppInfo = { version: string, paths: AppPaths, log_file: string, 
/**
 * The OS locale (`LC_ALL`, `LC_MESSAGES`, then `LANG`), used when the language setting is `auto`.
 */
locale: string | null, 
/**
 * Files that could not be read at start-up and were moved aside.
 */
quarantined: Array<Quarantine>, };

export type ErrorCode = "invalid" | "conflict" | "io" | "no_driver" | "internal";

export type IpcError = { code: ErrorCode, message: string, };
