//! Running a Python child for the trace engine: the launcher's process runner (own process group, killed as a
//! group) with a time limit on top, and the protocol's JSON lines read as they arrive.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::protocol::{parse_line, ErrorCode, ErrorEvent, Event, Line, TraceProgress, TraceResult};
use super::TraceFailure;
use crate::env::EnvMap;
use crate::launch::process::{self, CancelToken, ExitInfo, ProcessEvent, ProcessSpec, Stream};
use crate::{Error, Result};

/// The protocol's result line carries a timeline of up to ~2000 points: far beyond a log line.
const LINE_LIMIT: usize = 64 << 20;
/// Lines of stderr kept to explain a crash.
const STDERR_TAIL: usize = 20;
/// A cancelled or timed-out child gets this long between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);
const WATCH: Duration = Duration::from_millis(20);

/// One Python child to run.
pub struct Child<'a> {
    pub python: &'a Path,
    pub args: &'a [String],
    /// The child's whole environment.
    pub env: &'a EnvMap,
    pub input: Option<&'a [u8]>,
    pub time_limit: Duration,
    /// The working directory, which `python -m` and `-c` put first on `sys.path`: the package's own cache
    /// folder, so no stray `torch.py` of the user's can shadow the real one.
    pub cwd: &'a Path,
}

/// How a child ended, once its output was read.
pub struct Finished {
    pub exit: ExitInfo,
    pub cancelled: bool,
    pub timed_out: bool,
    /// The last lines of stderr, oldest first.
    pub stderr_tail: Vec<String>,
}

impl Finished {
    /// "exited with status 1" / "was killed by signal 9", then the stderr tail, for an error message.
    pub fn describe(&self) -> String {
        let how = match (self.exit.code, self.exit.signal) {
            (Some(code), _) => format!("exited with status {code}"),
            (None, Some(signal)) => format!("was killed by signal {signal}"),
            (None, None) => "ended".to_string(),
        };
        let tail = self.stderr_tail.join(" | ");
        if tail.is_empty() {
            how
        } else {
            format!("{how}; its last output: {tail}")
        }
    }
}

/// Run `child` to its end, handing each stdout line to `on_stdout`. Cancelling `cancel` or passing the time
/// limit kills the child's whole process group.
pub fn run(
    child: &Child<'_>,
    cancel: &CancelToken,
    on_stdout: &mut dyn FnMut(&str),
) -> Result<Finished> {
    let mut argv = vec![child.python.display().to_string()];
    argv.extend(child.args.iter().cloned());
    // The runner stops the group when its token is cancelled; a watchdog cancels it for the user's token or
    // the deadline, and remembers which.
    let inner = CancelToken::new();
    let timed_out = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (inner, outer) = (inner.clone(), cancel.clone());
        let (timed_out, done) = (timed_out.clone(), done.clone());
        let deadline = Instant::now() + child.time_limit;
        thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                if outer.is_cancelled() {
                    inner.cancel();
                    break;
                }
                if Instant::now() >= deadline {
                    timed_out.store(true, Ordering::SeqCst);
                    inner.cancel();
                    break;
                }
                thread::sleep(WATCH);
            }
        })
    };
    let mut tail: VecDeque<String> = VecDeque::new();
    let ended = process::run(
        &ProcessSpec {
            argv: &argv,
            cwd: child.cwd,
            env: child.env,
            kill_grace: KILL_GRACE,
            input: child.input,
            line_limit: LINE_LIMIT,
            tag: None,
        },
        &inner,
        &mut |event| match event {
            ProcessEvent::Started(_) => {}
            ProcessEvent::Line(Stream::Stdout, line) => on_stdout(line),
            ProcessEvent::Line(Stream::Stderr, line) => {
                if tail.len() == STDERR_TAIL {
                    tail.pop_front();
                }
                tail.push_back(line.chars().take(500).collect());
            }
        },
    );
    done.store(true, Ordering::SeqCst);
    let _ = watchdog.join();
    let ended = ended.map_err(|e| match e {
        Error::Invalid { message, .. } => Error::trace(
            TraceFailure::NoPython,
            format!("python: {} ({message})", child.python.display()),
        ),
        other => other,
    })?;
    Ok(Finished {
        exit: ended.exit,
        cancelled: ended.cancelled && cancel.is_cancelled(),
        timed_out: timed_out.load(Ordering::SeqCst),
        stderr_tail: tail.into_iter().collect(),
    })
}

/// Run the trace package (`python -m headroom_trace` with `env` already pointing PYTHONPATH at it): send the
/// request, report progress, and return the result, or the error the package or the run ended with. The
/// package enforces `time_limit` itself and says so; the group is killed a little later if it does not.
pub fn run_package(
    python: &Path,
    package_root: &Path,
    env: &EnvMap,
    request: &[u8],
    time_limit: Duration,
    cancel: &CancelToken,
    on_progress: &mut dyn FnMut(TraceProgress),
) -> Result<TraceResult> {
    let args = ["-m".to_string(), "headroom_trace".to_string()];
    let mut answer: Option<std::result::Result<Box<TraceResult>, ErrorEvent>> = None;
    let mut broken: Option<String> = None;
    let finished = run(
        &Child {
            python,
            args: &args,
            env,
            input: Some(request),
            time_limit: time_limit + (time_limit / 10).min(Duration::from_secs(10)),
            cwd: package_root,
        },
        cancel,
        &mut |line| {
            if answer.is_some() || broken.is_some() {
                return;
            }
            match parse_line(line) {
                Line::Event(Event::Progress(p)) => on_progress(p),
                Line::Event(Event::Result(r)) => answer = Some(Ok(r)),
                Line::Event(Event::Error(e)) => answer = Some(Err(e)),
                Line::Log => {}
                Line::Broken(why) => broken = Some(why),
            }
        },
    )?;
    if finished.cancelled {
        return Err(Error::trace(
            TraceFailure::Cancelled,
            "the trace was cancelled",
        ));
    }
    if finished.timed_out {
        return Err(time_limit_error(time_limit));
    }
    if let Some(why) = broken {
        return Err(Error::trace(
            TraceFailure::Protocol,
            format!(
                "the trace package sent a line this version of Headroom cannot read ({why}); the package {}",
                finished.describe()
            ),
        ));
    }
    match answer {
        Some(Ok(result)) if finished.exit.success() => {
            if result.protocol != super::protocol::PROTOCOL {
                return Err(Error::trace(
                    TraceFailure::Protocol,
                    format!(
                        "the trace package answered in protocol {}, this build speaks {}",
                        result.protocol,
                        super::protocol::PROTOCOL
                    ),
                ));
            }
            Ok(*result)
        }
        Some(Ok(_)) => Err(Error::trace(
            TraceFailure::Crashed,
            format!(
                "the trace's Python process sent a result but then {}",
                finished.describe()
            ),
        )),
        Some(Err(e)) => Err(from_event(e, time_limit)),
        None => Err(Error::trace(
            TraceFailure::Crashed,
            format!(
                "the trace's Python process {} without an answer",
                finished.describe()
            ),
        )),
    }
}

fn time_limit_error(limit: Duration) -> Error {
    Error::trace(
        TraceFailure::TimeLimit,
        format!(
            "the trace ran past its time limit of {} s and was stopped (raise it with --trace-time-limit)",
            limit.as_secs()
        ),
    )
}

/// The package's error event as the core's error: the user's input (exit 2, naming the plan key) or a failure.
fn from_event(mut e: ErrorEvent, limit: Duration) -> Error {
    // The package's messages start with the request's field name; the core's error puts the plan key first.
    if let Some(raw) = &e.field {
        if let Some(rest) = e.message.strip_prefix(&format!("{raw}: ")) {
            e.message = rest.to_string();
        }
    }
    let field = e.field.as_deref().map(plan_key);
    match e.code {
        ErrorCode::BadRequest | ErrorCode::Unsupported => {
            Error::invalid(field.unwrap_or_else(|| "plan".into()), e.message)
        }
        ErrorCode::UnknownModelType => Error::invalid(
            field.unwrap_or_else(|| "model.config.model_type".into()),
            e.message,
        ),
        ErrorCode::NoTorch => Error::trace(TraceFailure::NoTorch, e.message),
        ErrorCode::TorchTooOld => Error::trace(TraceFailure::TorchTooOld, e.message),
        ErrorCode::TimeLimit => Error::trace(
            TraceFailure::TimeLimit,
            format!("{} ({})", time_limit_error(limit), e.message),
        ),
        ErrorCode::Internal => Error::trace(
            TraceFailure::Crashed,
            format!("the trace failed: {}", e.message),
        ),
    }
}

/// The request's field names as the user's plan spells them: `plan.lora.rank` is the plan's `lora.rank`, and
/// `model_config.x` is in the model's config.json.
fn plan_key(field: &str) -> String {
    if let Some(rest) = field.strip_prefix("plan.") {
        rest.to_string()
    } else if let Some(rest) = field.strip_prefix("model_config") {
        format!("model.config{rest}")
    } else {
        field.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::plan_key;

    #[test]
    fn request_fields_name_the_plan_keys() {
        assert_eq!(plan_key("plan.lora.rank"), "lora.rank");
        assert_eq!(
            plan_key("model_config.model_type"),
            "model.config.model_type"
        );
        assert_eq!(plan_key("layers"), "layers");
    }
}
