//! Safetensors headers, read without touching the weights.
//!
//! Format (safetensors `README.md` and `safetensors/src/tensor.rs` `validate`, commit 24b0b28): 8 bytes `N`
//! (u64 little-endian), then `N` bytes of UTF-8 JSON starting with `{` (may be padded with spaces), then the byte
//! buffer. Each header entry is `{"dtype", "shape", "data_offsets": [begin, end]}` with offsets relative to the
//! buffer; `__metadata__` is an optional string→string map. The reference parser refuses headers over
//! 100,000,000 bytes, and requires the tensors to tile the buffer exactly: sorted by offset, the first begins at 0,
//! each begins where the previous ends, the last ends at the end of the file, and each spans exactly
//! `prod(shape) × bits / 8` bytes. We apply the same rules, so a file we accept is one `safetensors` would load.
//!
//! Only the header is read: a 400 GB checkpoint costs one small read per shard. Every rule a hostile file can break
//! is one [`Error::Invalid`] naming the file and the field.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::message::{Key, Message};
use crate::{fsio, Error, Result};

/// The reference implementation's limit (`safetensors::tensor::MAX_HEADER_SIZE`).
pub const MAX_HEADER_BYTES: u64 = 100_000_000;

/// The most tensors Headroom reads for one checkpoint, all its shards together. The largest published
/// checkpoints hold under 300,000 (an FP8 or GPTQ export of a 384-expert, 61-layer MoE: 61 × 384 × 3 expert
/// matrices with their scale tensors); the format itself allows about 1.2 million in a 100 MB header. Each tensor
/// costs about 150 bytes once read, so the limit also bounds memory.
pub const MAX_TENSORS: usize = 1_000_000;

/// Every dtype the safetensors format defines (`Dtype` in `safetensors/src/tensor.rs`), with its size in bits.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ts_rs::TS,
)]
pub enum TensorDtype {
    #[serde(rename = "BOOL")]
    Bool,
    #[serde(rename = "F4")]
    F4,
    #[serde(rename = "F6_E2M3")]
    F6E2m3,
    #[serde(rename = "F6_E3M2")]
    F6E3m2,
    #[serde(rename = "U8")]
    U8,
    #[serde(rename = "I8")]
    I8,
    #[serde(rename = "F8_E5M2")]
    F8E5m2,
    #[serde(rename = "F8_E4M3")]
    F8E4m3,
    #[serde(rename = "F8_E8M0")]
    F8E8m0,
    #[serde(rename = "F8_E4M3FNUZ")]
    F8E4m3Fnuz,
    #[serde(rename = "F8_E5M2FNUZ")]
    F8E5m2Fnuz,
    #[serde(rename = "I16")]
    I16,
    #[serde(rename = "U16")]
    U16,
    #[serde(rename = "F16")]
    F16,
    #[serde(rename = "BF16")]
    Bf16,
    #[serde(rename = "I32")]
    I32,
    #[serde(rename = "U32")]
    U32,
    #[serde(rename = "F32")]
    F32,
    #[serde(rename = "C64")]
    C64,
    #[serde(rename = "F64")]
    F64,
    #[serde(rename = "I64")]
    I64,
    #[serde(rename = "U64")]
    U64,
}

impl TensorDtype {
    /// `Dtype::bitsize` in the safetensors crate.
    pub fn bits(self) -> u64 {
        use TensorDtype::*;
        match self {
            F4 => 4,
            F6E2m3 | F6E3m2 => 6,
            Bool | U8 | I8 | F8E5m2 | F8E4m3 | F8E8m0 | F8E4m3Fnuz | F8E5m2Fnuz => 8,
            I16 | U16 | F16 | Bf16 => 16,
            I32 | U32 | F32 => 32,
            C64 | F64 | I64 | U64 => 64,
        }
    }

    /// The spelling used in the file (`BF16`, `F8_E4M3`, …).
    pub fn as_str(self) -> &'static str {
        use TensorDtype::*;
        match self {
            Bool => "BOOL",
            F4 => "F4",
            F6E2m3 => "F6_E2M3",
            F6E3m2 => "F6_E3M2",
            U8 => "U8",
            I8 => "I8",
            F8E5m2 => "F8_E5M2",
            F8E4m3 => "F8_E4M3",
            F8E8m0 => "F8_E8M0",
            F8E4m3Fnuz => "F8_E4M3FNUZ",
            F8E5m2Fnuz => "F8_E5M2FNUZ",
            I16 => "I16",
            U16 => "U16",
            F16 => "F16",
            Bf16 => "BF16",
            I32 => "I32",
            U32 => "U32",
            F32 => "F32",
            C64 => "C64",
            F64 => "F64",
            I64 => "I64",
            U64 => "U64",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == text)
    }

    const ALL: [TensorDtype; 22] = {
        use TensorDtype::*;
        [
            Bool, F4, F6E2m3, F6E3m2, U8, I8, F8E5m2, F8E4m3, F8E8m0, F8E4m3Fnuz, F8E5m2Fnuz, I16,
            U16, F16, Bf16, I32, U32, F32, C64, F64, I64, U64,
        ]
    };
}

/// One tensor as its header describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct TensorInfo {
    pub name: String,
    pub dtype: TensorDtype,
    pub shape: Vec<u64>,
    /// `prod(shape)`; 1 for a scalar (empty shape), as numpy and torch count it.
    pub elements: u64,
    /// `end - begin` of its data offsets.
    pub bytes: u64,
}

/// The parsed header of one safetensors file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct Header {
    /// Tensors in file order of their data (ascending offsets).
    pub tensors: Vec<TensorInfo>,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTensor<'a> {
    /// Borrowed from the header: no allocation per tensor for its dtype.
    #[serde(borrow)]
    dtype: std::borrow::Cow<'a, str>,
    shape: Vec<u64>,
    data_offsets: (u64, u64),
}

/// Parse and validate a header.
///
/// `json` is the `N` header bytes, `buffer_len` the number of bytes after them (file length − 8 − N); `file` only
/// names the file in errors. At most [`MAX_TENSORS`] tensors are accepted.
pub fn parse_header(json: &[u8], buffer_len: u64, file: &str) -> Result<Header> {
    parse_header_within(json, buffer_len, file, MAX_TENSORS)
}

/// [`parse_header`] accepting at most `max_tensors` tensors (what is left of a checkpoint's [`MAX_TENSORS`]).
///
/// The header is streamed: each entry is checked and reduced to a [`TensorInfo`] as it is read, never built into a
/// JSON tree (a 95 MB header of 1.15 M tensors took 1.6 GB as a `serde_json::Value`), and reading stops at the
/// first tensor past the limit.
fn parse_header_within(
    json: &[u8],
    buffer_len: u64,
    file: &str,
    max_tensors: usize,
) -> Result<Header> {
    if json.first() != Some(&b'{') {
        return Err(Error::invalid(
            format!("{file}: header"),
            "the JSON header must start with '{'",
        ));
    }
    // Broken or truncated JSON is the header's fault, not that of the entry where the reader would meet it: check
    // the syntax first, in one pass that allocates nothing.
    serde_json::from_slice::<serde::de::IgnoredAny>(json).map_err(|e| {
        Error::invalid(format!("{file}: header"), format!("not a JSON object: {e}"))
    })?;
    let mut refused = None;
    let mut de = serde_json::Deserializer::from_slice(json);
    let parsed = serde::de::DeserializeSeed::deserialize(
        HeaderVisitor {
            file,
            buffer_len,
            max_tensors,
            refused: &mut refused,
        },
        &mut de,
    )
    .and_then(|spans| de.end().map(|()| spans));
    let (mut spans, metadata) = match (parsed, refused) {
        (Ok(parsed), _) => parsed,
        (Err(_), Some(error)) => return Err(error),
        (Err(e), None) => {
            return Err(Error::invalid(
                format!("{file}: header"),
                format!("not a JSON object: {e}"),
            ))
        }
    };

    spans.sort_unstable_by_key(|(begin, info)| (*begin, info.bytes));
    let mut expected = 0u64;
    for (begin, info) in &spans {
        let end = begin + info.bytes;
        if *begin != expected {
            let what = if *begin < expected {
                "overlaps the tensor before it"
            } else {
                "leaves a gap after the tensor before it"
            };
            return Err(Error::invalid(
                format!("{file}: tensor {:?}.data_offsets", info.name),
                format!("[{begin}, {end}] {what} (expected it to begin at {expected})"),
            ));
        }
        expected = end;
    }
    if expected != buffer_len {
        return Err(Error::invalid(
            format!("{file}: data_offsets"),
            format!(
                "the tensors cover {expected} bytes but the file holds {buffer_len} bytes of data"
            ),
        ));
    }
    // Two entries of one name would both tile the buffer; the reference parser keeps one and then fails.
    let mut names = HashSet::with_capacity(spans.len());
    if let Some((_, dup)) = spans.iter().find(|(_, t)| !names.insert(t.name.as_str())) {
        return Err(Error::invalid(
            format!("{file}: tensor {:?}", dup.name),
            "appears more than once in the header",
        ));
    }
    drop(names);
    Ok(Header {
        tensors: spans.into_iter().map(|(_, info)| info).collect(),
        metadata,
    })
}

/// Tensors by their first byte, and the metadata.
type Parsed = (Vec<(u64, TensorInfo)>, BTreeMap<String, String>);

/// Reads the header's top-level map one entry at a time. A rule broken is put in `refused` (our error, naming the
/// field) and the parse is ended with a placeholder serde error.
struct HeaderVisitor<'a> {
    file: &'a str,
    buffer_len: u64,
    max_tensors: usize,
    refused: &'a mut Option<Error>,
}

impl HeaderVisitor<'_> {
    /// Keep our error and end the parse with `cause` (the serde error) or a placeholder.
    fn refuse<E: serde::de::Error>(
        &mut self,
        field: String,
        message: String,
        cause: Option<E>,
    ) -> E {
        *self.refused = Some(Error::invalid(format!("{}: {field}", self.file), message));
        cause.unwrap_or_else(|| E::custom("refused"))
    }

    fn tensor(
        &self,
        name: String,
        t: RawTensor,
    ) -> std::result::Result<(u64, TensorInfo), (String, String)> {
        let dtype = TensorDtype::parse(&t.dtype).ok_or_else(|| {
            (
                format!("tensor {name:?}.dtype"),
                format!("unknown dtype {:?}", t.dtype),
            )
        })?;
        let elements = t
            .shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| {
                (
                    format!("tensor {name:?}.shape"),
                    format!("{:?} has more elements than fit in 64 bits", t.shape),
                )
            })?;
        let bits = u128::from(elements) * u128::from(dtype.bits());
        let (begin, end) = t.data_offsets;
        if end < begin {
            return Err((
                format!("tensor {name:?}.data_offsets"),
                format!("[{begin}, {end}] ends before it begins"),
            ));
        }
        if end > self.buffer_len {
            return Err((
                format!("tensor {name:?}.data_offsets"),
                format!(
                    "[{begin}, {end}] runs past the end of the file's data ({} bytes)",
                    self.buffer_len
                ),
            ));
        }
        let bytes = end - begin;
        if bits % 8 != 0 || bits / 8 != u128::from(bytes) {
            return Err((
                format!("tensor {name:?}"),
                format!(
                    "shape {:?} of {} needs {} bits but data_offsets span {bytes} bytes",
                    t.shape,
                    dtype.as_str(),
                    bits
                ),
            ));
        }
        Ok((
            begin,
            TensorInfo {
                name,
                dtype,
                shape: t.shape,
                elements,
                bytes,
            },
        ))
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for HeaderVisitor<'_> {
    type Value = Parsed;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<Parsed, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for HeaderVisitor<'_> {
    type Value = Parsed;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a map of tensor names to {dtype, shape, data_offsets}")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        mut self,
        mut map: A,
    ) -> std::result::Result<Parsed, A::Error> {
        let mut spans = Vec::new();
        let mut metadata = BTreeMap::new();
        while let Some(name) = map.next_key::<String>()? {
            if name == "__metadata__" {
                metadata = match map.next_value() {
                    Ok(m) => m,
                    Err(e) => {
                        let message = format!("must map strings to strings: {e}");
                        return Err(self.refuse("__metadata__".into(), message, Some(e)));
                    }
                };
                continue;
            }
            if spans.len() >= self.max_tensors {
                return Err(self.refuse(
                    "header".into(),
                    format!(
                        "more than {MAX_TENSORS} tensors in the checkpoint, the most Headroom reads for one \
                         (the largest published checkpoints have under 300,000)"
                    ),
                    None,
                ));
            }
            let raw: RawTensor = match map.next_value() {
                Ok(raw) => raw,
                Err(e) => {
                    let message = format!("expected {{dtype, shape, data_offsets}}: {e}");
                    return Err(self.refuse(format!("tensor {name:?}"), message, Some(e)));
                }
            };
            match self.tensor(name, raw) {
                Ok(span) => spans.push(span),
                Err((field, message)) => return Err(self.refuse(field, message, None)),
            }
        }
        Ok((spans, metadata))
    }
}

/// Read and validate the header of one file, reading only `8 + N` bytes.
pub fn read_header(path: &Path) -> Result<Header> {
    read_header_within(path, MAX_TENSORS)
}

/// [`read_header`] accepting at most `max_tensors` tensors: what the checkpoint's earlier shards left.
fn read_header_within(path: &Path, max_tensors: usize) -> Result<Header> {
    let name = path.display().to_string();
    let mut file = fsio::open(path)?;
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut prefix = [0u8; 8];
    if file_len < 8 {
        return Err(Error::invalid(
            format!("{name}: header length"),
            format!("the file is {file_len} bytes, shorter than the 8-byte header length"),
        ));
    }
    file.read_exact(&mut prefix)
        .map_err(|e| Error::io(path, e))?;
    let n = u64::from_le_bytes(prefix);
    if n > MAX_HEADER_BYTES {
        return Err(Error::invalid(
            format!("{name}: header length"),
            format!("{n} bytes is more than the {MAX_HEADER_BYTES}-byte limit of the format"),
        ));
    }
    if n > file_len - 8 {
        return Err(Error::invalid(
            format!("{name}: header length"),
            format!(
                "{n} bytes is more than the {} bytes that follow it",
                file_len - 8
            ),
        ));
    }
    // n ≤ 100 MB and ≤ the file's size: the allocation is bounded by what is really there.
    let mut json = vec![0u8; usize::try_from(n).unwrap_or(0)];
    file.read_exact(&mut json).map_err(|e| Error::io(path, e))?;
    parse_header_within(&json, file_len - 8 - n, &name, max_tensors)
}

/// Parse a whole in-memory safetensors file (tests, fuzzing). Same rules as [`read_header`].
pub fn parse_file_bytes(bytes: &[u8], name: &str) -> Result<Header> {
    let (prefix, rest) = bytes.split_at_checked(8).ok_or_else(|| {
        Error::invalid(
            format!("{name}: header length"),
            "shorter than the 8-byte header length",
        )
    })?;
    let mut len = [0u8; 8];
    len.copy_from_slice(prefix);
    let n = u64::from_le_bytes(len);
    if n > MAX_HEADER_BYTES || n > rest.len() as u64 {
        return Err(Error::invalid(
            format!("{name}: header length"),
            format!("{n} bytes does not fit the file"),
        ));
    }
    let (json, buffer) = rest.split_at(n as usize);
    parse_header(json, buffer.len() as u64, name)
}

/// `model.safetensors.index.json`: which file holds which tensor (huggingface_hub `serialization/_base.py`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardIndex {
    /// Tensor name → shard file name.
    pub weight_map: BTreeMap<String, String>,
    /// `metadata.total_size` when present: the sum of tensor bytes.
    pub total_size: Option<u64>,
}

#[derive(Deserialize)]
struct RawIndex {
    #[serde(default)]
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
    weight_map: BTreeMap<String, String>,
}

/// Parse an index; shard names must be plain file names in the same folder (no `..`, no separators).
pub fn parse_index(json: &[u8], file: &str) -> Result<ShardIndex> {
    let raw: RawIndex = serde_json::from_slice(json)
        .map_err(|e| Error::invalid(format!("{file}: weight_map"), e.to_string()))?;
    for shard in raw.weight_map.values().collect::<HashSet<_>>() {
        crate::store::check_name(&format!("{file}: weight_map"), shard)?;
    }
    let total_size = match raw.metadata.as_ref().and_then(|m| m.get("total_size")) {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            Error::invalid(
                format!("{file}: metadata.total_size"),
                "must be a non-negative integer",
            )
        })?),
    };
    Ok(ShardIndex {
        weight_map: raw.weight_map,
        total_size,
    })
}

/// All tensors of a checkpoint, from one file or from the shards an index names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct Checkpoint {
    /// File names read, in order.
    pub files: Vec<String>,
    pub tensors: Vec<TensorInfo>,
    /// Σ bytes of all tensors.
    pub total_bytes: u64,
    pub notes: Vec<Message>,
}

impl Checkpoint {
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

/// Which safetensors files of a folder make up the model:
/// `model.safetensors.index.json` when present (transformers' sharded layout); else `model.safetensors`; else
/// every `*.safetensors` except Mistral's `consolidated*.safetensors`, which duplicates the HF-format weights in
/// repositories that carry both. `None` when the folder has no safetensors.
pub fn read_folder(folder: &Path) -> Result<Option<Checkpoint>> {
    let index_path = folder.join("model.safetensors.index.json");
    // `exists`, not `is_file`: a FIFO or directory by that name is refused by fsio, not silently skipped.
    if index_path.exists() {
        let json = fsio::read(&index_path, fsio::SAFETENSORS_INDEX)?;
        let index = parse_index(&json, &index_path.display().to_string())?;
        return read_sharded(folder, &index).map(Some);
    }
    let single = folder.join("model.safetensors");
    let files: Vec<String> = if single.exists() {
        vec!["model.safetensors".to_owned()]
    } else {
        let entries = std::fs::read_dir(folder).map_err(|e| Error::io(folder, e))?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(".safetensors") && !n.starts_with("consolidated"))
            .collect();
        names.sort();
        names
    };
    if files.is_empty() {
        return Ok(None);
    }
    let headers = read_headers(folder, files)?;
    unique_names(
        folder,
        &headers,
        "also present in another safetensors file of this folder",
    )?;
    Ok(Some(into_checkpoint(headers, Vec::new())))
}

/// The headers of `files` in `folder`, in that order, at most [`MAX_TENSORS`] tensors in all.
fn read_headers(folder: &Path, files: Vec<String>) -> Result<Vec<(String, Header)>> {
    let mut count = 0;
    let mut headers = Vec::with_capacity(files.len());
    for name in files {
        let header = read_header_within(&folder.join(&name), MAX_TENSORS - count)?;
        count += header.tensors.len();
        headers.push((name, header));
    }
    Ok(headers)
}

/// Every tensor name once, borrowed (a million names are not copied); a name in two files is refused with
/// `message`, naming the second file.
fn unique_names<'a>(
    folder: &Path,
    headers: &'a [(String, Header)],
    message: &str,
) -> Result<HashSet<&'a str>> {
    let mut seen = HashSet::with_capacity(headers.iter().map(|(_, h)| h.tensors.len()).sum());
    for (file, header) in headers {
        if let Some(t) = header
            .tensors
            .iter()
            .find(|t| !seen.insert(t.name.as_str()))
        {
            return Err(Error::invalid(
                format!("{}: tensor {:?}", folder.join(file).display(), t.name),
                message,
            ));
        }
    }
    Ok(seen)
}

fn into_checkpoint(headers: Vec<(String, Header)>, notes: Vec<Message>) -> Checkpoint {
    let mut checkpoint = Checkpoint {
        files: Vec::with_capacity(headers.len()),
        tensors: Vec::with_capacity(headers.iter().map(|(_, h)| h.tensors.len()).sum()),
        total_bytes: 0,
        notes,
    };
    for (file, header) in headers {
        for t in header.tensors {
            checkpoint.total_bytes = checkpoint.total_bytes.saturating_add(t.bytes);
            checkpoint.tensors.push(t);
        }
        checkpoint.files.push(file);
    }
    checkpoint
}

/// Read the shards an index names, checking that each mapped tensor is in the file the index says.
pub fn read_sharded(folder: &Path, index: &ShardIndex) -> Result<Checkpoint> {
    let mut files: Vec<String> = index.weight_map.values().cloned().collect();
    files.sort();
    files.dedup();
    let headers = read_headers(folder, files)?;
    let mut notes = Vec::new();
    for (file, header) in &headers {
        let mut unlisted = header
            .tensors
            .iter()
            .filter(|t| !index.weight_map.contains_key(&t.name));
        if let Some(first) = unlisted.clone().next() {
            // One note per shard, not one per tensor: a hostile shard may hold a million unlisted tensors.
            notes.push(
                Message::new(Key::NoteModelUnlisted)
                    .text("file", file.clone())
                    .count("tensors", unlisted.by_ref().count() as u64)
                    .text("first", format!("{:?}", first.name)),
            );
        }
        if let Some((t, mapped)) = header.tensors.iter().find_map(|t| {
            index
                .weight_map
                .get(&t.name)
                .filter(|mapped| *mapped != file)
                .map(|mapped| (t, mapped))
        }) {
            return Err(Error::invalid(
                format!("{}: tensor {:?}", folder.join(file).display(), t.name),
                format!("model.safetensors.index.json says it is in {mapped}"),
            ));
        }
    }
    let seen = unique_names(folder, &headers, "present in more than one shard")?;
    if let Some(missing) = index.weight_map.keys().find(|k| !seen.contains(k.as_str())) {
        return Err(Error::invalid(
            format!("model.safetensors.index.json: weight_map.{missing}"),
            format!(
                "not found in {}",
                index.weight_map.get(missing).map_or("", |s| s.as_str())
            ),
        ));
    }
    drop(seen);
    let mut checkpoint = into_checkpoint(headers, notes);
    if let Some(total) = index.total_size {
        if total != checkpoint.total_bytes {
            checkpoint.notes.push(
                Message::new(Key::NoteModelTotalSize)
                    .count("index", total)
                    .count("headers", checkpoint.total_bytes),
            );
        }
    }
    Ok(checkpoint)
}
