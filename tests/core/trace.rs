//! The trace engine's Rust side with real child processes: the protocol against small stand-in packages
//! (a `headroom_trace/__main__.py` written to a temp dir, run by the system's python3; the real package is
//! tested by the CLI tests), the request built from a plan, and the result mapped onto the contract.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use headroom_core::env::EnvMap;
use headroom_core::estimate::plan::plan_from_value;
use headroom_core::estimate::{builtin_presets, estimate, LengthBytes, CUDA_CONTEXT_BYTES};
use headroom_core::model::{self, Resolver};
use headroom_core::presets::builtin;
use headroom_core::trace::protocol::{parse_line, Event, Line, TraceResult};
use headroom_core::trace::request::Steps;
use headroom_core::trace::{
    child, child_env, map, python, request, CancelToken, Phase, Stage, TraceFailure,
};
use headroom_core::Error;
use serde_json::{json, Value};

/// Any python3 runs the stand-ins (they import nothing beyond the standard library).
fn python3() -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join("python3");
        if p.is_file() {
            return p;
        }
    }
    PathBuf::from("/usr/bin/python3")
}

fn env() -> EnvMap {
    std::env::vars().collect()
}

/// A stand-in package whose `__main__.py` is `body`.
fn fake_package(body: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("headroom_trace");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("__init__.py"), "").unwrap();
    std::fs::write(pkg.join("__main__.py"), body).unwrap();
    dir
}

fn result_json() -> Value {
    json!({
        "event": "result", "engine": "trace", "protocol": 1,
        "allocated_peak_bytes": 1000, "reserved_peak_bytes": 2048,
        "components": {"weights": 600, "lora": 10, "gradients": 10, "optimizer": 80, "activations": 200,
                       "logits": 50, "kv_cache": 0, "workspace": 50},
        "managed_bytes": 7,
        "peak": {"phase": "backward", "module": "model.layers.1.mlp.down_proj", "step": 0},
        "timeline": [{"i": 0, "phase": "forward", "module": null, "allocated": 600, "reserved": 1024},
                     {"i": 5, "phase": "backward", "module": "model.layers.1.mlp.down_proj",
                      "allocated": 1000, "reserved": 2048}],
        "parameters": {"total": 123, "trainable": 4},
        "layers": {"traced": 2, "total": 2, "extrapolated": false},
        "versions": {"python": "3.11.7", "torch": "2.15.0"},
        "elapsed_s": 1.5,
        "notes": ["stand-in"]
    })
}

struct Ran {
    result: Result<TraceResult, Error>,
    progress: Vec<(Stage, f64)>,
    took: Duration,
}

fn run_fake(body: &str, limit: Duration, cancel: &CancelToken) -> Ran {
    let pkg = fake_package(body);
    let mut progress = Vec::new();
    let started = Instant::now();
    let result = child::run_package(
        &python3(),
        pkg.path(),
        &child_env(&env(), pkg.path()),
        br#"{"protocol": 1}"#,
        limit,
        cancel,
        &mut |p| progress.push((p.stage, p.fraction)),
    );
    Ran {
        result,
        progress: progress.clone(),
        took: started.elapsed(),
    }
}

fn failure(r: &Result<TraceResult, Error>) -> (TraceFailure, String) {
    match r {
        Err(Error::Trace { code, message }) => (*code, message.clone()),
        other => panic!("expected a trace failure, got {other:?}"),
    }
}

#[test]
fn a_result_arrives_after_progress_in_order_and_reads_the_request() {
    let body = format!(
        r#"
import json, sys
req = json.load(sys.stdin)
assert req["protocol"] == 1, req
print("a library printed this to stdout")
print(json.dumps({{"event": "progress", "stage": "build", "fraction": 0.1, "message": "building"}}))
print(json.dumps({{"event": "progress", "stage": "forward", "fraction": 0.5}}))
print(r'''{result}''')
"#,
        result = result_json()
    );
    let ran = run_fake(&body, Duration::from_secs(30), &CancelToken::new());
    let result = ran.result.expect("result");
    assert_eq!(
        ran.progress,
        vec![(Stage::Build, 0.1), (Stage::Forward, 0.5)]
    );
    assert_eq!(result.allocated_peak_bytes, 1000);
    assert_eq!(result.peak.phase, Phase::Backward);
    assert_eq!(result.timeline.len(), 2);
}

#[test]
fn an_error_event_maps_to_the_plan_key_or_to_a_failure() {
    let event = |code: &str, field: &str| {
        format!(
            "import json, sys\nprint(json.dumps({{'event': 'error', 'code': '{code}', 'field': {field}, 'message': 'no such thing'}}))\nsys.exit(2)\n"
        )
    };
    let ran = run_fake(
        &event("unknown_model_type", "None"),
        Duration::from_secs(30),
        &CancelToken::new(),
    );
    match ran.result {
        Err(Error::Invalid { field, message, .. }) => {
            assert_eq!(field, "model.config.model_type");
            assert_eq!(message, "no such thing");
        }
        other => panic!("{other:?}"),
    }
    let ran = run_fake(
        "import json, sys\nprint(json.dumps({'event': 'error', 'code': 'bad_request', 'field': 'plan.lora.rank', 'message': 'plan.lora.rank: must be at least 1, not 0'}))\nsys.exit(2)\n",
        Duration::from_secs(30),
        &CancelToken::new(),
    );
    // The package's message starts with its own field name; the error names the plan's key once.
    assert_eq!(
        ran.result.unwrap_err().to_string(),
        "lora.rank: must be at least 1, not 0"
    );
    let ran = run_fake(
        &event("torch_too_old", "None"),
        Duration::from_secs(30),
        &CancelToken::new(),
    );
    assert_eq!(failure(&ran.result).0, TraceFailure::TorchTooOld);
}

#[test]
fn a_malformed_event_is_a_protocol_error_but_stray_output_is_not() {
    assert_eq!(parse_line("Loading checkpoint shards: 100%"), Line::Log);
    assert_eq!(parse_line("{not json"), Line::Log);
    assert_eq!(parse_line(r#"{"no_event": 1}"#), Line::Log);
    assert!(matches!(
        parse_line(r#"{"event": "progress", "stage": "dancing", "fraction": 0.5}"#),
        Line::Broken(_)
    ));
    assert!(matches!(
        parse_line(r#"{"event": "result", "allocated_peak_bytes": -1}"#),
        Line::Broken(_)
    ));
    assert!(matches!(
        parse_line(r#"{"event": "progress", "stage": "simulate", "fraction": 1.0}"#),
        Line::Event(Event::Progress(_))
    ));
    let ran = run_fake(
        "print('{\"event\": \"result\", \"allocated_peak_bytes\": \"lots\"}')\n",
        Duration::from_secs(30),
        &CancelToken::new(),
    );
    let (code, message) = failure(&ran.result);
    assert_eq!(code, TraceFailure::Protocol);
    assert!(message.contains("cannot read"), "{message}");
}

#[test]
fn a_child_that_dies_without_an_answer_is_a_crash_with_its_last_words() {
    let ran = run_fake(
        "import sys\nsys.stderr.write('Traceback: something broke\\n')\nsys.exit(3)\n",
        Duration::from_secs(30),
        &CancelToken::new(),
    );
    let (code, message) = failure(&ran.result);
    assert_eq!(code, TraceFailure::Crashed);
    assert!(message.contains("exited with status 3"), "{message}");
    assert!(message.contains("something broke"), "{message}");
    // Killed by a signal.
    let ran = run_fake(
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n",
        Duration::from_secs(30),
        &CancelToken::new(),
    );
    let (code, message) = failure(&ran.result);
    assert_eq!(code, TraceFailure::Crashed);
    assert!(message.contains("signal 9"), "{message}");
}

/// A stand-in that starts a grandchild (as torch's compile workers would), writes both pids, then hangs.
const HANG: &str = r#"
import os, subprocess, sys, time
sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
with open(os.environ["PIDS_FILE"], "w") as f:
    f.write("%d %d" % (os.getpid(), sleeper.pid))
time.sleep(600)
"#;

fn alive(pid: u32) -> bool {
    // A zombie is dead for our purposes (its parent was killed and init reaps it).
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let after = &s[s.rfind(')').unwrap() + 1..];
            !after.trim_start().starts_with('Z')
        })
        .unwrap_or(false)
}

fn run_hang(limit: Duration, cancel: &CancelToken) -> (Ran, Vec<u32>) {
    let pkg = fake_package(HANG);
    let pids_file = pkg.path().join("pids");
    let mut env = child_env(&env(), pkg.path());
    env.insert("PIDS_FILE".into(), pids_file.display().to_string());
    let started = Instant::now();
    let result = child::run_package(
        &python3(),
        pkg.path(),
        &env,
        b"{}",
        limit,
        cancel,
        &mut |_| {},
    );
    let took = started.elapsed();
    let pids = std::fs::read_to_string(&pids_file)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    (
        Ran {
            result,
            progress: Vec::new(),
            took,
        },
        pids,
    )
}

#[test]
fn a_child_past_the_time_limit_is_killed_with_its_whole_group() {
    let (ran, pids) = run_hang(Duration::from_secs(2), &CancelToken::new());
    let (code, message) = failure(&ran.result);
    assert_eq!(code, TraceFailure::TimeLimit);
    assert!(message.contains("time limit of 2 s"), "{message}");
    // The limit plus a tenth, plus the kill grace at most.
    assert!(ran.took < Duration::from_secs(8), "took {:?}", ran.took);
    assert_eq!(pids.len(), 2, "the stand-in did not start");
    std::thread::sleep(Duration::from_millis(300));
    for pid in pids {
        assert!(!alive(pid), "process {pid} survived the time limit");
    }
}

#[test]
fn cancelling_kills_the_child_and_says_cancelled() {
    let cancel = CancelToken::new();
    let trigger = cancel.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        trigger.cancel();
    });
    let (ran, pids) = run_hang(Duration::from_secs(120), &cancel);
    canceller.join().unwrap();
    assert_eq!(failure(&ran.result).0, TraceFailure::Cancelled);
    assert!(ran.took < Duration::from_secs(10), "took {:?}", ran.took);
    std::thread::sleep(Duration::from_millis(300));
    for pid in pids {
        assert!(!alive(pid), "process {pid} survived the cancel");
    }
}

#[test]
fn the_probe_tells_a_missing_python_from_one_without_torch() {
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancelToken::new();
    match python::probe(Path::new("/no/such/python"), &env(), dir.path(), &cancel) {
        Err(Error::Trace { code, message }) => {
            assert_eq!(code, TraceFailure::NoPython);
            assert!(message.contains("/no/such/python"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // Not a Python at all: a shell script that prints nothing.
    let fake = dir.path().join("python3");
    std::fs::write(&fake, "#!/bin/sh\nexit 0\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    assert!(matches!(
        python::probe(&fake, &env(), dir.path(), &cancel),
        Err(Error::Trace {
            code: TraceFailure::NoPython,
            ..
        })
    ));
    // A real Python 3 answers with its version, whatever it has installed.
    let info = python::probe(&python3(), &env(), dir.path(), &cancel).unwrap();
    assert!(info.python.starts_with('3'), "{info:?}");
    // A PATH with no python at all.
    let mut bare = env();
    bare.insert(
        "PATH".into(),
        dir.path().join("empty").display().to_string(),
    );
    match python::select(None, &bare, dir.path(), &cancel) {
        Err(Error::Trace { code, message }) => {
            assert_eq!(code, TraceFailure::NoPython);
            assert!(message.contains("--python"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

// ---- the request ----

fn plan(v: Value) -> headroom_core::estimate::Plan {
    plan_from_value(&v, &builtin_presets()).unwrap()
}

fn tiny_llama() -> Value {
    json!({"path": concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/models/tiny-llama")})
}

#[test]
fn sharded_and_multi_gpu_plans_are_refused_naming_the_key() {
    for (extra, key) in [
        (
            json!({"sharding": "zero3", "gpus": {"count": 2, "memory_gib": 24}}),
            "sharding",
        ),
        (
            json!({"gpus": {"count": 2, "memory_gib": 24}}),
            "gpus.count",
        ),
        (
            json!({"nodes": 2, "gpus": {"count": 1, "memory_gib": 24}}),
            "nodes",
        ),
    ] {
        let mut v = json!({"model": tiny_llama(), "task": "train", "method": "lora"});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        let p = plan(v);
        match request::check_traceable(&p) {
            Err(Error::Invalid { field, message, .. }) => {
                assert_eq!(field, key);
                assert!(message.contains("single GPU"), "{message}");
            }
            other => panic!("{key}: {other:?}"),
        }
    }
    let single = plan(
        json!({"model": tiny_llama(), "task": "train", "gpus": {"count": 1, "memory_gib": 24}}),
    );
    assert!(request::check_traceable(&single).is_ok());
}

#[test]
fn presets_become_the_weights_the_package_builds() {
    let spec = model::resolve(
        &plan(json!({"model": tiny_llama(), "task": "infer"})).model,
        &Resolver::default(),
    )
    .unwrap();
    let w = |name: &str| request::weights(Some((name, &builtin::get(name).unwrap())), &spec);
    assert_eq!(w("fp16").unwrap(), json!({"dtype": "fp16"}));
    assert_eq!(w("fp32").unwrap(), json!({"dtype": "fp32"}));
    let int4 = w("int4_double").unwrap();
    assert_eq!(int4["bnb"]["load_in_4bit"], json!(true));
    assert_eq!(int4["bnb"]["bnb_4bit_use_double_quant"], json!(true));
    assert_eq!(int4["bnb"]["bnb_4bit_quant_type"], json!("nf4"));
    let int8 = w("int8").unwrap();
    assert_eq!(int8["bnb"]["load_in_8bit"], json!(true));
    assert_eq!(int8["bnb"]["llm_int8_threshold"], json!(6.0));
    assert!(matches!(w("cpu"), Err(Error::Invalid { field, .. }) if field == "quantization"));
    assert!(
        matches!(w("int4_offload"), Err(Error::Invalid { field, .. }) if field == "quantization")
    );
    // No preset: the checkpoint's stored dtype (the tiny checkpoints are bf16).
    assert_eq!(
        request::weights(None, &spec).unwrap(),
        json!({"dtype": "bf16"})
    );
}

#[test]
fn the_request_carries_the_plan_in_the_protocols_terms() {
    let p = plan(
        json!({"model": tiny_llama(), "task": "train", "method": "lora",
        "lora": {"rank": 8, "target_modules": ["q_proj", "v_proj"]}, "sequence_length": 256}),
    );
    let config = model::config_of(&p.model, &Resolver::default()).unwrap();
    assert_eq!(config["model_type"], json!("llama"));
    let r = request::build(
        &p,
        &config,
        json!({"dtype": "bf16"}),
        &Steps::default(),
        120,
    );
    assert_eq!(r["protocol"], json!(1));
    assert_eq!(r["model_config"]["model_type"], json!("llama"));
    assert_eq!(r["plan"]["method"], json!("lora"));
    assert_eq!(r["plan"]["lora"]["rank"], json!(8));
    assert_eq!(
        r["plan"]["lora"]["target_modules"],
        json!(["q_proj", "v_proj"])
    );
    assert_eq!(r["plan"]["sequence_length"], json!(256));
    assert_eq!(r["plan"]["kv_cache_dtype"], json!("bf16"));
    assert_eq!(r["plan"]["optimizer"], json!("adamw"));
    assert_eq!(r["time_limit_s"], json!(120));
    assert_eq!(r["plan"]["kbit_upcast"], Value::Null);
    assert_eq!(r["plan"]["sequence_lengths"], Value::Null);
    // No checkpointing: nothing to say about reentrance; no release named: a current bitsandbytes.
    assert_eq!(r["plan"]["use_reentrant"], Value::Null);
    assert_eq!(r["plan"]["bnb_keeps_inputs"], json!(false));
    // docs/estimator.md §6.4: the release and the framework's checkpointing reach the trace.
    let old = plan(
        json!({"model": tiny_llama(), "task": "train", "method": "qlora", "gradient_checkpointing": true,
               "bitsandbytes_version": "0.41.3", "framework": "axolotl"}),
    );
    let r = request::build(&old, &config, json!({}), &Steps::default(), 120);
    assert_eq!(r["plan"]["bnb_keeps_inputs"], json!(true));
    assert_eq!(r["plan"]["use_reentrant"], json!(true));
    assert_eq!(r["allocator"]["expandable_segments"], json!(false));
    let steps = Steps {
        sequence_lengths: vec![128, 512, 256],
        expandable_segments: true,
    };
    steps.check(&p).unwrap();
    let r = request::build(&p, &config, json!({"dtype": "bf16"}), &steps, 120);
    assert_eq!(r["plan"]["sequence_lengths"], json!([128, 512, 256]));
    assert_eq!(r["allocator"]["expandable_segments"], json!(true));
    // The plan's own `sequence_lengths` (what the analytic engine simulates) drive the trace's steps unless the
    // trace is given other lengths.
    let varying = plan(
        json!({"model": tiny_llama(), "task": "train", "method": "lora", "sequence_lengths": [64, 256, 128]}),
    );
    assert_eq!(varying.sequence_length.get(), 256);
    let r = request::build(
        &varying,
        &config,
        json!({"dtype": "bf16"}),
        &Steps::default(),
        120,
    );
    assert_eq!(r["plan"]["sequence_lengths"], json!([64, 256, 128]));
    let r = request::build(&varying, &config, json!({"dtype": "bf16"}), &steps, 120);
    assert_eq!(r["plan"]["sequence_lengths"], json!([128, 512, 256]));
    for bad in [vec![0], vec![1 << 25]] {
        let e = Steps {
            sequence_lengths: bad,
            ..Steps::default()
        }
        .check(&p)
        .unwrap_err();
        assert!(
            matches!(e, headroom_core::Error::Invalid { ref field, .. } if field == "sequence_lengths"),
            "{e}"
        );
    }
    let p = plan(
        json!({"model": tiny_llama(), "task": "train", "method": "qlora",
        "quantization": "int4", "kbit_upcast": false}),
    );
    assert_eq!(
        request::build(&p, &config, json!({"dtype": "bf16"}), &Steps::default(), 1)["plan"]
            ["kbit_upcast"],
        json!(false)
    );
    let infer = plan(
        json!({"model": {"id": "meta-llama/Llama-3.1-8B"}, "task": "infer", "new_tokens": 16}),
    );
    let config = model::config_of(&infer.model, &Resolver::default()).unwrap();
    assert_eq!(config["hidden_size"], json!(4096));
    let r = request::build(
        &infer,
        &config,
        json!({"dtype": "fp16"}),
        &Steps::default(),
        300,
    );
    assert_eq!(r["plan"]["method"], Value::Null);
    assert_eq!(r["plan"]["kv_cache_dtype"], json!("fp16"));
    assert_eq!(r["plan"]["lora"], Value::Null);
    let e = Steps {
        sequence_lengths: vec![64],
        ..Steps::default()
    }
    .check(&infer)
    .unwrap_err();
    assert!(e.to_string().contains("training only"), "{e}");
}

// ---- the mapping ----

fn parsed_result(v: Value) -> TraceResult {
    match parse_line(&v.to_string()) {
        Line::Event(Event::Result(r)) => *r,
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_result_maps_onto_the_contract_with_the_analytic_fit_rule() {
    let gib = 1u64 << 30;
    let mut v = result_json();
    // Sized so the fit is decided by the margin: 10 GiB reserved, up to about 17.5 GiB at the band's upper end
    // (the lengths this plan leaves open widen it, docs/estimator.md §17), on a 22 GiB GPU.
    v["components"] = json!({"weights": 6 * gib, "lora": 0, "gradients": 0, "optimizer": 0,
        "activations": 3 * gib, "logits": 0, "kv_cache": 0, "workspace": gib / 2});
    v["allocated_peak_bytes"] = json!(9 * gib + gib / 2);
    v["reserved_peak_bytes"] = json!(10 * gib);
    v["managed_bytes"] = json!(0);
    let p = plan(
        json!({"model": tiny_llama(), "task": "train", "method": "lora",
        "gpus": {"count": 1, "memory_gib": 22}, "margin": 0.1}),
    );
    let out = map::to_outcome(parsed_result(v), &p, None, &["model note".into()], &[]).unwrap();
    let e = &out.estimate;
    let g = &e.per_gpu;
    assert_eq!(g.allocated_peak_bytes, g.components.sum());
    assert_eq!(g.allocator_overhead_bytes, gib / 2);
    assert_eq!(g.reserved_peak_bytes, 10 * gib);
    assert_eq!(g.cuda_context_bytes, CUDA_CONTEXT_BYTES);
    assert_eq!(
        g.device_peak_bytes,
        g.reserved_peak_bytes + g.managed_memory_bytes + CUDA_CONTEXT_BYTES
    );
    // 22 GiB × 0.9 − the band's upper end: the same rule as the analytic estimate.
    let usable = (22.0 * gib as f64 * 0.9).floor() as i64;
    let high = g.range.unwrap().device_peak_bytes.high;
    assert!(high > g.device_peak_bytes);
    assert_eq!(e.headroom_bytes, Some(usable - high as i64));
    assert_eq!(e.fits, Some(true));
    assert_eq!(e.parameters.total, 123);
    assert_eq!(
        e.peak.as_ref().unwrap().module.as_deref(),
        Some("model.layers.1.mlp.down_proj")
    );
    assert_eq!(e.trace.as_ref().unwrap().layers.traced, 2);
    assert!(e.notes.iter().any(|n| n == "stand-in"));
    assert!(e.notes.iter().any(|n| n == "model note"));
    // Every note has its message, in order: the engine's own keyed, the trace's and the model's words as they are.
    assert_eq!(e.notes.len(), e.note_messages.len());
    for m in &e.note_messages {
        m.check().unwrap();
    }
    assert_eq!(e.note_messages[0].key, "backend.note.trace");
    assert_eq!(e.note_messages[1].key, "backend.note.trace.context");
    let last = e.note_messages.last().unwrap();
    assert_eq!(last.key, "backend.note.verbatim");
    assert_eq!(
        last.args["text"],
        headroom_core::message::MessageArg::Text("model note".into())
    );
    assert_eq!(out.timeline.len(), 2);
    let json = serde_json::to_value(e).unwrap();
    assert_eq!(json["engine"], json!("trace"));
    assert_eq!(json["peak"]["phase"], json!("backward"));
    assert!(
        json.get("timeline").is_none(),
        "the timeline is not part of the CLI's estimate"
    );

    // A peak outside any module may come as "": it reads as null.
    let mut v = result_json();
    v["peak"]["module"] = json!("");
    let p0 = plan(json!({"model": tiny_llama(), "task": "infer"}));
    let out = map::to_outcome(parsed_result(v), &p0, None, &[], &[]).unwrap();
    assert_eq!(out.estimate.peak.unwrap().module, None);

    // Without gpus: no verdict, as the analytic engine.
    let p = plan(json!({"model": tiny_llama(), "task": "train", "method": "lora"}));
    let out = map::to_outcome(parsed_result(result_json()), &p, None, &[], &[]).unwrap();
    assert_eq!(
        (out.estimate.fits, out.estimate.headroom_bytes),
        (None, None)
    );
    let spec = model::resolve(&p.model, &Resolver::default()).unwrap();
    let analytic = estimate(&spec, &p, &builtin_presets()).unwrap();
    assert_eq!(
        serde_json::to_value(&analytic).unwrap()["engine"],
        json!("analytic")
    );
}

#[test]
fn the_lengths_doubt_reads_the_steps_loss_not_the_traced_peak() {
    // A checkpointed plan whose traced peak is a recomputed layer, with no logits alive: the band's lengths doubt
    // (docs/estimator.md §17) is defined on the step's figures at its loss, which the analytic engine gives
    // (`PreparedTrace::lengths`, without its expectation: a trace runs fixed lengths).
    let mib = 1u64 << 20;
    let mut v = result_json();
    v["components"] = json!({"weights": 24 * mib, "lora": 0, "gradients": 0, "optimizer": 0,
        "activations": 8 * mib, "logits": 0, "kv_cache": 0, "workspace": 0});
    v["allocated_peak_bytes"] = json!(32 * mib);
    v["reserved_peak_bytes"] = json!(40 * mib);
    let p = plan(
        json!({"model": tiny_llama(), "task": "train", "method": "lora",
        "gradient_checkpointing": true}),
    );
    let spec = model::resolve(&p.model, &Resolver::default()).unwrap();
    let lengths = LengthBytes {
        expected_stranded: 0,
        ..estimate(&spec, &p, &builtin_presets())
            .unwrap()
            .per_gpu
            .length_bytes
    };
    assert!(lengths.logits > 0, "{lengths:?}");
    let high = |lengths: Option<LengthBytes>| {
        let out = map::to_outcome(parsed_result(v.clone()), &p, lengths, &[], &[]).unwrap();
        let g = out.estimate.per_gpu;
        assert_eq!(g.length_bytes.logits, lengths.map_or(0, |l| l.logits));
        g.range.unwrap().reserved_peak_bytes.high
    };
    // The traced peak's own figures hold no logits, and checkpointed plans have no activations term: only the
    // method's spread.
    assert_eq!(high(None), 40 * mib + (32 * mib * 1399 / 1000 - 32 * mib));
    // The loss's: 3.35 times its logits, beside the spread.
    assert!(high(Some(lengths)) >= 40 * mib + lengths.logits * 3350 / 1000);
}

/// The package's notes come with their keys: each known key with exactly its arguments is the note's message,
/// and anything else (a key from a newer package, wrong arguments, a list that does not pair with the notes, no
/// list at all) leaves the English as it is, never an error. The model's notes come keyed beside them.
#[test]
fn trace_notes_reach_the_ui_keyed_and_unknown_ones_as_their_english() {
    use headroom_core::message::{Key, Message};

    // A catalog model: its notes say where its config comes from.
    let p = plan(json!({"model": {"id": "Qwen/Qwen3-0.6B"}, "task": "train", "method": "lora"}));
    let spec = model::resolve(&p.model, &Resolver::default()).unwrap();
    assert!(!spec.notes.is_empty());
    let map_with = |notes: Value, messages: Option<Value>| {
        let mut v = result_json();
        v["notes"] = notes;
        if let Some(m) = messages {
            v["note_messages"] = m;
        }
        let e = map::to_outcome(parsed_result(v), &p, None, &spec.notes, &spec.note_messages)
            .unwrap()
            .estimate;
        assert_eq!(e.notes.len(), e.note_messages.len());
        // The engine's two notes first, the trace's next, the model's last: the model's are keyed.
        let model_part = &e.note_messages[e.note_messages.len() - spec.notes.len()..];
        assert_eq!(model_part, spec.note_messages.as_slice());
        assert!(model_part
            .iter()
            .all(|m| m.key != Key::NoteVerbatim.as_str()));
        let trace_count = e.notes.len() - 2 - spec.notes.len();
        (
            e.notes[2..2 + trace_count].to_vec(),
            e.note_messages[2..2 + trace_count].to_vec(),
        )
    };
    let layers = "traced 3 of 32 decoder layers (first, one middle, last) and repeated the middle layer's allocations for the others";
    let keyed = json!({"key": "backend.note.trace.layers_repeated",
                       "args": {"traced": {"type": "count", "value": 3}, "total": {"type": "count", "value": 32}}});
    let two = "two training steps traced: optimizer states exist from the second step on";

    let (notes, messages) = map_with(
        json!([layers, two]),
        Some(json!([keyed, {"key": "backend.note.trace.two_steps", "args": {}}])),
    );
    assert_eq!(notes, vec![layers.to_string(), two.to_string()]);
    assert_eq!(
        messages,
        vec![
            Message::new(Key::NoteTraceLayersRepeated)
                .count("traced", 3)
                .count("total", 32),
            Message::new(Key::NoteTraceTwoSteps),
        ]
    );

    let verbatim = |text: &str| Message::new(Key::NoteVerbatim).text("text", text);
    // A key this app does not know, a known key with an argument missing or mistyped, a key outside the trace's.
    for odd in [
        json!({"key": "backend.note.trace.from_the_future", "args": {}}),
        json!({"key": "backend.note.trace.layers_repeated", "args": {"traced": {"type": "count", "value": 3}}}),
        json!({"key": "backend.note.trace.layers_repeated",
               "args": {"traced": {"type": "count", "value": -3}, "total": {"type": "count", "value": 32}}}),
        json!({"key": "backend.alert.level.lost", "args": {"gpu": {"type": "count", "value": 0}}}),
        json!("not a message"),
    ] {
        let (_, messages) = map_with(
            json!([layers, two]),
            Some(json!([odd, {"key": "backend.note.trace.two_steps", "args": {}}])),
        );
        assert_eq!(
            messages,
            vec![verbatim(layers), Message::new(Key::NoteTraceTwoSteps)]
        );
    }
    // Lists that do not pair, or are no list: all as English.
    for odd in [json!([keyed]), json!({"0": keyed}), json!(null)] {
        let (_, messages) = map_with(json!([layers, two]), Some(odd));
        assert_eq!(messages, vec![verbatim(layers), verbatim(two)]);
    }
    // An older package, without the list.
    let (_, messages) = map_with(json!([two]), None);
    assert_eq!(messages, vec![verbatim(two)]);
}

#[test]
fn an_inconsistent_result_is_refused() {
    let p = plan(json!({"model": tiny_llama(), "task": "infer"}));
    let mut v = result_json();
    v["allocated_peak_bytes"] = json!(999);
    let (code, message) =
        failure(&map::to_outcome(parsed_result(v), &p, None, &[], &[]).map(|_| unreachable!()));
    assert_eq!(code, TraceFailure::Protocol);
    assert!(message.contains("sum"), "{message}");
    let mut v = result_json();
    v["reserved_peak_bytes"] = json!(10);
    let (code, _) =
        failure(&map::to_outcome(parsed_result(v), &p, None, &[], &[]).map(|_| unreachable!()));
    assert_eq!(code, TraceFailure::Protocol);
}

#[test]
fn the_timeline_chart_writes_svg_and_png_through_the_shared_writer() {
    use headroom_core::chart::{ChartFormat, ChartLanguage};
    use headroom_core::trace::chart::render_timeline;
    let timeline = parsed_result(result_json()).timeline;
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("t.svg");
    let english = ChartLanguage::default();
    render_timeline(
        &timeline,
        "tiny-llama (bf16)",
        &svg,
        ChartFormat::Svg,
        &english,
    )
    .unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    for word in [
        "allocated",
        "reserved",
        "Traced step, tiny-llama (bf16)",
        "allocation events through the step",
        "backward in model.layers.1.mlp.down_proj",
    ] {
        assert!(text.contains(word), "{word} missing from the SVG");
    }
    let png = dir.path().join("t.png");
    render_timeline(&timeline, "tiny-llama", &png, ChartFormat::Png, &english).unwrap();
    assert_eq!(&std::fs::read(&png).unwrap()[..4], b"\x89PNG");
    assert!(matches!(
        render_timeline(
            &[],
            "x",
            &dir.path().join("e.svg"),
            ChartFormat::Svg,
            &english
        ),
        Err(Error::Invalid { .. })
    ));
    assert!(!dir.path().join("e.svg").exists());
}

#[test]
fn a_japanese_timeline_chart_writes_its_words_in_japanese_with_a_cjk_font() {
    use crate::chart_fonts::noto_cjk;
    use headroom_core::chart::{ChartFormat, ChartLanguage};
    use headroom_core::i18n::Lang;
    use headroom_core::trace::chart::render_timeline;
    let timeline = parsed_result(result_json()).timeline;
    let dir = tempfile::tempdir().unwrap();
    let font = noto_cjk();
    let japanese = ChartLanguage {
        lang: Lang::Ja,
        cjk_fonts: vec![font.clone()],
    };
    let svg = dir.path().join("t-ja.svg");
    let labels = render_timeline(
        &timeline,
        "tiny-llama (bf16)",
        &svg,
        ChartFormat::Svg,
        &japanese,
    )
    .unwrap();
    assert_eq!(labels.lang, Lang::Ja);
    assert_eq!(labels.font.as_deref(), Some(font.as_path()));
    assert_eq!(labels.fallback, None);
    let text = std::fs::read_to_string(&svg).unwrap();
    for words in [
        "トレースしたステップ（tiny-llama (bf16)）",
        "ステップ中のアロケーションイベント",
        "GiB（2^30 バイト）",
        "確保済み (allocated)",
        "予約済み (reserved)",
        "逆伝播中（model.layers.1.mlp.down_proj の中）",
    ] {
        assert!(
            text.contains(words),
            "no {words:?} in the Japanese timeline SVG"
        );
    }
    assert!(
        text.contains("Noto Sans CJK JP"),
        "the SVG does not name the CJK font"
    );
    assert!(!text.contains("Traced step") && !text.contains("allocation events"));
    let png = dir.path().join("t-ja.png");
    render_timeline(&timeline, "tiny-llama", &png, ChartFormat::Png, &japanese).unwrap();
    assert_eq!(&std::fs::read(&png).unwrap()[..4], b"\x89PNG");
}

#[test]
fn without_a_font_that_draws_japanese_the_timeline_is_english_and_says_why() {
    use crate::chart_fonts::{has_japanese, no_japanese_fonts};
    use headroom_core::chart::{ChartFormat, ChartLanguage};
    use headroom_core::i18n::Lang;
    use headroom_core::trace::chart::render_timeline;
    let timeline = parsed_result(result_json()).timeline;
    let dir = tempfile::tempdir().unwrap();
    let japanese = ChartLanguage {
        lang: Lang::Ja,
        cjk_fonts: no_japanese_fonts(dir.path()),
    };
    for (name, format) in [("f.svg", ChartFormat::Svg), ("f.png", ChartFormat::Png)] {
        let out = dir.path().join(name);
        let labels = render_timeline(&timeline, "tiny-llama", &out, format, &japanese).unwrap();
        assert_eq!((labels.lang, labels.font.clone()), (Lang::En, None));
        let why = labels.fallback.clone().expect("the fallback says why");
        assert_eq!(why.key, "backend.chart.no_cjk_font");
        assert!(labels.note().unwrap().contains("fonts-noto-cjk"));
        if format == ChartFormat::Svg {
            let text = std::fs::read_to_string(&out).unwrap();
            assert!(text.contains("Traced step, tiny-llama") && text.contains("allocated"));
            assert!(!has_japanese(&text), "the fallback chart holds Japanese");
        }
    }
}
