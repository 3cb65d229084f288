//! The command one attempt runs: the user's command with its placeholders filled in.
//!
//! - `{micro_batch}` and `{grad_accum}`: the attempt's micro-batch and gradient accumulation (a batch step of
//!   the chain changes them); a command that uses them needs a run with a batch.
//! - `{resume}`: the checkpoint the attempt resumes from ([`super::resume`]). With nothing to resume (the
//!   first attempt, no checkpoint yet) the argument holding it is left out, and so is the flag just before a
//!   bare `{resume}` (`--resume_from_checkpoint {resume}`), so the program starts fresh as without the flag.

use super::resume::ResumePoint;
use super::steps::BatchSetting;
use crate::message::{Key, Message};
use crate::{Error, Result};

pub const MICRO_BATCH: &str = "{micro_batch}";
pub const GRAD_ACCUM: &str = "{grad_accum}";
pub const RESUME: &str = "{resume}";

/// Refuse a command whose batch placeholders the run cannot fill.
pub fn check(argv: &[String], batch: Option<BatchSetting>) -> Result<()> {
    if batch.is_none() {
        if let Some(p) = [MICRO_BATCH, GRAD_ACCUM]
            .into_iter()
            .find(|p| argv.iter().any(|a| a.contains(p)))
        {
            return Err(Error::invalid_msg(
                "argv",
                Message::new(Key::InvalidRunNeedsRunSMicro).text("p", p.to_string()),
            ));
        }
    }
    Ok(())
}

/// `argv` for one attempt.
pub fn fill(
    argv: &[String],
    batch: Option<BatchSetting>,
    resume: Option<&ResumePoint>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(argv.len());
    for arg in argv {
        if arg.contains(RESUME) && resume.is_none() {
            if arg == RESUME
                && out.len() > 1
                && out
                    .last()
                    .is_some_and(|a| a.starts_with('-') && !a.contains('='))
            {
                out.pop();
            }
            continue;
        }
        let mut arg = arg.clone();
        if let Some(point) = resume {
            arg = arg.replace(RESUME, &point.path.to_string_lossy());
        }
        if let Some(b) = batch {
            arg = arg
                .replace(MICRO_BATCH, &b.micro_batch.to_string())
                .replace(GRAD_ACCUM, &b.grad_accum.to_string());
        }
        out.push(arg);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch::resume::CheckpointKind;

    fn argv(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn placeholders_are_filled_and_an_empty_resume_drops_its_flag() {
        let cmd = argv(&[
            "python",
            "t.py",
            "--bs",
            "{micro_batch}",
            "--ga={grad_accum}",
            "--resume_from_checkpoint",
            "{resume}",
        ]);
        let batch = Some(BatchSetting::new(4, 2).unwrap());
        assert_eq!(
            fill(&cmd, batch, None),
            argv(&["python", "t.py", "--bs", "4", "--ga=2"])
        );
        let point = ResumePoint {
            path: "/o/checkpoint-20".into(),
            step: Some(20),
            kind: CheckpointKind::Transformers,
        };
        assert_eq!(
            fill(&cmd, batch, Some(&point)),
            argv(&[
                "python",
                "t.py",
                "--bs",
                "4",
                "--ga=2",
                "--resume_from_checkpoint",
                "/o/checkpoint-20"
            ])
        );
        assert_eq!(
            fill(&argv(&["x", "--resume={resume}"]), None, None),
            argv(&["x"])
        );
    }

    #[test]
    fn batch_placeholders_need_a_batch() {
        let err = check(&argv(&["x", "--bs={micro_batch}"]), None).unwrap_err();
        assert!(err.to_string().contains("argv"), "{err}");
        assert!(check(&argv(&["x", "{resume}"]), None).is_ok());
    }
}
