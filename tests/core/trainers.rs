use headroom_core::trainers;
use std::path::PathBuf;

fn fixture(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/trainers")
        .join(p)
}

#[test]
fn dump_all() {
    for f in std::env::var("DUMP")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
    {
        let paths: Vec<PathBuf> = f.split('+').map(fixture).collect();
        match trainers::import_files(&paths) {
            Ok(r) => {
                println!("=== {f}\nplan {}", r.plan);
                for m in &r.mapped {
                    println!(
                        "  M {} {} = {} -> {} {}",
                        m.file.rsplit('/').next().unwrap(),
                        m.key,
                        m.value,
                        m.plan_key,
                        m.plan_value
                    );
                }
                for m in &r.auto_resolved {
                    println!("  A {} -> {} {} ({})", m.key, m.plan_key, m.became, m.why);
                }
                for m in &r.ignored {
                    println!(
                        "  I {} ({})",
                        m.key,
                        m.why.chars().take(30).collect::<String>()
                    );
                }
                for m in &r.not_understood {
                    println!("  N {} = {} ({})", m.key, m.value, m.why);
                }
            }
            Err(e) => println!("=== {f}\nERROR {e}"),
        }
    }
}
