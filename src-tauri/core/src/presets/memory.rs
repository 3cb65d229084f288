//! `max_memory` limits as accelerate reads them: an integer of bytes, or a string with a unit (`"10GB"`,
//! `"10GiB"`, `"512MiB"`).
//!
//! Rules from accelerate `utils/modeling.py::convert_file_size_to_int`: the unit is matched case-insensitively
//! among `GIB`, `MIB`, `KIB` (powers of 2) and `GB`, `MB`, `KB` (powers of 10); a decimal unit written with a
//! lowercase final `b` (`"10Gb"`) means bits and is divided by 8; the number before it may have a fraction
//! (`"5.5GB"`); a negative size is refused. accelerate multiplies in floating point and truncates; we multiply
//! exactly in integers and truncate, which agrees except where the float product rounds across an integer.

use serde::{Deserialize, Serialize};

/// One device's limit, kept as the user wrote it (so exports show `"10GB"`, not `10000000000`) together with
/// its size in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemoryLimit {
    /// An integer of bytes.
    Bytes(u64),
    /// A string with a unit, and what it means in bytes.
    Text { text: String, bytes: u64 },
}

impl MemoryLimit {
    pub fn bytes(&self) -> u64 {
        match self {
            MemoryLimit::Bytes(b) => *b,
            MemoryLimit::Text { bytes, .. } => *bytes,
        }
    }

    /// Parse a string the way accelerate does (see the module comment).
    pub fn parse(text: &str) -> Result<Self, String> {
        let bytes = parse_size(text)?;
        Ok(MemoryLimit::Text {
            text: text.to_string(),
            bytes,
        })
    }
}

const UNITS: [(&str, u128, bool); 6] = [
    // (suffix, multiplier, decimal: a lowercase final "b" means bits)
    ("GIB", 1 << 30, false),
    ("MIB", 1 << 20, false),
    ("KIB", 1 << 10, false),
    ("GB", 1_000_000_000, true),
    ("MB", 1_000_000, true),
    ("KB", 1_000, true),
];

fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "{text:?} is not a memory size: write an integer of bytes or a number with a unit \
             (GiB, MiB, KiB, GB, MB, KB), such as \"10GiB\" or \"30GB\""
        )
    };
    let upper = text.to_ascii_uppercase();
    let (suffix, multiplier, decimal) = UNITS
        .iter()
        .find(|(suffix, _, _)| upper.ends_with(suffix))
        .copied()
        .ok_or_else(bad)?;
    let number = text
        .get(..text.len() - suffix.len())
        .ok_or_else(bad)?
        .trim();
    let bits = decimal && text.ends_with('b');
    let (whole, fraction) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    if (whole.is_empty() && fraction.is_empty())
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || fraction.len() > 18
        || whole.len() > 20
    {
        return Err(bad());
    }
    let too_big = || format!("{text:?} is larger than any memory (more than 2^64 bytes)");
    let whole_value: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_big())?
    };
    let fraction_value: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().map_err(|_| bad())?
    };
    let scale = 10u128.pow(fraction.len() as u32);
    let total = whole_value
        .checked_mul(multiplier)
        .and_then(|w| w.checked_add(fraction_value * multiplier / scale))
        .ok_or_else(too_big)?;
    let total = if bits { total / 8 } else { total };
    u64::try_from(total).map_err(|_| too_big())
}

impl Serialize for MemoryLimit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            MemoryLimit::Bytes(b) => s.serialize_u64(*b),
            MemoryLimit::Text { text, .. } => s.serialize_str(text),
        }
    }
}

impl<'de> Deserialize<'de> for MemoryLimit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = MemoryLimit;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an integer of bytes or a string such as \"10GiB\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<MemoryLimit, E> {
                Ok(MemoryLimit::Bytes(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<MemoryLimit, E> {
                u64::try_from(v)
                    .map(MemoryLimit::Bytes)
                    .map_err(|_| E::custom(format!("{v} is negative: a memory size cannot be")))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<MemoryLimit, E> {
                // accelerate takes `int` or `str`; a float is neither.
                Err(E::custom(format!(
                    "{v} is not an integer of bytes; write a string with a unit such as \"10GiB\""
                )))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<MemoryLimit, E> {
                MemoryLimit::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_follow_accelerate() {
        for (text, bytes) in [
            ("10GiB", 10 << 30),
            ("10gib", 10 << 30),
            ("10GB", 10_000_000_000),
            ("10Gb", 1_250_000_000),
            ("512MiB", 512 << 20),
            ("1.5GB", 1_500_000_000),
            ("0.5KiB", 512),
            ("30GB", 30_000_000_000),
        ] {
            assert_eq!(MemoryLimit::parse(text).unwrap().bytes(), bytes, "{text}");
        }
        for bad in [
            "", "10", "GB", "-1GB", "ten GB", "1e3GB", "10TB", ".GB", "1.2.3GB",
        ] {
            assert!(MemoryLimit::parse(bad).is_err(), "{bad}");
        }
        assert!(MemoryLimit::parse("99999999999999999999GiB").is_err());
    }

    #[test]
    fn spelling_survives_a_round_trip() {
        let limit: MemoryLimit = serde_json::from_str("\"10GB\"").unwrap();
        assert_eq!(serde_json::to_string(&limit).unwrap(), "\"10GB\"");
        let limit: MemoryLimit = serde_json::from_str("1024").unwrap();
        assert_eq!(limit.bytes(), 1024);
        assert!(serde_json::from_str::<MemoryLimit>("-5").is_err());
        assert!(serde_json::from_str::<MemoryLimit>("1.5").is_err());
    }
}
