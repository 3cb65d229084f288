//! Wall-clock instants as milliseconds since the Unix epoch, written as RFC 3339 UTC text at the edges
//! (CONTRACTS.md §4 `taken_at`). Kept as an integer inside so history columns stay 8 bytes a row.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, Result};

/// Milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, ts_rs::TS)]
#[ts(type = "string")]
pub struct Timestamp(pub u64);

impl schemars::JsonSchema for Timestamp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339 UTC time, e.g. 2026-11-29T20:00:00.123Z"
        })
    }
}

impl Timestamp {
    pub fn now() -> Self {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        Timestamp(u64::try_from(ms).unwrap_or(u64::MAX))
    }

    pub fn millis(self) -> u64 {
        self.0
    }

    pub fn plus_millis(self, ms: u64) -> Self {
        Timestamp(self.0.saturating_add(ms))
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff…](Z|+00:00)`; only UTC is accepted because that is all we write.
    pub fn parse(field: &str, text: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(
                field,
                format!("`{text}` is not an RFC 3339 UTC time like 2026-11-29T20:00:00Z"),
            )
        };
        let rest = text
            .strip_suffix('Z')
            .or_else(|| text.strip_suffix("+00:00"))
            .ok_or_else(bad)?;
        let (date, time) = rest.split_once('T').ok_or_else(bad)?;
        let mut d = date.splitn(3, '-');
        let year: i64 = num(d.next()).ok_or_else(bad)?;
        let month: u32 = num(d.next()).ok_or_else(bad)?;
        let day: u32 = num(d.next()).ok_or_else(bad)?;
        let (hms, frac) = match time.split_once('.') {
            Some((hms, frac)) => (hms, Some(frac)),
            None => (time, None),
        };
        let mut t = hms.splitn(3, ':');
        let h: u64 = num(t.next()).ok_or_else(bad)?;
        let m: u64 = num(t.next()).ok_or_else(bad)?;
        let s: u64 = num(t.next()).ok_or_else(bad)?;
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
            return Err(bad());
        }
        let ms = match frac {
            None => 0,
            Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
                // Keep the first three digits: we store milliseconds.
                let digits: String = f.chars().chain("000".chars()).take(3).collect();
                digits.parse::<u64>().map_err(|_| bad())?
            }
            Some(_) => return Err(bad()),
        };
        let days = days_from_civil(year, month, day);
        let days = u64::try_from(days).map_err(|_| bad())?;
        Ok(Timestamp(
            ((days * 86_400 + h * 3600 + m * 60 + s) * 1000) + ms,
        ))
    }
}

fn num<T: std::str::FromStr>(part: Option<&str>) -> Option<T> {
    let part = part?;
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date. Howard Hinnant, "chrono-Compatible Low-Level Date
/// Algorithms", `days_from_civil` (http://howardhinnant.github.io/date_algorithms.html).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`], same source (`civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC; milliseconds are written only when they are not zero, so whole seconds read as in
    /// CONTRACTS.md §4 (`2026-11-29T20:00:00Z`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0 / 1000;
        let ms = self.0 % 1000;
        let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )?;
        if ms != 0 {
            write!(f, ".{ms:03}")?;
        }
        f.write_str("Z")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse("taken_at", &text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_known_instants() {
        // 2026-11-29T20:00:00Z = 1_795_982_400 s (date -u -d 2026-11-29T20:00:00Z +%s).
        let t = Timestamp::parse("t", "2026-11-29T20:00:00Z").unwrap();
        assert_eq!(t.0, 1_795_982_400_000);
        assert_eq!(t.to_string(), "2026-11-29T20:00:00Z");
        let t = Timestamp::parse("t", "2024-02-29T23:59:59.5+00:00").unwrap();
        assert_eq!(t.to_string(), "2024-02-29T23:59:59.500Z");
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn rejects_other_zones_and_garbage() {
        for bad in [
            "2026-11-29T20:00:00+01:00",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "",
        ] {
            let err = Timestamp::parse("taken_at", bad).unwrap_err().to_string();
            assert!(err.starts_with("taken_at:"), "{err}");
        }
    }
}
