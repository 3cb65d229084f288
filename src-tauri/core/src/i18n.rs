//! The core's own rendering of [`Message`]s, for the words it writes where the window cannot translate them: desktop
//! notifications (shown while the window may be hidden) and exported chart files.
//!
//! There is one table of wordings per language, `ui/src/lib/messages/backend.{en,ja}.json`: the UI imports it and
//! this module embeds the same files, so a sentence is translated once. Arguments are formatted as the UI's
//! `lib/messageText.ts` and `lib/format.ts` do it (sizes in GiB/MiB/KiB, thousands separators, durations), so a
//! notification reads like the Monitor view's alert list.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::message::{Key, Message, MessageArg};
use crate::settings::Language;

static EN: &str = include_str!("../../../ui/src/lib/messages/backend.en.json");
static JA: &str = include_str!("../../../ui/src/lib/messages/backend.ja.json");

const GIB: f64 = (1u64 << 30) as f64;
const MIB: f64 = (1u64 << 20) as f64;
const KIB: f64 = (1u64 << 10) as f64;

/// A language the backend can write in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Lang {
    #[default]
    En,
    Ja,
}

impl Lang {
    /// The language a system locale such as `ja_JP.UTF-8` names: Japanese for `ja…`, English for anything else
    /// or none (the UI's `languageForLocale`).
    pub fn for_locale(locale: Option<&str>) -> Lang {
        match locale {
            Some(l) if l.to_ascii_lowercase().starts_with("ja") => Lang::Ja,
            _ => Lang::En,
        }
    }

    /// The language Settings › Language picks; `auto` follows `locale`, the OS locale the UI also follows.
    pub fn for_setting(setting: Language, locale: Option<&str>) -> Lang {
        match setting {
            Language::En => Lang::En,
            Language::Ja => Lang::Ja,
            Language::Auto => Lang::for_locale(locale),
        }
    }

    /// [`Lang::for_setting`] in this process: `auto` follows the OS locale its environment names
    /// ([`os_locale`]). The app and the CLI both resolve Settings › Language this way.
    pub fn for_setting_here(setting: Language) -> Lang {
        Lang::for_setting(setting, os_locale(|var| std::env::var(var).ok()).as_deref())
    }

    /// The wording of every key in this language. The tables are embedded at build time and checked by the
    /// tests below, so an unreadable one is a broken build: it reads as empty, and every text falls back to
    /// the caller's English.
    fn table(self) -> &'static HashMap<String, String> {
        static TABLES: OnceLock<[HashMap<String, String>; 2]> = OnceLock::new();
        let tables = TABLES
            .get_or_init(|| [EN, JA].map(|json| serde_json::from_str(json).unwrap_or_default()));
        &tables[self as usize]
    }
}

/// The OS locale by the POSIX precedence for message language (`LC_ALL`, `LC_MESSAGES`, then `LANG`); `C` and
/// `POSIX` say nothing about language.
pub fn os_locale(env: impl Fn(&str) -> Option<String>) -> Option<String> {
    ["LC_ALL", "LC_MESSAGES", "LANG"]
        .into_iter()
        .filter_map(env)
        .find(|v| !v.is_empty())
        .filter(|v| !matches!(v.as_str(), "C" | "POSIX") && !v.starts_with("C."))
}

/// The message in `lang`, or `None` when the table lacks its key (which the tests rule out for every [`Key`]).
pub fn render(lang: Lang, message: &Message) -> Option<String> {
    let template = lang.table().get(&message.key)?;
    let values: HashMap<&str, String> = message
        .args
        .iter()
        .map(|(name, arg)| (name.as_str(), format_arg(lang, arg)))
        .collect();
    Some(fill(template, &values))
}

/// [`render`], or `english` (the text the backend sends beside the message) when there is no message or no
/// wording for it.
pub fn text_or(lang: Lang, message: Option<&Message>, english: &str) -> String {
    message
        .and_then(|m| render(lang, m))
        .unwrap_or_else(|| english.to_string())
}

/// A message of one key and no arguments, such as a chart's axis title.
pub fn phrase(lang: Lang, key: Key) -> String {
    render(lang, &Message::new(key)).unwrap_or_default()
}

/// Every character of `lang`'s wordings for `keys`: what a font must cover to draw them.
pub fn characters(lang: Lang, keys: &[Key]) -> String {
    keys.iter()
        .filter_map(|k| lang.table().get(k.as_str()))
        .flat_map(|t| t.chars())
        .collect()
}

/// Fills `{name}` placeholders; an unknown one stays visible rather than hiding the gap (as the UI's `format`).
fn fill(template: &str, values: &HashMap<&str, String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}');
        let name = close
            .map(|c| &after[..c])
            .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        match (name, close) {
            (Some(name), Some(close)) => {
                match values.get(name) {
                    Some(v) => out.push_str(v),
                    None => out.push_str(&rest[open..open + close + 2]),
                }
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn format_arg(lang: Lang, arg: &MessageArg) -> String {
    match arg {
        MessageArg::Text(t) => t.clone(),
        MessageArg::Bytes(b) => format_bytes(lang, *b),
        MessageArg::Count(n) => group(&n.to_string()),
        MessageArg::Number { value, digits } => format_number(*value, *digits),
        MessageArg::DurationMs(ms) => format_duration(lang, *ms),
        // A phrase of the sentence, in the same language; an unknown one leaves nothing rather than a key.
        MessageArg::Message(inner) => render(lang, inner).unwrap_or_default(),
    }
}

fn unit(lang: Lang, key: &str, n: String) -> String {
    let template = lang.table().get(key).map_or("{n}", String::as_str);
    fill(template, &HashMap::from([("n", n)]))
}

/// "21.37 GiB", "512.0 MiB", "3.5 KiB", "12 bytes": the largest binary unit that keeps the size at least 1.
pub fn format_bytes(lang: Lang, bytes: u64) -> String {
    let b = bytes as f64;
    if b >= GIB {
        format!("{} GiB", format_number(b / GIB, 2))
    } else if b >= MIB {
        format!("{} MiB", format_number(b / MIB, 1))
    } else if b >= KIB {
        format!("{} KiB", format_number(b / KIB, 1))
    } else {
        unit(lang, "unit.bytes", group(&bytes.to_string()))
    }
}

/// "45 s", "12 min", "2.5 h" (in the language's unit words): the largest unit that keeps it at least 1.
fn format_duration(lang: Lang, ms: u64) -> String {
    let s = ms as f64 / 1000.0;
    if s < 60.0 {
        unit(lang, "unit.seconds", format_number(s, 0))
    } else if s < 7200.0 {
        unit(
            lang,
            "unit.minutes",
            group(&((s / 60.0).floor() as u64).to_string()),
        )
    } else {
        unit(lang, "unit.hours", format_number(s / 3600.0, 1))
    }
}

/// A number with exactly `digits` decimals and thousands separators. English (en-GB) and Japanese (ja-JP) write
/// numbers alike: `1,234.5`.
fn format_number(value: f64, digits: u8) -> String {
    let text = format!("{:.*}", usize::from(digits), value.abs());
    let (whole, fraction) = text
        .split_once('.')
        .map_or((text.as_str(), None), |(w, f)| (w, Some(f)));
    let sign = if value < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') {
        "-"
    } else {
        ""
    };
    match fraction {
        Some(f) => format!("{sign}{}.{f}", group(whole)),
        None => format!("{sign}{}", group(whole)),
    }
}

/// Thousands separators on a run of digits.
fn group(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholders(text: &str) -> Vec<String> {
        let mut names: Vec<String> = text
            .split('{')
            .skip(1)
            .filter_map(|s| s.split_once('}').map(|(n, _)| n.to_string()))
            // A placeholder is a word, as the UI's `/\{(\w+)\}/` reads it; other braces are text.
            .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// What the UI's tests check of its copy, checked here too: the core renders from these tables alone.
    #[test]
    fn every_key_has_a_wording_in_both_languages_with_its_arguments() {
        for lang in [Lang::En, Lang::Ja] {
            assert!(
                lang.table().len() > Key::ALL.len(),
                "{lang:?} table did not parse"
            );
            for key in Key::ALL {
                let text = lang
                    .table()
                    .get(key.as_str())
                    .unwrap_or_else(|| panic!("{lang:?} lacks {}", key.as_str()));
                assert!(!text.trim().is_empty(), "{lang:?} {}", key.as_str());
                let mut want: Vec<String> = key.args().iter().map(|a| a.to_string()).collect();
                want.sort();
                assert_eq!(placeholders(text), want, "{lang:?} {}", key.as_str());
            }
            for unit in ["unit.seconds", "unit.minutes", "unit.hours", "unit.bytes"] {
                assert!(lang.table().contains_key(unit), "{lang:?} lacks {unit}");
            }
        }
    }

    #[test]
    fn the_setting_picks_the_language_and_auto_follows_the_locale() {
        assert_eq!(
            Lang::for_setting(Language::Ja, Some("en_US.UTF-8")),
            Lang::Ja
        );
        assert_eq!(
            Lang::for_setting(Language::En, Some("ja_JP.UTF-8")),
            Lang::En
        );
        assert_eq!(
            Lang::for_setting(Language::Auto, Some("ja_JP.UTF-8")),
            Lang::Ja
        );
        assert_eq!(Lang::for_setting(Language::Auto, Some("JA")), Lang::Ja);
        assert_eq!(Lang::for_setting(Language::Auto, Some("de_DE")), Lang::En);
        assert_eq!(Lang::for_setting(Language::Auto, None), Lang::En);
    }

    #[test]
    fn lc_all_wins_and_c_means_unknown() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |var: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == var)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            os_locale(env(&[("LANG", "en_US.UTF-8"), ("LC_ALL", "ja_JP.UTF-8")])).as_deref(),
            Some("ja_JP.UTF-8")
        );
        assert_eq!(
            os_locale(env(&[("LANG", "de_DE.UTF-8")])).as_deref(),
            Some("de_DE.UTF-8")
        );
        assert_eq!(os_locale(env(&[("LANG", "C.UTF-8")])), None);
        assert_eq!(os_locale(env(&[])), None);
    }

    #[test]
    fn arguments_are_formatted_as_the_ui_formats_them() {
        let m = Message::new(Key::RecCheckpointingFull)
            .text("pid", "4242")
            .bytes("grew", 9 * (1 << 30) + (1 << 29))
            .duration_ms("window", 120_000)
            .duration_ms("full_in", 45_000);
        assert_eq!(
            render(Lang::En, &m).unwrap(),
            "pid 4242 grew by 9.50 GiB in the last 2 min; full in about 45 s; gradient checkpointing keeps far fewer activations"
        );
        let ja = render(Lang::Ja, &m).unwrap();
        assert!(
            ja.contains("9.50 GiB") && ja.contains("2 分") && ja.contains("45 秒"),
            "{ja}"
        );
        assert_eq!(format_bytes(Lang::En, 512 << 20), "512.0 MiB");
        assert_eq!(format_bytes(Lang::En, 1536), "1.5 KiB");
        assert_eq!(format_bytes(Lang::En, 12), "12 bytes");
        assert_eq!(format_bytes(Lang::Ja, 12), "12 バイト");
        assert_eq!(format_number(1_234_567.891, 2), "1,234,567.89");
        assert_eq!(format_number(-0.001, 1), "0.0");
        assert_eq!(format_number(-12.5, 1), "-12.5");
        assert_eq!(format_duration(Lang::En, 3 * 3_600_000), "3.0 h");
        assert_eq!(group("1048576"), "1,048,576");
        let nested = Message::new(Key::NoteCalibrated)
            .message(
                "runs",
                Message::new(Key::NoteRunsTrain).count("count", 1200),
            )
            .bytes("context", 500 << 20)
            .number("slack", 1.08, 2)
            .phrase("fit", Key::NoteFitRegression);
        assert!(render(Lang::En, &nested)
            .unwrap()
            .starts_with("calibrated on this machine from 1,200 training runs: CUDA context 500.0 MiB, allocator slack 1.08"));
    }

    #[test]
    fn an_unknown_placeholder_stays_visible_and_braces_pass_through() {
        let values = HashMap::from([("a", "1".to_string())]);
        assert_eq!(fill("{a} of {b}", &values), "1 of {b}");
        assert_eq!(
            fill("set {a}, {not a name} {", &values),
            "set 1, {not a name} {"
        );
    }
}
