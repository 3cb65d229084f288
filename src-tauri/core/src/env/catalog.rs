//! What each environment variable Headroom knows does, and what it costs. The text follows
//! docs/estimator.md §15 (itself drawn from PyTorch's `docs/source/notes/cuda.rst`,
//! `cuda_environment_variables.rst`, `c10/cuda/CUDADeviceAssertionHost.cpp`,
//! `torch/csrc/utils/cpp_stacktraces.cpp`, NCCL's logging docs and the huggingface_hub docs).

use serde::Serialize;

/// One known variable: shown beside the value in a profile and quoted by the doctor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct VariableInfo {
    pub name: &'static str,
    /// What the variable does.
    pub effect: &'static str,
    /// What it costs when set (speed, memory, disk, nothing).
    pub cost: &'static str,
    /// Where the statement comes from.
    pub source: &'static str,
    /// True when the setting belongs in a debug session only.
    pub debug_only: bool,
}

const CATALOG: &[VariableInfo] = &[
    VariableInfo {
        name: "CUDA_LAUNCH_BLOCKING",
        effect: "1 makes every CUDA call synchronous, so an error is reported at the operation that failed",
        cost: "removes all CPU/GPU overlap: a large slowdown of every training step",
        source: "PyTorch docs, notes/cuda (docs/estimator.md §15)",
        debug_only: true,
    },
    VariableInfo {
        name: "PYTORCH_NO_CUDA_MEMORY_CACHING",
        effect: "disables the caching allocator (for cuda-memcheck); PyTorch only checks that it is set, so even 0 does",
        cost: "every allocation becomes a cudaMalloc/cudaFree: slow, and the memory model changes",
        source: "PyTorch docs, cuda_environment_variables.rst (docs/estimator.md §15)",
        debug_only: true,
    },
    VariableInfo {
        name: "TORCH_SHOW_CPP_STACKTRACES",
        effect: "1 adds C++ frames to Python exceptions (on by default with TORCH_DISTRIBUTED_DEBUG=DETAIL)",
        cost: "slower error paths and very long tracebacks in logs",
        source: "torch/csrc/utils/cpp_stacktraces.cpp (docs/estimator.md §15)",
        debug_only: true,
    },
    VariableInfo {
        name: "TORCH_USE_CUDA_DSA",
        effect: "a compile-time macro, not a runtime switch: setting it in the environment does nothing",
        cost: "none; the runtime switch is PYTORCH_USE_CUDA_DSA=1",
        source: "c10/cuda/CUDADeviceAssertionHost.cpp (docs/estimator.md §15)",
        debug_only: true,
    },
    VariableInfo {
        name: "PYTORCH_USE_CUDA_DSA",
        effect: "1 turns on device-side assertions, on builds compiled with TORCH_USE_CUDA_DSA only",
        cost: "extra checks in every kernel that asserts (stock wheels are not compiled with it)",
        source: "c10/cuda/CUDADeviceAssertionHost.cpp (docs/estimator.md §15)",
        debug_only: true,
    },
    VariableInfo {
        name: "TORCH_DISTRIBUTED_DEBUG",
        effect: "INFO or DETAIL logs collective checks; DETAIL also turns on C++ stack traces",
        cost: "extra synchronisation and logging in every collective",
        source: "torch/csrc/utils/cpp_stacktraces.cpp (docs/estimator.md §15)",
        debug_only: true,
    },
    VariableInfo {
        name: "NCCL_DEBUG",
        effect: "NCCL log level: VERSION, WARN, INFO or TRACE (TRACE needs NCCL built with TRACE=1)",
        cost: "INFO and TRACE write a line per communicator event from every rank",
        source: "NCCL docs, logging; NVIDIA/nccl#197 (docs/estimator.md §15)",
        debug_only: false,
    },
    VariableInfo {
        name: "PYTORCH_CUDA_ALLOC_CONF",
        effect: "options of the CUDA caching allocator, e.g. expandable_segments:True grows one segment per stream \
                 instead of one cudaMalloc per large block, which avoids unusable slivers when sizes vary",
        cost: "none for expandable_segments (production-safe, flagged experimental); other keys trade speed for memory",
        source: "PyTorch docs, notes/cuda \"Memory management\" (docs/estimator.md §15)",
        debug_only: false,
    },
    VariableInfo {
        name: "PYTORCH_ALLOC_CONF",
        effect: "the device-neutral name of PYTORCH_CUDA_ALLOC_CONF in recent PyTorch; when both are set, which one \
                 wins depends on the release",
        cost: "as PYTORCH_CUDA_ALLOC_CONF",
        source: "c10/cuda/CUDAAllocatorConfig.h, c10/core/AllocatorConfig.cpp; notes/cuda (docs/estimator.md §15)",
        debug_only: false,
    },
    VariableInfo {
        name: "PYTORCH_HIP_ALLOC_CONF",
        effect: "the ROCm spelling of PYTORCH_CUDA_ALLOC_CONF",
        cost: "as PYTORCH_CUDA_ALLOC_CONF",
        source: "c10/core/AllocatorConfig.cpp",
        debug_only: false,
    },
    VariableInfo {
        name: "CUDA_VISIBLE_DEVICES",
        effect: "comma list of the GPUs a process may see, renumbered from 0; -1 or empty hides them all",
        cost: "none; without CUDA_DEVICE_ORDER=PCI_BUS_ID the indices follow CUDA's fastest-first order, \
               not nvidia-smi's",
        source: "CUDA programming guide, environment variables (docs/estimator.md §15)",
        debug_only: false,
    },
    VariableInfo {
        name: "CUDA_DEVICE_ORDER",
        effect: "PCI_BUS_ID numbers GPUs as nvidia-smi and NVML do; the default FASTEST_FIRST may not",
        cost: "none",
        source: "CUDA programming guide, environment variables",
        debug_only: false,
    },
    VariableInfo {
        name: "CUDA_MODULE_LOADING",
        effect: "LAZY loads kernels on first use (PyTorch sets it when unset); EAGER loads them all at start-up",
        cost: "EAGER inflates the CUDA context by hundreds of MiB per process",
        source: "CUDAHooks::init (docs/estimator.md §15)",
        debug_only: false,
    },
    VariableInfo {
        name: "TOKENIZERS_PARALLELISM",
        effect: "false disables the Rust tokenizers' threads, avoiding the \"process just got forked\" warning \
                 and deadlocks with DataLoader workers",
        cost: "tokenization on one thread per process",
        source: "huggingface/tokenizers (docs/estimator.md §15)",
        debug_only: false,
    },
    VariableInfo {
        name: "HF_HUB_OFFLINE",
        effect: "1 makes no HTTP calls and reads the cache only (skips the freshness request)",
        cost: "models not yet in the cache cannot be loaded",
        source: "huggingface_hub docs, environment variables (docs/estimator.md §15)",
        debug_only: false,
    },
    VariableInfo {
        name: "HF_HOME",
        effect: "root of the Hugging Face cache and token",
        cost: "none; the disk it points to must hold the models",
        source: "huggingface_hub docs (docs/estimator.md §15)",
        debug_only: false,
    },
    VariableInfo {
        name: "HF_HUB_CACHE",
        effect: "where downloaded models are kept (default HF_HOME/hub)",
        cost: "none; the disk it points to must hold the models",
        source: "huggingface_hub docs (docs/estimator.md §15)",
        debug_only: false,
    },
    VariableInfo {
        name: "CUBLAS_WORKSPACE_CONFIG",
        effect: "size of each cuBLAS workspace per (handle, stream): default :4096:2:16:8 (about 8.1 MiB), 32 MiB \
                 on sm90; :0:0 disables it",
        cost: "memory per stream; :4096:8 or :16:8 is what torch.use_deterministic_algorithms asks for",
        source: "CublasHandlePool.cpp; cuda_environment_variables.rst (docs/estimator.md §15)",
        debug_only: false,
    },
];

/// What Headroom knows about `name`, if anything.
pub fn info(name: &str) -> Option<&'static VariableInfo> {
    CATALOG.iter().find(|v| v.name == name)
}

/// Every known variable, in the order the UI lists them.
pub fn all() -> &'static [VariableInfo] {
    CATALOG
}
