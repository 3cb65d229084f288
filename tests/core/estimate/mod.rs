//! The memory estimator, its plan parser, recommendation and solver.
mod accuracy;
mod answer;
mod band;
mod fit;
mod frameworks;
mod holdout;
mod measured;
mod mechanisms;
mod models;
mod notes;
mod plan;
mod recommend;
mod stranding;
mod trace_grid;
