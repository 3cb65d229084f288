//! A recording's history as a PNG or SVG chart, drawn headless by plotters: used GiB per GPU and per process over
//! time. Each series is downsampled with min/max buckets to twice the plot's width first, so a 24-hour chart draws
//! in milliseconds and its spikes still show.
//!
//! Text uses DejaVu Sans, embedded from `assets/` (DejaVu fonts license, see `assets/DejaVuSans-LICENSE.txt`:
//! free to embed and redistribute), through plotters' `ab_glyph` feature, so no system font is needed.
//!
//! The chart's words come from the backend message tables ([`crate::i18n`]), in the language asked for. DejaVu
//! has no Japanese, so a Japanese chart is drawn with a system CJK font (Noto Sans CJK, which the .deb depends
//! on through `fonts-noto-cjk`), checked to draw every Japanese label first; without one the words are English
//! and the result says why ([`ChartLabels::fallback`]), never boxes for missing glyphs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ab_glyph::Font as _;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::history::{History, HistoryConfig, HistoryWindow, SeriesWindow};
use super::record::Reader;
use super::{Timestamp, GIB};
use crate::i18n::{self, Lang};
use crate::message::{Key, Message};
use crate::{Error, Result};

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// The GPU lines' colours, the same as the Monitor view's (ui/src/lib/components/chart.ts), so a GPU keeps its
/// colour between the window and an export.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0x25, 0x63, 0xeb),
    RGBColor(0x16, 0xa3, 0x4a),
    RGBColor(0x93, 0x33, 0xea),
    RGBColor(0xea, 0x58, 0x0c),
    RGBColor(0x08, 0x91, 0xb2),
    RGBColor(0xdb, 0x27, 0x77),
    RGBColor(0x65, 0xa3, 0x0d),
    RGBColor(0xa1, 0x62, 0x07),
];
/// The capacity line's colour, as in the Monitor view.
const CAPACITY: RGBColor = RGBColor(0x64, 0x74, 0x8b);
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
/// Every key a history chart's words come from: what a font must draw for the chart to be in that language.
const CHART_KEYS: [Key; 8] = [
    Key::ChartTitle,
    Key::ChartAxisSeconds,
    Key::ChartAxisMinutes,
    Key::ChartAxisHours,
    Key::ChartAxisUsed,
    Key::ChartCapacity,
    Key::ChartGpu,
    Key::ChartProcess,
];

/// plotters keeps its fonts in a process-wide table: registering once is all it needs.
pub(crate) fn register_font(out: &Path) -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if !ok {
        return Err(plot_error(
            out,
            "the embedded font could not be read (a broken build)",
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartFormat {
    Png,
    Svg,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartOptions {
    pub width: u32,
    pub height: u32,
    /// Also draw one line per process.
    pub processes: bool,
    /// The language of the chart's words, and where a font for it is looked for.
    pub language: ChartLanguage,
}

impl Default for ChartOptions {
    fn default() -> Self {
        ChartOptions {
            width: 1200,
            height: 600,
            processes: true,
            language: ChartLanguage::default(),
        }
    }
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

/// The language and font family to draw in: Japanese only with a font that draws every Japanese label.
fn choose_labels(language: &ChartLanguage) -> (ChartLabels, &'static str) {
    let english = |fallback| {
        let labels = ChartLabels {
            lang: Lang::En,
            font: None,
            fallback,
        };
        (labels, FAMILY)
    };
    match language.lang {
        Lang::En => english(None),
        Lang::Ja => {
            let needed = i18n::characters(Lang::Ja, &CHART_KEYS);
            match register_cjk_font(&language.cjk_fonts, &needed) {
                Some(path) => {
                    let labels = ChartLabels {
                        lang: Lang::Ja,
                        font: Some(path),
                        fallback: None,
                    };
                    (labels, CJK_FAMILY)
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

/// Loads a recording into a history large enough for all of it (up to 7 days at 1 Hz) and charts all of it.
pub fn chart_recording(
    recording: &Path,
    out: &Path,
    format: ChartFormat,
    options: ChartOptions,
) -> Result<ChartLabels> {
    let mut reader = Reader::open(recording)?;
    let mut history = History::new(HistoryConfig {
        capacity: 7 * 86_400,
        process_capacity: 7 * 86_400,
        ..HistoryConfig::default()
    })?;
    while let Some(s) = reader.next_snapshot()? {
        history.push(&s);
    }
    if history.is_empty() {
        return Err(Error::invalid(
            "recording",
            format!("{} has no snapshots to chart", recording.display()),
        ));
    }
    let window = history.window(
        Timestamp(0),
        Timestamp(u64::MAX - 1),
        options.width as usize * 2,
    );
    render(&window, &reader.header().source, out, format, options)
}

/// Draws a window to `out` (written beside and renamed, so a failed render leaves no broken file), saying in
/// which language its words are.
pub fn render(
    window: &HistoryWindow,
    title: &str,
    out: &Path,
    format: ChartFormat,
    options: ChartOptions,
) -> Result<ChartLabels> {
    if !(200..=8000).contains(&options.width) || !(150..=8000).contains(&options.height) {
        return Err(Error::invalid(
            "size",
            "width 200 to 8000 and height 150 to 8000 pixels",
        ));
    }
    let (labels, family) = choose_labels(&options.language);
    let chart = HistoryChart {
        window,
        title,
        options: &options,
        words: Words {
            lang: labels.lang,
            family,
        },
        out,
    };
    write_chart(out, format, (options.width, options.height), &chart)?;
    Ok(labels)
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

/// The language a chart's words are written in and the font family that draws them.
#[derive(Clone, Copy)]
struct Words {
    lang: Lang,
    family: &'static str,
}

impl Words {
    fn say(self, message: Message) -> String {
        // Every key has a wording (i18n's tests), so the key itself is never what is drawn.
        i18n::text_or(self.lang, Some(&message), &message.key)
    }
}

/// A history window drawn as lines of used bytes over time.
struct HistoryChart<'a> {
    window: &'a HistoryWindow,
    title: &'a str,
    options: &'a ChartOptions,
    words: Words,
    out: &'a Path,
}

impl Chart for HistoryChart<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, plotters::coord::Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        draw(root, self, self.out)
    }

    fn plot_error(&self, message: String) -> Error {
        plot_error(self.out, message)
    }
}

/// A plotting failure is a failure to write the chart file: an I/O error on `out`, so it keeps the exit status
/// and IPC code of any other write failure (no error variant of its own for the shell to map).
fn plot_error(out: &Path, e: impl std::fmt::Display) -> Error {
    Error::io(out, std::io::Error::other(format!("chart: {e}")))
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    chart: &HistoryChart<'_>,
    out: &Path,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let HistoryChart {
        window,
        title,
        options,
        words,
        ..
    } = *chart;
    let family = words.family;
    root.fill(&WHITE).map_err(|e| plot_error(out, e))?;
    let mut series: Vec<&SeriesWindow> = window.gpus.iter().collect();
    if options.processes {
        series.extend(window.processes.iter());
    }
    let start = series
        .iter()
        .filter_map(|s| s.used.t.first())
        .min()
        .copied()
        .unwrap_or(0);
    let end = series
        .iter()
        .filter_map(|s| s.used.t.last())
        .max()
        .copied()
        .unwrap_or(start);
    // Seconds for a short recording, minutes up to three hours, hours beyond: axis labels stay readable.
    let span_ms = end.saturating_sub(start);
    let (unit_ms, axis) = match span_ms {
        0..=120_000 => (1_000.0, Key::ChartAxisSeconds),
        120_001..=10_800_000 => (60_000.0, Key::ChartAxisMinutes),
        _ => (3_600_000.0, Key::ChartAxisHours),
    };
    let x_of = move |t: u64| (t.saturating_sub(start)) as f64 / unit_ms;
    let x_max = x_of(end).max(1.0);
    let y_max = series
        .iter()
        .flat_map(|s| {
            s.total_bytes
                .into_iter()
                .chain(s.used.v.iter().flatten().copied())
        })
        .max()
        .unwrap_or(GIB) as f64
        / GIB as f64;
    let mut chart = ChartBuilder::on(root)
        .caption(
            words.say(Message::new(Key::ChartTitle).text("source", title)),
            (family, 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, 0.0..(y_max * 1.05).max(0.1))
        .map_err(|e| plot_error(out, e))?;
    chart
        .configure_mesh()
        .x_desc(words.say(Message::new(axis).text("since", Timestamp(start).to_string())))
        .y_desc(words.say(Message::new(Key::ChartAxisUsed)))
        .label_style((family, 13))
        .draw()
        .map_err(|e| plot_error(out, e))?;
    // The board's memory as a labelled line, as the Monitor view draws it: how close each line runs to it.
    if let Some(total) = window.gpus.iter().filter_map(|s| s.total_bytes).max() {
        let y = total as f64 / GIB as f64;
        let style = CAPACITY.stroke_width(1);
        chart
            .draw_series(DashedLineSeries::new(
                vec![(0.0, y), (x_max, y)],
                6,
                4,
                style,
            ))
            .map_err(|e| plot_error(out, e))?
            .label(words.say(Message::new(Key::ChartCapacity).bytes("size", total)))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
    }
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()].to_rgba();
        let style = if s.pid.is_some() {
            color.stroke_width(1)
        } else {
            color.stroke_width(2)
        };
        // Split at gaps so a lost GPU or an exited process breaks the line instead of bridging it.
        let mut segments: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for (t, v) in s.used.t.iter().zip(&s.used.v) {
            match v {
                Some(v) => {
                    if let Some(seg) = segments.last_mut() {
                        seg.push((x_of(*t), *v as f64 / GIB as f64));
                    }
                }
                None => segments.push(Vec::new()),
            }
        }
        let mut first = true;
        for seg in segments.into_iter().filter(|s| !s.is_empty()) {
            let drawn = chart
                .draw_series(LineSeries::new(seg, style))
                .map_err(|e| plot_error(out, e))?;
            if first {
                let key = match s.pid {
                    None => Key::ChartGpu,
                    Some(_) => Key::ChartProcess,
                };
                let label = words.say(
                    Message::new(key)
                        .count("gpu", s.gpu.into())
                        .text("name", s.label.as_str()),
                );
                drawn
                    .label(label)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
                first = false;
            }
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((family, 12))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| plot_error(out, e))?;
    Ok(())
}
