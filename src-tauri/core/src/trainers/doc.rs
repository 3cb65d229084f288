//! One trainer config being read: its keys by dotted path, which of them a reader has dealt with, and what it
//! made of them. [`Doc::finish`] lists every key no reader touched as not understood, so a key can be mapped,
//! ignored or unknown, never dropped.

use std::collections::BTreeSet;

use serde_json::Value;

use super::report::{IgnoredKey, NotUnderstood};

/// A plan key a file sets, with where it came from.
#[derive(Debug, Clone)]
pub struct Set {
    pub plan_key: String,
    pub plan_value: Value,
    pub key: String,
    pub value: Value,
    pub note: Option<String>,
}

/// A value left to the trainer (`"auto"`): what it becomes is decided after every file is read.
#[derive(Debug, Clone)]
pub struct Pending {
    pub plan_key: String,
    pub key: String,
    /// What it becomes when no other file gives the plan key: the value and why.
    pub fallback: Option<(Value, String)>,
    /// Why, when no other file gives it and there is no fallback (the plan's default applies).
    pub default_why: String,
}

/// An `"auto"` (or trainer-decided) value resolved while reading its own file.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub plan_key: String,
    pub key: String,
    pub became: Value,
    pub why: String,
}

/// Another file this one names (a `deepspeed:` JSON path), to load as well.
#[derive(Debug, Clone)]
pub struct Named {
    pub key: String,
    pub path: String,
}

pub struct Doc {
    pub file: String,
    root: Value,
    leaves: Vec<String>,
    used: BTreeSet<String>,
    /// Paths some report entry speaks for (a mapping, an ignore, a not-understood, an auto value).
    covered: BTreeSet<String>,
    pub sets: Vec<Set>,
    pub pending: Vec<Pending>,
    pub resolved: Vec<Resolved>,
    pub ignored: Vec<IgnoredKey>,
    pub not_understood: Vec<NotUnderstood>,
    pub named: Vec<Named>,
}

/// Everything a finished document says.
pub struct DocResult {
    pub file: String,
    pub sets: Vec<Set>,
    pub pending: Vec<Pending>,
    pub resolved: Vec<Resolved>,
    pub ignored: Vec<IgnoredKey>,
    pub not_understood: Vec<NotUnderstood>,
    pub named: Vec<Named>,
}

impl Doc {
    pub fn new(file: impl Into<String>, root: Value) -> Doc {
        let mut leaves = Vec::new();
        collect_leaves(&root, String::new(), &mut leaves);
        Doc {
            file: file.into(),
            root,
            leaves,
            used: BTreeSet::new(),
            covered: BTreeSet::new(),
            sets: Vec::new(),
            pending: Vec::new(),
            resolved: Vec::new(),
            ignored: Vec::new(),
            not_understood: Vec::new(),
            named: Vec::new(),
        }
    }

    /// The value at a dotted path without marking it; `null` counts as absent (YAML's `key:` with nothing after
    /// it means "unset").
    pub fn peek(&self, path: &str) -> Option<&Value> {
        let mut v = &self.root;
        for part in path.split('.') {
            v = v.as_object()?.get(part)?;
        }
        (!v.is_null()).then_some(v)
    }

    /// The value at a dotted path, marking it (and everything under it) as dealt with.
    pub fn take(&mut self, path: &str) -> Option<Value> {
        let v = self.peek(path).cloned();
        self.mark(path);
        v
    }

    fn mark(&mut self, path: &str) {
        let below = format!("{path}.");
        for leaf in &self.leaves {
            if leaf == path || leaf.starts_with(&below) {
                self.used.insert(leaf.clone());
            }
        }
    }

    /// Marks every key under `path` as known and without effect on memory, saying why once for the path.
    pub fn ignore(&mut self, path: &str, why: &str) {
        let below = format!("{path}.");
        let fresh = self
            .leaves
            .iter()
            .any(|l| (l == path || l.starts_with(&below)) && !self.is_covered(l));
        // Absent, unset, or every key under it already dealt with: nothing to say.
        if self.peek(path).is_none() || !fresh {
            self.mark(path);
            return;
        }
        self.mark(path);
        self.covered.insert(path.to_string());
        self.ignored.push(IgnoredKey {
            file: self.file.clone(),
            key: path.to_string(),
            why: why.to_string(),
        });
    }

    /// Every key in `paths` is ignored for the same reason.
    pub fn ignore_all(&mut self, paths: &[&str], why: &str) {
        for p in paths {
            self.ignore(p, why);
        }
    }

    /// The top-level keys of the file (for readers that ignore whole families by prefix).
    pub fn top_keys(&self) -> Vec<String> {
        self.root
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Marks a key as read but not expressible in a plan, saying why.
    pub fn not_understood(&mut self, path: &str, value: Value, why: impl Into<String>) {
        self.mark(path);
        self.covered.insert(path.to_string());
        self.not_understood.push(NotUnderstood {
            file: self.file.clone(),
            key: path.to_string(),
            value,
            why: why.into(),
        });
    }

    /// The file sets `plan_key` from `key`.
    pub fn set(&mut self, plan_key: &str, plan_value: Value, key: &str, value: Value) {
        self.set_noted(plan_key, plan_value, key, value, None);
    }

    /// `key` as a positive whole number into `plan_key`; anything else is listed as not understood.
    pub fn take_count(&mut self, key: &str, plan_key: &str) {
        if let Some(v) = self.take(key) {
            match as_count(&v) {
                Some(n) => self.set(plan_key, serde_json::json!(n), key, v),
                None => self.not_understood(key, v, "expected a positive whole number"),
            }
        }
    }

    /// `key` as a number into `plan_key`; anything else is listed as not understood.
    pub fn take_number(&mut self, key: &str, plan_key: &str) {
        if let Some(v) = self.take(key) {
            match as_f64(&v) {
                Some(x) => self.set(plan_key, serde_json::json!(x), key, v),
                None => self.not_understood(key, v, "expected a number"),
            }
        }
    }

    pub fn set_noted(
        &mut self,
        plan_key: &str,
        plan_value: Value,
        key: &str,
        value: Value,
        note: Option<String>,
    ) {
        self.mark(key);
        self.covered.insert(key.to_string());
        // Two keys of one file may set one plan key (transformers 5 writes gradient_checkpointing and
        // activation_checkpointing); the later, more specific one decides, and both are listed.
        self.sets.push(Set {
            plan_key: plan_key.to_string(),
            plan_value,
            key: key.to_string(),
            value,
            note,
        });
    }

    /// `path` fed the mapping just made too (one of several switches behind `lora.target_modules`): it is listed
    /// as mapped to the same plan key. Absent, it says nothing.
    pub fn cover(&mut self, path: &str) {
        let value = self.peek(path).cloned();
        self.mark(path);
        let (Some(value), Some(last)) = (value, self.sets.last().cloned()) else {
            return;
        };
        self.covered.insert(path.to_string());
        self.sets.push(Set {
            key: path.to_string(),
            value,
            note: Some(format!("read with {}", last.key)),
            ..last
        });
    }

    /// Another file this one names, to load beside it.
    pub fn name_file(&mut self, key: &str, path: String) {
        self.mark(key);
        self.covered.insert(key.to_string());
        self.named.push(Named {
            key: key.to_string(),
            path,
        });
    }

    fn is_covered(&self, leaf: &str) -> bool {
        self.covered
            .iter()
            .any(|c| leaf == c || leaf.starts_with(&format!("{c}.")))
    }

    pub fn sets_key(&self, plan_key: &str) -> bool {
        self.sets.iter().any(|s| s.plan_key == plan_key)
    }

    pub fn resolve(&mut self, plan_key: &str, key: &str, became: Value, why: impl Into<String>) {
        self.mark(key);
        self.covered.insert(key.to_string());
        self.resolved.push(Resolved {
            plan_key: plan_key.to_string(),
            key: key.to_string(),
            became,
            why: why.into(),
        });
    }

    pub fn pend(&mut self, pending: Pending) {
        self.mark(&pending.key.clone());
        self.covered.insert(pending.key.clone());
        self.pending.push(pending);
    }

    /// Every key no report entry speaks for: one a reader read whose value changed nothing (an off switch, a
    /// default) is ignored as such; an unset one (`null`) is ignored as unset; the rest are not understood.
    pub fn finish(mut self) -> DocResult {
        let loose: Vec<String> = self
            .leaves
            .iter()
            .filter(|l| !self.is_covered(l))
            .cloned()
            .collect();
        for leaf in loose {
            let value = lookup(&self.root, &leaf).cloned().unwrap_or(Value::Null);
            let why = if value.is_null() || value.as_object().is_some_and(|o| o.is_empty()) {
                Some("no value: unset")
            } else if self.used.contains(&leaf) {
                Some("read: its value changes nothing in the plan (an off switch or the default)")
            } else {
                None
            };
            match why {
                Some(why) => self.ignored.push(IgnoredKey {
                    file: self.file.clone(),
                    key: leaf,
                    why: why.into(),
                }),
                None => self.not_understood.push(NotUnderstood {
                    file: self.file.clone(),
                    key: leaf,
                    value,
                    why: "not a key Headroom knows for this format".into(),
                }),
            }
        }
        DocResult {
            file: self.file,
            sets: self.sets,
            pending: self.pending,
            resolved: self.resolved,
            ignored: self.ignored,
            not_understood: self.not_understood,
            named: self.named,
        }
    }
}

fn lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut v = root;
    for part in path.split('.') {
        v = v.as_object()?.get(part)?;
    }
    Some(v)
}

/// Dotted paths of every leaf: scalars, arrays (a list is one value) and empty objects.
fn collect_leaves(v: &Value, prefix: String, out: &mut Vec<String>) {
    match v {
        Value::Object(o) if !o.is_empty() => {
            for (k, child) in o {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                collect_leaves(child, path, out);
            }
        }
        _ if prefix.is_empty() => {}
        _ => out.push(prefix),
    }
}

/// A value as a bool, reading YAML's and Python's spellings too (`"true"`, `"True"`).
pub fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" => Some(true),
            "false" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A positive whole number (also from a string of digits, or a float with no fraction such as YAML's `1e9`).
pub fn as_count(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| {
                n.as_f64()
                    .filter(|x| x.fract() == 0.0 && *x >= 1.0)
                    .map(|x| x as u64)
            })
            .filter(|n| *n >= 1),
        // YAML 1.1 writes digits grouped by underscores (`500_000`); a YAML 1.2 reader keeps it a string.
        Value::String(s) => s
            .trim()
            .replace('_', "")
            .parse::<u64>()
            .ok()
            .filter(|n| *n >= 1),
        _ => None,
    }
}

pub fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub fn is_auto(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("auto"))
}
