//! Resuming a relaunch from the newest checkpoint the training wrote, so an OOM an hour in does not cost the
//! hour: the relaunch gets the checkpoint's path as `{resume}` in its command and as `HEADROOM_RESUME_FROM`.
//!
//! Where checkpoints are looked for: the command's `--output_dir`/`--output-dir` (transformers, TRL) or
//! `--out_dir`/`--out-dir` (LitGPT), relative to the run's folder, unless the request names the folder. What
//! counts as a checkpoint:
//! - transformers' `Trainer`: a folder `checkpoint-N`; the step is `global_step` of its `trainer_state.json`
//!   (N when that cannot be read). The path is the folder (`resume_from_checkpoint`).
//! - Lightning: a file `*.ckpt` (`epoch=E-step=N.ckpt`, `last.ckpt`) anywhere below, as `ModelCheckpoint`
//!   writes them under `lightning_logs/version_V/checkpoints/`; the step is N when the name has it. The path is
//!   the file (`Trainer.fit(ckpt_path=...)`).
//! - LitGPT: a folder `step-N` holding `lit_model.pth`; the path is that file (`--resume`).
//!
//! Only checkpoints written since the run started count: an older one in the same folder belongs to some
//! other training, and resuming from it would train something else. The newest is the one written last (the
//! higher step when two carry the same time).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// The checkpoint a relaunch resumes from, for the program that wants it from the environment.
pub const RESUME_VAR: &str = "HEADROOM_RESUME_FROM";

/// How deep below the output folder checkpoints are looked for (Lightning's sit three levels down).
const MAX_DEPTH: usize = 4;
/// File times on some file systems are whole seconds: a checkpoint written in the run's first second must not
/// look older than the run.
const CLOCK_SLACK: Duration = Duration::from_secs(2);

/// Which trainer wrote a checkpoint (how its path is meant to be used).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointKind {
    Transformers,
    Lightning,
    Litgpt,
}

/// The checkpoint an attempt resumed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct ResumePoint {
    #[ts(type = "string")]
    pub path: PathBuf,
    /// The optimizer step it was written at, when its name or its state file says.
    pub step: Option<u64>,
    pub kind: CheckpointKind,
}

/// The output folder the command names (`--output_dir X`, `--output-dir=X`, `--out_dir X`), resolved against
/// `cwd`. The last one given wins, as with argparse.
pub fn output_dir_of(argv: &[String], cwd: &Path) -> Option<PathBuf> {
    const FLAGS: [&str; 4] = ["--output_dir", "--output-dir", "--out_dir", "--out-dir"];
    let mut found = None;
    let mut args = argv.iter().skip(1);
    while let Some(arg) = args.next() {
        if let Some((flag, value)) = arg.split_once('=') {
            if FLAGS.contains(&flag) {
                found = Some(value.to_string());
            }
        } else if FLAGS.contains(&arg.as_str()) {
            if let Some(value) = args.next() {
                found = Some(value.clone());
            }
        }
    }
    let found = found.filter(|v| !v.is_empty() && !v.contains('{'))?;
    Some(cwd.join(found))
}

struct Candidate {
    point: ResumePoint,
    modified: SystemTime,
}

/// The newest checkpoint below `dir` written at or after `since`; `None` when there is none (or no folder).
pub fn newest_checkpoint(dir: &Path, since: SystemTime) -> Option<ResumePoint> {
    let mut found = Vec::new();
    collect(dir, 0, &mut found);
    let since = since.checked_sub(CLOCK_SLACK).unwrap_or(since);
    found
        .into_iter()
        .filter(|c| c.modified >= since)
        .max_by_key(|c| (c.modified, c.point.step))
        .map(|c| c.point)
}

fn collect(dir: &Path, depth: usize, found: &mut Vec<Candidate>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(meta) = entry.metadata() else { continue };
        let Ok(modified) = meta.modified() else {
            continue;
        };
        if meta.is_dir() {
            if let Some(n) = numbered(&name, "checkpoint-") {
                let step = trainer_state_step(&path).or(Some(n));
                found.push(Candidate {
                    point: ResumePoint {
                        path,
                        step,
                        kind: CheckpointKind::Transformers,
                    },
                    modified,
                });
            } else if let (Some(n), Ok(weights)) = (
                numbered(&name, "step-"),
                fs::metadata(path.join("lit_model.pth")),
            ) {
                found.push(Candidate {
                    point: ResumePoint {
                        path: path.join("lit_model.pth"),
                        step: Some(n),
                        kind: CheckpointKind::Litgpt,
                    },
                    modified: weights.modified().unwrap_or(modified),
                });
            } else if depth < MAX_DEPTH {
                collect(&path, depth + 1, found);
            }
        } else if meta.is_file() && name.ends_with(".ckpt") {
            found.push(Candidate {
                point: ResumePoint {
                    path,
                    step: lightning_step(&name),
                    kind: CheckpointKind::Lightning,
                },
                modified,
            });
        }
    }
}

/// N of `PREFIXN` when the rest is digits only.
fn numbered(name: &str, prefix: &str) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `global_step` of a transformers checkpoint's `trainer_state.json`.
fn trainer_state_step(dir: &Path) -> Option<u64> {
    let text = fs::read_to_string(dir.join("trainer_state.json")).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value.get("global_step")?.as_u64()
}

/// N of `...step=N...` in a Lightning checkpoint's name.
fn lightning_step(name: &str) -> Option<u64> {
    let (_, rest) = name.split_once("step=")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_output_folder_comes_from_either_spelling() {
        let cwd = Path::new("/work");
        assert_eq!(
            output_dir_of(&argv(&["python", "train.py", "--output_dir", "out"]), cwd),
            Some(PathBuf::from("/work/out"))
        );
        assert_eq!(
            output_dir_of(&argv(&["python", "t.py", "--output-dir=/abs/o"]), cwd),
            Some(PathBuf::from("/abs/o"))
        );
        assert_eq!(output_dir_of(&argv(&["python", "t.py"]), cwd), None);
    }

    #[test]
    fn each_trainer_layout_is_found_and_the_newest_wins() {
        let dir = tempfile::tempdir().unwrap();
        let since = SystemTime::now();
        let root = dir.path();
        fs::create_dir_all(root.join("checkpoint-10")).unwrap();
        fs::create_dir_all(root.join("checkpoint-20")).unwrap();
        fs::write(
            root.join("checkpoint-20/trainer_state.json"),
            r#"{"global_step": 20}"#,
        )
        .unwrap();
        let best = newest_checkpoint(root, since).unwrap();
        assert_eq!(best.step, Some(20));
        assert_eq!(best.kind, CheckpointKind::Transformers);

        let lightning = tempfile::tempdir().unwrap();
        let ckpts = lightning
            .path()
            .join("lightning_logs/version_0/checkpoints");
        fs::create_dir_all(&ckpts).unwrap();
        fs::write(ckpts.join("epoch=0-step=50.ckpt"), b"x").unwrap();
        let best = newest_checkpoint(lightning.path(), since).unwrap();
        assert_eq!(
            (best.kind, best.step),
            (CheckpointKind::Lightning, Some(50))
        );

        let litgpt = tempfile::tempdir().unwrap();
        fs::create_dir_all(litgpt.path().join("step-000100")).unwrap();
        fs::write(litgpt.path().join("step-000100/lit_model.pth"), b"x").unwrap();
        let best = newest_checkpoint(litgpt.path(), since).unwrap();
        assert_eq!((best.kind, best.step), (CheckpointKind::Litgpt, Some(100)));
        assert!(best.path.ends_with("step-000100/lit_model.pth"));
    }

    #[test]
    fn checkpoints_older_than_the_run_are_not_resumed() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("checkpoint-5")).unwrap();
        let later = SystemTime::now() + Duration::from_secs(3600);
        assert_eq!(newest_checkpoint(dir.path(), later), None);
        assert_eq!(
            newest_checkpoint(&dir.path().join("absent"), SystemTime::now()),
            None
        );
    }
}
