//! Reading `PYTORCH_CUDA_ALLOC_CONF` (and its aliases) the way PyTorch's allocator config parser does:
//! comma-separated `key:value` pairs, where `roundup_power2_divisions` may take a bracketed list that itself
//! holds commas (`[256:1,512:2]`). Source: `c10/cuda/CUDAAllocatorConfig.cpp` and `c10/core/AllocatorConfig.cpp`
//! (the `ConfigTokenizer` there treats `[`…`]` as one value).

/// The variables PyTorch reads its allocator options from, in the order current sources try them
/// (`c10/cuda/CUDAAllocatorConfig.h`: PYTORCH_CUDA_ALLOC_CONF, then PYTORCH_HIP_ALLOC_CONF on ROCm, then
/// PYTORCH_ALLOC_CONF). Some 2.x releases tried PYTORCH_ALLOC_CONF first, and releases before it know only the
/// device-specific names, so when two are set with different values which one wins depends on the release.
pub const ALLOC_CONF_VARS: [&str; 3] = [
    "PYTORCH_CUDA_ALLOC_CONF",
    "PYTORCH_HIP_ALLOC_CONF",
    "PYTORCH_ALLOC_CONF",
];

/// Options of the native caching allocator that `backend:cudaMallocAsync` ignores
/// (CUDAAllocatorConfig.cpp only applies them to the native backend).
pub const NATIVE_ONLY_KEYS: [&str; 5] = [
    "expandable_segments",
    "max_split_size_mb",
    "max_non_split_rounding_mb",
    "garbage_collection_threshold",
    "roundup_power2_divisions",
];

/// Every option PyTorch 2.x accepts (CUDAAllocatorConfig.cpp, AllocatorConfig.cpp and its tests; the
/// `*_device_*` spellings are the accelerator-neutral names of the `*_cuda_*` ones).
pub const KNOWN_KEYS: [&str; 18] = [
    "backend",
    "expandable_segments",
    "max_split_size_mb",
    "max_non_split_rounding_mb",
    "garbage_collection_threshold",
    "roundup_power2_divisions",
    "release_lock_on_cudamalloc",
    "pinned_use_cuda_host_register",
    "pinned_use_host_register",
    "pinned_num_register_threads",
    "pinned_use_background_threads",
    "pinned_reserve_segment_size_mb",
    "graph_capture_record_stream_reuse",
    "release_lock_on_hipmalloc",
    "pinned_use_hip_host_register",
    "release_lock_on_device_malloc",
    "pinned_use_device_host_register",
    "per_process_memory_fraction",
];

/// One `key:value` pair, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocOption {
    pub key: String,
    pub value: String,
}

/// Split the variable into its options. A pair without `:` keeps an empty value, so the doctor can say so.
pub fn parse(text: &str) -> Vec<AllocOption> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut depth = 0u32;
    for c in text.chars() {
        match c {
            '[' => {
                depth += 1;
                current.push(c);
            }
            ']' => {
                depth = depth.saturating_sub(1);
                current.push(c);
            }
            ',' if depth == 0 => items.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    items.push(current);
    items
        .into_iter()
        .map(|item| item.trim().to_owned())
        .filter(|item| !item.is_empty())
        .map(|item| match item.split_once(':') {
            Some((k, v)) => AllocOption {
                key: k.trim().to_owned(),
                value: v.trim().to_owned(),
            },
            None => AllocOption {
                key: item,
                value: String::new(),
            },
        })
        .collect()
}

/// Write options back in the same form.
pub fn render(options: &[AllocOption]) -> String {
    options
        .iter()
        .map(|o| format!("{}:{}", o.key, o.value))
        .collect::<Vec<_>>()
        .join(",")
}

/// `text` with `expandable_segments:True`, replacing any earlier value of that key.
pub fn with_expandable_segments(text: &str) -> String {
    let mut options: Vec<AllocOption> = parse(text)
        .into_iter()
        .filter(|o| o.key != "expandable_segments")
        .collect();
    options.push(AllocOption {
        key: "expandable_segments".into(),
        value: "True".into(),
    });
    render(&options)
}

/// Whether the options turn expandable segments on (the last occurrence wins, as in PyTorch's parser).
pub fn has_expandable_segments(text: &str) -> bool {
    parse(text)
        .iter()
        .rev()
        .find(|o| o.key == "expandable_segments")
        .is_some_and(|o| o.value == "True")
}
