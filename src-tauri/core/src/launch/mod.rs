//! The launcher: runs a training command with an environment profile and a preset, follows its output for
//! CUDA out-of-memory, relaunches down a chain of presets, and keeps every attempt on disk.
//!
//! - [`handover`]: what a program receives per attempt ([`handover::PresetSource`]), the default chain.
//! - [`process`]: one child in its own process group, streamed output, cancel without orphans.
//! - [`oom`]: recognising an OOM and its figures in the output.
//! - [`runner`]: the chain's rules.
//! - [`steps`]: the chain's grammar: presets and batch steps (`mb/2`).
//! - [`first_step`]: where the chain starts, by the estimator's fit rule.
//! - [`command`]: the attempt's command with `{micro_batch}`, `{grad_accum}` and `{resume}` filled in.
//! - [`resume`]: the newest checkpoint a relaunch resumes from.
//! - [`distributed`]: torchrun and accelerate launch: no restarts of their own, their error file.
//! - [`history`]: the run records.
//! - [`predict`]: the estimator's device peak for each preset of the chain.
//! - [`advice`]: the monitor's preset recommendation for a running process, decided like the chain.
//! - [`calibration`]: this machine's CUDA context and allocator slack, from the measured runs.
//! - [`probe`]: the measured peak of an attempt's process tree, from the monitor.
//! - [`start`]: the app's start form, checked and turned into a request.
//! - [`active`]: the app's runs going on now, each on its own thread, with [`batch`]es of its events for the
//!   window and a [`live`] log for a window that reloads.
//! - [`tree`]: every descendant of an attempt, also those that left its process group, and the run's
//!   processes told apart from a reused pid.
//!
//! How a program reads its preset is the README's "Using a preset in your training script"; a CLI test runs that
//! snippet as written.

pub mod active;
pub mod advice;
pub mod batch;
pub mod calibration;
pub mod command;
pub mod distributed;
pub mod first_step;
pub mod handover;
pub mod history;
pub mod live;
pub mod log_tail;
pub mod oom;
pub mod predict;
pub mod probe;
pub mod process;
pub mod resume;
pub mod runner;
pub mod start;
pub mod steps;
pub mod tree;
