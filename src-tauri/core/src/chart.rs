//! What every exported chart shares (the Monitor's history, the Plan view's breakdown, a trace's timeline): the
//! writer that draws on either backend and leaves no broken file, the fonts, and the language of the words.
//!
//! Text uses DejaVu Sans, embedded from `assets/` (DejaVu fonts license, see `assets/DejaVuSans-LICENSE.txt`:
//! free to embed and redistribute), through plotters' `ab_glyph` feature, so no system font is needed for
//! English.
//!
//! A chart's words come from the backend message tables ([`crate::i18n`]), in the language asked for. DejaVu
//! has no Japanese, so a Japanese chart is drawn with a system CJK font (Noto Sans CJK, which the .deb depends
//! on through `fonts-noto-cjk`), checked first to draw every Japanese word the chart can write; without one the
//! words are English and the result says why ([`ChartLabels::fallback`]), never boxes for missing glyphs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ab_glyph::Font as _;
use plotters::prelude::*;
use plotters::style::FontStyle;
use serde::Serialize;

use crate::i18n::{self, Lang};
use crate::message::{Key, Message};
use crate::{Error, Result};

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// The family the embedded Latin font is registered under.
pub(crate) const FAMILY: &str = "sans-serif";
/// The family a Japanese chart's text is registered under and named in an SVG's `font-family`: the face the
/// font files below hold at index 0 (the one plotters reads from a collection), then any sans-serif for a
/// viewer without it.
const CJK_FAMILY: &str = "Noto Sans CJK JP, sans-serif";
/// Where distributions install Noto Sans CJK (Debian and Ubuntu's fonts-noto-cjk first, then Arch, Fedora).
const SYSTEM_CJK_FONTS: [&str; 3] = [
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-sans-cjk-fonts/NotoSansCJK-Regular.ttc",
];
/// A font file larger than this is not a font we can use (Noto Sans CJK's collection is about 19 MiB).
const MAX_FONT_BYTES: u64 = 64 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartFormat {
    Png,
    Svg,
}

/// The language a chart is asked for, and the font files tried, in order, for Japanese.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartLanguage {
    pub lang: Lang,
    /// The first that reads as a font and draws every Japanese label is used; the system's places by default
    /// (a test points this elsewhere).
    pub cjk_fonts: Vec<PathBuf>,
}

impl ChartLanguage {
    pub fn new(lang: Lang) -> Self {
        ChartLanguage {
            lang,
            cjk_fonts: SYSTEM_CJK_FONTS.iter().map(PathBuf::from).collect(),
        }
    }
}

impl Default for ChartLanguage {
    fn default() -> Self {
        ChartLanguage::new(Lang::En)
    }
}

/// The language a chart's words were written in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartLabels {
    pub lang: Lang,
    /// The font file a Japanese chart was drawn with.
    pub font: Option<PathBuf>,
    /// Why the words are English though Japanese was asked for: no font that draws them was found.
    pub fallback: Option<Message>,
}

impl ChartLabels {
    /// The fallback's reason in English, for a CLI warning or an export result's `note`.
    pub fn note(&self) -> Option<String> {
        self.fallback
            .as_ref()
            .map(|m| i18n::text_or(Lang::En, Some(m), &m.key))
    }
}

/// Where a chart the user asked for went (the Plan view's breakdown, a trace's timeline), and what they should
/// know about it.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct SavedChart {
    #[ts(type = "string")]
    pub path: PathBuf,
    /// A chart asked for in Japanese whose words are English because no font that draws Japanese was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub note: Option<String>,
    /// `note` as a message the UI renders in the user's language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub note_message: Option<Message>,
}

impl SavedChart {
    pub fn new(path: PathBuf, labels: ChartLabels) -> Self {
        SavedChart {
            path,
            note: labels.note(),
            note_message: labels.fallback,
        }
    }
}

/// The language a chart's words are written in and the font family that draws them.
#[derive(Clone, Copy)]
pub(crate) struct Words {
    pub(crate) lang: Lang,
    pub(crate) family: &'static str,
}

impl Words {
    pub(crate) fn say(self, message: Message) -> String {
        // Every key has a wording (i18n's tests), so the key itself is never what is drawn.
        i18n::text_or(self.lang, Some(&message), &message.key)
    }

    pub(crate) fn phrase(self, key: Key) -> String {
        self.say(Message::new(key))
    }
}

/// The language and font family to draw in: Japanese only with a font that draws every character of the
/// Japanese wordings of `keys` (all the keys the chart may write).
pub(crate) fn choose_labels(language: &ChartLanguage, keys: &[Key]) -> (ChartLabels, Words) {
    let english = |fallback| {
        let labels = ChartLabels {
            lang: Lang::En,
            font: None,
            fallback,
        };
        let words = Words {
            lang: Lang::En,
            family: FAMILY,
        };
        (labels, words)
    };
    match language.lang {
        Lang::En => english(None),
        Lang::Ja => {
            let needed = i18n::characters(Lang::Ja, keys);
            match register_cjk_font(&language.cjk_fonts, &needed) {
                Some(path) => {
                    let labels = ChartLabels {
                        lang: Lang::Ja,
                        font: Some(path),
                        fallback: None,
                    };
                    let words = Words {
                        lang: Lang::Ja,
                        family: CJK_FAMILY,
                    };
                    (labels, words)
                }
                None => {
                    tracing::warn!(
                        tried = ?language.cjk_fonts,
                        "no font that draws Japanese was found; the chart's labels are in English"
                    );
                    english(Some(Message::new(Key::ChartNoCjkFont)))
                }
            }
        }
    }
}

/// Registers the first of `candidates` that is a font with a glyph for every character of `needed` as
/// [`CJK_FAMILY`], and says which it was.
fn register_cjk_font(candidates: &[PathBuf], needed: &str) -> Option<PathBuf> {
    candidates.iter().find_map(|path| {
        let bytes = read_font(path)?;
        let font = ab_glyph::FontRef::try_from_slice(bytes).ok()?;
        let draws_all = needed
            .chars()
            .filter(|c| !c.is_whitespace())
            .all(|c| font.glyph_id(c).0 != 0);
        if !draws_all {
            tracing::warn!(font = %path.display(), "the font lacks some Japanese labels' characters");
            return None;
        }
        plotters::style::register_font(CJK_FAMILY, FontStyle::Normal, bytes)
            .ok()
            .map(|()| path.clone())
    })
}

/// A font file's bytes, read once per file: plotters' font table keeps fonts for the life of the process and
/// takes them as `'static`, so they are leaked once rather than read again for every chart.
fn read_font(path: &Path) -> Option<&'static [u8]> {
    static READ: OnceLock<Mutex<HashMap<PathBuf, &'static [u8]>>> = OnceLock::new();
    let mut read = READ.get_or_init(Mutex::default).lock().ok()?;
    if let Some(bytes) = read.get(path) {
        return Some(bytes);
    }
    let size = std::fs::metadata(path).ok()?.len();
    if size > MAX_FONT_BYTES {
        return None;
    }
    let bytes: &'static [u8] = Box::leak(std::fs::read(path).ok()?.into_boxed_slice());
    read.insert(path.to_path_buf(), bytes);
    Some(bytes)
}

/// plotters keeps its fonts in a process-wide table: registering once is all it needs.
fn register_font(out: &Path) -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if !ok {
        return Err(Error::io(
            out,
            std::io::Error::other("chart: the embedded font could not be read (a broken build)"),
        ));
    }
    Ok(())
}

/// A chart plotters can draw on either backend (SVG text, PNG bitmap), and how its plotting errors read.
pub(crate) trait Chart {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, plotters::coord::Shift>,
    ) -> Result<()>
    where
        DB::ErrorType: 'static;

    fn plot_error(&self, message: String) -> Error;
}

/// Writes `chart` to `out` beside and renamed, so a failed render leaves no broken file: SVG through the store's
/// atomic write, PNG through a temporary file removed again on failure.
pub(crate) fn write_chart(
    out: &Path,
    format: ChartFormat,
    size: (u32, u32),
    chart: &impl Chart,
) -> Result<()> {
    register_font(out)?;
    match format {
        ChartFormat::Svg => {
            let mut text = String::new();
            {
                let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
                chart.draw(&root)?;
                root.present()
                    .map_err(|e| chart.plot_error(e.to_string()))?;
            }
            crate::store::write_atomic(out, text.as_bytes())
        }
        ChartFormat::Png => {
            // plotters' bitmap encoder picks the format from the extension, so the temporary name ends in .png.
            let name = out
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let tmp = out.with_file_name(format!(".{name}.partial.png"));
            let drawn = (|| {
                let root = BitMapBackend::new(&tmp, size).into_drawing_area();
                chart.draw(&root)?;
                root.present().map_err(|e| chart.plot_error(e.to_string()))
            })();
            let result =
                drawn.and_then(|()| std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e)));
            if result.is_err() {
                // Leave no half-written file behind; it may not exist at all, which is fine.
                let _ = std::fs::remove_file(&tmp);
            }
            result
        }
    }
}
