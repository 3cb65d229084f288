//! `headroom-cli models scan|show`: the local Hugging Face cache and one model's architecture.

use std::path::Path;

use clap::Subcommand;
use headroom_core::model::{self, hf_cache, ModelRef, ModelSource, ModelSpec, Resolver};
use serde::Serialize;

use crate::output::{print_json, CliResult};

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// List the models in the local Hugging Face cache (HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub).
    Scan {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show a model's parameters and architecture: a catalog id, a model folder, or a model in the HF cache.
    Show {
        /// `org/name` (catalog or HF cache, any case) or a folder with config.json.
        target: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Serialize)]
struct ScanOutput<'a> {
    /// The cache folder scanned; null when no home or cache variable was found.
    cache_dir: Option<&'a Path>,
    models: Vec<hf_cache::CachedModel>,
}

pub fn run(command: ModelsCommand) -> CliResult {
    let cache = hf_cache::hub_cache_dir(|var| std::env::var(var).ok());
    match command {
        ModelsCommand::Scan { json } => {
            let models = match &cache {
                Some(dir) => hf_cache::scan(dir)?,
                None => Vec::new(),
            };
            if json {
                return print_json(&ScanOutput {
                    cache_dir: cache.as_deref(),
                    models,
                });
            }
            print_scan(cache.as_deref(), &models);
            Ok(())
        }
        ModelsCommand::Show { target, json } => {
            let path = Path::new(&target);
            let spec = if path.is_dir() {
                model::from_folder(path)?
            } else {
                model::resolve(&ModelRef::Id(target), &Resolver { hub_cache: cache })?
            };
            if json {
                return print_json(&spec);
            }
            print_spec(&spec);
            Ok(())
        }
    }
}

/// GiB = 2^30 bytes, as everywhere in Headroom.
fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / f64::from(1u32 << 30))
}

/// 8030261248 → 8,030,261,248: parameter counts are exact, so print them exactly.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn print_scan(cache: Option<&Path>, models: &[hf_cache::CachedModel]) {
    let Some(cache) = cache else {
        println!("no Hugging Face cache: set HF_HUB_CACHE or HF_HOME");
        return;
    };
    println!("Hugging Face cache: {}", cache.display());
    if models.is_empty() {
        println!("no models downloaded");
        return;
    }
    let width = models.iter().map(|m| m.id.len()).max().unwrap_or(0).max(5);
    println!(
        "{:<width$}  {:>12}  {:<12}  config",
        "model", "on disk", "revision"
    );
    for m in models {
        let rev = m.revision.as_deref().unwrap_or("-");
        println!(
            "{:<width$}  {:>12}  {:<12}  {}",
            m.id,
            gib(m.size_on_disk_bytes),
            rev.get(..12).unwrap_or(rev),
            if m.has_config { "yes" } else { "no" }
        );
        for problem in &m.problems {
            println!("{:width$}  ! {problem}", "");
        }
    }
}

fn print_spec(spec: &ModelSpec) {
    println!("model        {}", spec.id);
    println!("type         {}", spec.model_type);
    let source = match &spec.source {
        ModelSource::Catalog => "built-in catalog".to_owned(),
        ModelSource::Folder { path } => format!("folder {}", path.display()),
        ModelSource::HfCache { path, revision } => {
            format!(
                "Hugging Face cache {} (revision {revision})",
                path.display()
            )
        }
        ModelSource::RawConfig => "config.json object".to_owned(),
    };
    println!("source       {source}");
    println!("stored as    {:?}", spec.stored_dtype);
    let p = &spec.parameters;
    println!("parameters   {}", grouped(p.total));
    println!("  embedding  {}", grouped(p.embedding));
    println!("  lm_head    {}", grouped(p.lm_head));
    println!("  linear     {}", grouped(p.linear));
    println!("  other      {}", grouped(p.other));
    if let Some(a) = &spec.architecture {
        println!(
            "layers {}, hidden {}, vocab {}, heads {} (kv {}), head_dim {}, intermediate {}{}",
            a.num_layers,
            a.hidden_size,
            a.vocab_size,
            a.attention.num_heads,
            a.attention.num_kv_heads,
            a.attention.head_dim,
            a.intermediate_size,
            if a.tie_word_embeddings {
                ", tied embeddings"
            } else {
                ""
            }
        );
        if let Some(sw) = a.attention.sliding_window {
            println!(
                "sliding window {} tokens on {} layers",
                sw.window, sw.layers
            );
        }
        if let Some(mla) = a.attention.mla {
            println!(
                "MLA: kv_lora_rank {}, q_lora_rank {}, rope {}",
                mla.kv_lora_rank,
                mla.q_lora_rank
                    .map_or_else(|| "none".to_owned(), |r| r.to_string()),
                mla.qk_rope_head_dim
            );
        }
        if let Some(moe) = a.moe {
            println!(
                "MoE: {} experts ({} per token) of {}, {} shared, on {} layers",
                moe.num_experts,
                moe.experts_per_token,
                moe.expert_intermediate_size,
                moe.shared_experts,
                moe.moe_layers
            );
        }
        println!("linear layers:");
        for g in &a.linear_layers {
            println!(
                "  {:<20} {:>7} → {:<7} × {:<6} {:?}{}",
                g.name,
                g.in_features,
                g.out_features,
                g.count,
                g.role,
                if g.bias { " +bias" } else { "" }
            );
        }
    }
    for note in &spec.notes {
        println!("note: {note}");
    }
}
