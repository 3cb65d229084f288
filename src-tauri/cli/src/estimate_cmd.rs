//! `headroom-cli estimate --plan FILE [--json]` (docs/contract.md §1–2): read a plan, resolve its model, print the
//! estimate. Invalid input exits 2 with one stderr line naming the key and nothing on stdout.

use std::path::PathBuf;

use headroom_core::estimate::{self, available_presets, Estimate};
use headroom_core::fsio;
use headroom_core::model::{self, hf_cache, Resolver};
use headroom_core::paths::AppPaths;
use headroom_core::presets::library::PresetLibrary;

use crate::output::{print_json, CliResult};

#[derive(clap::Args)]
pub struct EstimateArgs {
    /// The plan (docs/contract.md §1); `-` reads it from stdin.
    #[arg(long)]
    plan: PathBuf,
    /// Print the estimate as JSON (docs/contract.md §2) instead of a table.
    #[arg(long)]
    json: bool,
}

/// Read the plan, resolve its model through model discovery (catalog, then the local Hugging Face cache, a
/// folder, or a raw config), and estimate it against the built-in and the user's presets.
pub fn run(paths: &AppPaths, args: EstimateArgs) -> CliResult {
    let text = if args.plan.as_os_str() == "-" {
        fsio::read_bounded_to_string(std::io::stdin().lock(), "stdin", fsio::PLAN)?
    } else {
        fsio::read_to_string(&args.plan, fsio::PLAN)?
    };
    let presets = available_presets(&PresetLibrary::new(paths))?;
    let resolver = Resolver {
        hub_cache: hf_cache::hub_cache_dir(|var| std::env::var(var).ok()),
    };
    let est = estimate::estimate_plan(&text, &presets, |m| model::resolve(m, &resolver))?;
    if args.json {
        return print_json(&est);
    }
    print_table(&est);
    Ok(())
}

fn gib(bytes: u64) -> String {
    format!("{:>9.2} GiB", bytes as f64 / (1u64 << 30) as f64)
}

fn print_table(est: &Estimate) {
    let g = &est.per_gpu;
    let c = &g.components;
    println!("Peak memory per GPU (GiB = 2^30 bytes)");
    for (name, bytes) in [
        ("weights", c.weights),
        ("lora", c.lora),
        ("gradients", c.gradients),
        ("optimizer", c.optimizer),
        ("activations", c.activations),
        ("logits", c.logits),
        ("kv cache", c.kv_cache),
        ("workspace", c.workspace),
    ] {
        println!("  {name:<22}{}", gib(bytes));
    }
    println!("  {:<22}{}", "allocated", gib(g.allocated_peak_bytes));
    println!(
        "  {:<22}{}",
        "+ allocator overhead",
        gib(g.allocator_overhead_bytes)
    );
    println!("  {:<22}{}", "reserved", gib(g.reserved_peak_bytes));
    println!(
        "  {:<22}{}",
        "+ managed (paged)",
        gib(g.managed_memory_bytes)
    );
    println!("  {:<22}{}", "+ CUDA context", gib(g.cuda_context_bytes));
    println!(
        "  {:<22}{}",
        "device (nvidia-smi)",
        gib(g.device_peak_bytes)
    );
    println!("CPU RAM                 {}", gib(est.cpu_bytes));
    println!(
        "Parameters              {} total, {} trainable",
        est.parameters.total, est.parameters.trainable
    );
    if let (Some(fits), Some(headroom)) = (est.fits, est.headroom_bytes) {
        let abs = gib(headroom.unsigned_abs());
        if fits {
            println!("Fits, with {} to spare beyond the margin", abs.trim());
        } else {
            println!("Does NOT fit: {} short", abs.trim());
        }
    }
    println!("Assumptions:");
    for note in &est.notes {
        println!("  - {note}");
    }
}
