//! The environment doctor: reads an environment (the current one, a file's, a running process's) and says
//! what is wrong with it for GPU training, each finding with a severity and a fix the UI can apply as is.
//!
//! The rules and their reasons come from docs/estimator.md §15 (PyTorch notes/cuda, cuda_environment_variables.rst,
//! CUDAAllocatorConfig.cpp, the CUDA programming guide's environment variables).

use serde::Serialize;

use super::allocconf::{self, ALLOC_CONF_VARS, KNOWN_KEYS, NATIVE_ONLY_KEYS};
pub use super::fix::Fix;
use super::profile::{Profile, Purpose};
use super::EnvMap;
use crate::message::{Key, Message};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// Which rule fired; stable names for the UI and scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    DebugSettingInProduction,
    DebugSettingOn,
    CompileTimeOnly,
    VisibleDevicesWithoutPciOrder,
    NoVisibleDevices,
    AllocatorContradiction,
    AllocatorInvalidValue,
    AllocatorUnknownKey,
    AllocatorAliasShadowed,
    AllocatorIgnored,
    DiffersFromProfile,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct Finding {
    pub severity: Severity,
    pub rule: Rule,
    pub variable: String,
    pub message: String,
    /// `message` as a message key with arguments, which the UI renders in the user's language.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub message_key: Option<Message>,
    pub fix: Option<Fix>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct Report {
    /// The profile the environment was checked against, if any.
    pub profile: Option<String>,
    /// Worst first.
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

fn set(variable: &str, value: &str) -> Option<Fix> {
    Some(Fix::Set {
        variable: variable.into(),
        value: value.into(),
    })
}

fn unset(variable: &str) -> Option<Fix> {
    Some(Fix::Unset {
        variable: variable.into(),
    })
}

/// CUDA and PyTorch read these switches as on for any value but `0` (and empty).
fn is_on(value: &str) -> bool {
    let v = value.trim();
    !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false")
}

/// Check `env`, against `profile` when one is given.
pub fn diagnose(env: &EnvMap, profile: Option<&Profile>) -> Report {
    let production = profile.is_some_and(|p| p.purpose == Purpose::Production);
    let mut findings = Vec::new();
    debug_settings(env, production, &mut findings);
    visible_devices(env, &mut findings);
    allocator(env, &mut findings);
    if let Some(profile) = profile {
        drift(env, profile, &mut findings);
    }
    // Worst first, then by variable, so the output is stable.
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.variable.cmp(&b.variable))
    });
    Report {
        profile: profile.map(|p| p.name.clone()),
        findings,
    }
}

/// Debug switches: an error or a warning under a production profile, a note otherwise.
fn debug_settings(env: &EnvMap, production: bool, out: &mut Vec<Finding>) {
    // Each switch: the severity it has under a production profile, why it costs, and its fix.
    let get = |name: &str| env.get(name).map(String::as_str);
    let mut push = |variable: &str, prod: Severity, why: String, key: Key, fix: Option<Fix>| {
        let (severity, rule) = if production {
            (prod, Rule::DebugSettingInProduction)
        } else {
            (Severity::Info, Rule::DebugSettingOn)
        };
        out.push(Finding {
            severity,
            rule,
            variable: variable.into(),
            message: why,
            message_key: Some(
                Message::new(key).text("value", env.get(variable).map_or("", String::as_str)),
            ),
            fix,
        });
    };
    if let Some(v) = get("CUDA_LAUNCH_BLOCKING").filter(|v| is_on(v)) {
        push(
            "CUDA_LAUNCH_BLOCKING",
            Severity::Error,
            format!("CUDA_LAUNCH_BLOCKING={v} makes every CUDA call synchronous: no CPU/GPU overlap, a large slowdown"),
            Key::DoctorLaunchBlocking,
            unset("CUDA_LAUNCH_BLOCKING"),
        );
    }
    // PyTorch tests only whether it is set (`getenv(...) != nullptr` in CUDACachingAllocator.cpp): even "0"
    // turns the cache off.
    if let Some(v) = get("PYTORCH_NO_CUDA_MEMORY_CACHING") {
        push(
            "PYTORCH_NO_CUDA_MEMORY_CACHING",
            Severity::Error,
            format!(
                "PYTORCH_NO_CUDA_MEMORY_CACHING={v:?} disables the caching allocator (any value does, even 0): every \
                 allocation is a cudaMalloc"
            ),
            Key::DoctorNoCaching,
            unset("PYTORCH_NO_CUDA_MEMORY_CACHING"),
        );
    }
    if let Some(v) = get("TORCH_SHOW_CPP_STACKTRACES").filter(|v| is_on(v)) {
        push(
            "TORCH_SHOW_CPP_STACKTRACES",
            Severity::Warning,
            format!("TORCH_SHOW_CPP_STACKTRACES={v} adds C++ frames to every exception"),
            Key::DoctorCppStacktraces,
            unset("TORCH_SHOW_CPP_STACKTRACES"),
        );
    }
    if let Some(v) = get("PYTORCH_USE_CUDA_DSA").filter(|v| is_on(v)) {
        push(
            "PYTORCH_USE_CUDA_DSA",
            Severity::Warning,
            format!("PYTORCH_USE_CUDA_DSA={v} turns on device-side assertions (on builds compiled with them)"),
            Key::DoctorDsa,
            unset("PYTORCH_USE_CUDA_DSA"),
        );
    }
    if let Some(v) = get("TORCH_DISTRIBUTED_DEBUG")
        .filter(|v| v.eq_ignore_ascii_case("INFO") || v.eq_ignore_ascii_case("DETAIL"))
    {
        push(
            "TORCH_DISTRIBUTED_DEBUG",
            Severity::Warning,
            format!("TORCH_DISTRIBUTED_DEBUG={v} adds checks and logging to every collective"),
            Key::DoctorDistributedDebug,
            unset("TORCH_DISTRIBUTED_DEBUG"),
        );
    }
    if let Some(v) = get("NCCL_DEBUG")
        .filter(|v| v.eq_ignore_ascii_case("INFO") || v.eq_ignore_ascii_case("TRACE"))
    {
        push(
            "NCCL_DEBUG",
            Severity::Warning,
            format!("NCCL_DEBUG={v} logs every communicator event from every rank; WARN is the production level"),
            Key::DoctorNcclDebug,
            set("NCCL_DEBUG", "WARN"),
        );
    }
    if let Some(v) = get("CUDA_MODULE_LOADING").filter(|v| v.eq_ignore_ascii_case("EAGER")) {
        push(
            "CUDA_MODULE_LOADING",
            Severity::Warning,
            format!("CUDA_MODULE_LOADING={v} loads every kernel at start-up and inflates the CUDA context"),
            Key::DoctorEagerModules,
            set("CUDA_MODULE_LOADING", "LAZY"),
        );
    }
    if env.contains_key("TORCH_USE_CUDA_DSA") {
        out.push(Finding {
            severity: Severity::Info,
            rule: Rule::CompileTimeOnly,
            variable: "TORCH_USE_CUDA_DSA".into(),
            message: "TORCH_USE_CUDA_DSA is a compile-time macro and does nothing in the environment; the runtime \
                      switch is PYTORCH_USE_CUDA_DSA=1"
                .into(),
            message_key: Some(Message::new(Key::DoctorCompileTimeDsa)),
            fix: unset("TORCH_USE_CUDA_DSA"),
        });
    }
}

/// CUDA numbers GPUs fastest first unless CUDA_DEVICE_ORDER=PCI_BUS_ID, so indices in CUDA_VISIBLE_DEVICES may
/// not be the GPUs nvidia-smi shows under those numbers (CUDA programming guide, environment variables).
fn visible_devices(env: &EnvMap, out: &mut Vec<Finding>) {
    let Some(devices) = env.get("CUDA_VISIBLE_DEVICES") else {
        return;
    };
    let entries: Vec<&str> = devices
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    if entries.is_empty() || entries.first().is_some_and(|e| e.starts_with('-')) {
        out.push(Finding {
            severity: Severity::Warning,
            rule: Rule::NoVisibleDevices,
            variable: "CUDA_VISIBLE_DEVICES".into(),
            message: format!("CUDA_VISIBLE_DEVICES={devices:?} hides every GPU: training will run on the CPU or fail"),
            message_key: Some(Message::new(Key::DoctorNoVisibleGpu).text("value", devices.as_str())),
            fix: unset("CUDA_VISIBLE_DEVICES"),
        });
        return;
    }
    // UUIDs (GPU-…, MIG-…) name a device whatever the order.
    let by_index = entries
        .iter()
        .any(|e| !e.starts_with("GPU-") && !e.starts_with("MIG-"));
    let ordered = env
        .get("CUDA_DEVICE_ORDER")
        .is_some_and(|o| o == "PCI_BUS_ID");
    if by_index && !ordered {
        out.push(Finding {
            severity: Severity::Warning,
            rule: Rule::VisibleDevicesWithoutPciOrder,
            variable: "CUDA_DEVICE_ORDER".into(),
            message: format!(
                "CUDA_VISIBLE_DEVICES={devices} selects GPUs by index, but without CUDA_DEVICE_ORDER=PCI_BUS_ID CUDA \
                 numbers them fastest first, which may not be the GPUs nvidia-smi shows with those numbers"
            ),
            message_key: Some(Message::new(Key::DoctorDeviceOrder).text("value", devices.as_str())),
            fix: set("CUDA_DEVICE_ORDER", "PCI_BUS_ID"),
        });
    }
}

fn allocator(env: &EnvMap, out: &mut Vec<Finding>) {
    let present: Vec<(&str, &str)> = ALLOC_CONF_VARS
        .iter()
        .filter_map(|name| env.get(*name).map(|v| (*name, v.as_str())))
        .collect();
    // Two names with different values: one is silently ignored, and which one depends on the PyTorch release
    // (see ALLOC_CONF_VARS). The fix gives the later names the value of the first, which every release reads.
    if let Some((first, first_value)) = present.first() {
        for (name, value) in present.iter().skip(1) {
            if value != first_value {
                out.push(Finding {
                    severity: Severity::Warning,
                    rule: Rule::AllocatorAliasShadowed,
                    variable: (*name).into(),
                    message: format!(
                        "{name}={value} disagrees with {first}={first_value}; PyTorch uses only one of them, which \
                         one depends on the release (c10/cuda/CUDAAllocatorConfig.h)"
                    ),
                    message_key: Some(
                        Message::new(Key::DoctorAllocConfDisagree)
                            .text("name", *name)
                            .text("value", *value)
                            .text("first", *first)
                            .text("first_value", *first_value),
                    ),
                    fix: set(name, first_value),
                });
            }
        }
    }
    for (name, value) in &present {
        allocator_options(name, value, out);
    }
    if let Some(v) = env.get("PYTORCH_NO_CUDA_MEMORY_CACHING") {
        for (name, _) in &present {
            out.push(Finding {
                severity: Severity::Warning,
                rule: Rule::AllocatorIgnored,
                variable: (*name).into(),
                message: format!(
                    "{name} has no effect while PYTORCH_NO_CUDA_MEMORY_CACHING={v} turns the caching allocator off"
                ),
                message_key: Some(
                    Message::new(Key::DoctorAllocConfNoEffect)
                        .text("name", *name)
                        .text("value", v.as_str()),
                ),
                fix: unset("PYTORCH_NO_CUDA_MEMORY_CACHING"),
            });
        }
    }
}

/// Checks of one allocator variable's options (CUDAAllocatorConfig.cpp's parser and limits).
fn allocator_options(name: &str, value: &str, out: &mut Vec<Finding>) {
    let options = allocconf::parse(value);
    let mut push = |severity, rule, message: String, key: Message, fix| {
        out.push(Finding {
            severity,
            rule,
            variable: name.into(),
            message,
            message_key: Some(key.text("name", name)),
            fix,
        })
    };
    // A key given twice with different values: PyTorch keeps the last one, the writer meant one of them.
    for (i, option) in options.iter().enumerate() {
        if let Some(later) = options[i + 1..]
            .iter()
            .find(|o| o.key == option.key && o.value != option.value)
        {
            // What PyTorch does anyway, written out: each key once, with its last value.
            let kept: Vec<_> = options
                .iter()
                .enumerate()
                .filter(|(j, o)| !options[j + 1..].iter().any(|later| later.key == o.key))
                .map(|(_, o)| o.clone())
                .collect();
            push(
                Severity::Error,
                Rule::AllocatorContradiction,
                format!(
                    "{name} sets {} twice ({} and {}); PyTorch keeps the last",
                    option.key, option.value, later.value
                ),
                Message::new(Key::DoctorAllocTwice)
                    .text("option", option.key.as_str())
                    .text("first", option.value.as_str())
                    .text("second", later.value.as_str()),
                set(name, &allocconf::render(&kept)),
            );
            break;
        }
    }
    let last = |key: &str| options.iter().rev().find(|o| o.key == key);
    if let Some(backend) = last("backend") {
        if backend.value == "cudaMallocAsync" {
            let native: Vec<&str> = NATIVE_ONLY_KEYS
                .iter()
                .copied()
                .filter(|k| last(k).is_some())
                .collect();
            if !native.is_empty() {
                let kept: Vec<_> = options
                    .iter()
                    .filter(|o| !NATIVE_ONLY_KEYS.contains(&o.key.as_str()))
                    .cloned()
                    .collect();
                push(
                    Severity::Warning,
                    Rule::AllocatorContradiction,
                    format!(
                        "{name} chooses backend:cudaMallocAsync, which ignores {} (options of the native caching \
                         allocator)",
                        native.join(", ")
                    ),
                    Message::new(Key::DoctorAsyncIgnores).text("options", native.join(", ")),
                    set(name, &allocconf::render(&kept)),
                );
            }
        } else if backend.value != "native" {
            push(
                Severity::Warning,
                Rule::AllocatorInvalidValue,
                format!(
                    "{name}: backend must be native or cudaMallocAsync, not {:?}",
                    backend.value
                ),
                Message::new(Key::DoctorBackend).text("value", backend.value.as_str()),
                None,
            );
        }
    }
    if let Some(o) = last("expandable_segments") {
        if o.value != "True" && o.value != "False" {
            push(
                Severity::Error,
                Rule::AllocatorInvalidValue,
                format!(
                    "{name}: expandable_segments must be True or False (PyTorch refuses {:?} at start-up)",
                    o.value
                ),
                Message::new(Key::DoctorExpandable).text("value", o.value.as_str()),
                set(name, &allocconf::with_expandable_segments(value)),
            );
        }
    }
    if let Some(o) = last("garbage_collection_threshold") {
        let ok = o.value.parse::<f64>().is_ok_and(|t| t > 0.0 && t < 1.0);
        if !ok {
            push(
                Severity::Error,
                Rule::AllocatorInvalidValue,
                format!(
                    "{name}: garbage_collection_threshold must be a fraction strictly between 0 and 1, not {:?}",
                    o.value
                ),
                Message::new(Key::DoctorGcThreshold).text("value", o.value.as_str()),
                None,
            );
        }
    }
    if let Some(o) = last("max_split_size_mb") {
        // kLargeBuffer is 20 MiB; PyTorch refuses anything not above it ("max_split_size_mb too small").
        let ok = o.value.parse::<u64>().is_ok_and(|mb| mb > 20);
        if !ok {
            push(
                Severity::Error,
                Rule::AllocatorInvalidValue,
                format!(
                    "{name}: max_split_size_mb must be a whole number of MiB above 20, not {:?}",
                    o.value
                ),
                Message::new(Key::DoctorMaxSplit).text("value", o.value.as_str()),
                None,
            );
        }
    }
    for o in &options {
        if !KNOWN_KEYS.contains(&o.key.as_str()) {
            push(
                Severity::Warning,
                Rule::AllocatorUnknownKey,
                format!(
                    "{name}: {:?} is not an allocator option Headroom knows (a typo?); depending on the \
                     release PyTorch refuses it at start-up or ignores it",
                    o.key
                ),
                Message::new(Key::DoctorUnknownOption).text("option", o.key.as_str()),
                None,
            );
        }
    }
}

/// Variables whose value is not what the profile asks for, and that no other rule already reported.
fn drift(env: &EnvMap, profile: &Profile, out: &mut Vec<Finding>) {
    for setting in &profile.variables {
        if out.iter().any(|f| f.variable == setting.name) {
            continue;
        }
        let actual = env.get(&setting.name);
        // Findings are shown (UI, terminal, JSON): a secret's value stays out of the message and the fix. A
        // fix that sets a hidden value keeps the profile's stored one when applied (`profile::save`).
        let shown = |value: &str| super::secret::redact(&setting.name, value).into_owned();
        let key = |k: Key| {
            Message::new(k)
                .text("profile", profile.name.as_str())
                .text("name", setting.name.as_str())
        };
        let (message, message_key, fix) = match (&setting.value, actual) {
            (Some(want), Some(got)) if want != got => (
                format!(
                    "profile {} sets {}={}; here it is {}",
                    profile.name,
                    setting.name,
                    shown(want),
                    shown(got)
                ),
                key(Key::DoctorProfileSets)
                    .text("value", shown(want))
                    .text("here", shown(got)),
                set(&setting.name, &shown(want)),
            ),
            (Some(want), None) => (
                format!(
                    "profile {} sets {}={}; here it is not set",
                    profile.name,
                    setting.name,
                    shown(want)
                ),
                key(Key::DoctorProfileSetsMissing).text("value", shown(want)),
                set(&setting.name, &shown(want)),
            ),
            (None, Some(got)) => (
                format!(
                    "profile {} unsets {}; here it is {}",
                    profile.name,
                    setting.name,
                    shown(got)
                ),
                key(Key::DoctorProfileUnsets).text("here", shown(got)),
                unset(&setting.name),
            ),
            _ => continue,
        };
        out.push(Finding {
            severity: Severity::Info,
            rule: Rule::DiffersFromProfile,
            variable: setting.name.clone(),
            message,
            message_key: Some(message_key),
            fix,
        });
    }
}
