//! Font places for the exported charts' language tests (monitor, Plan breakdown, trace timeline).

use std::path::{Path, PathBuf};

/// Where the .deb's fonts-noto-cjk puts Noto Sans CJK (also installed by .ci/dev).
pub const NOTO_CJK: &str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";

/// Noto Sans CJK, which a Japanese chart test needs: a clear failure when the machine lacks it.
pub fn noto_cjk() -> PathBuf {
    assert!(
        Path::new(NOTO_CJK).exists(),
        "{NOTO_CJK} is missing: install fonts-noto-cjk (the .deb depends on it; .ci/dev installs it)"
    );
    PathBuf::from(NOTO_CJK)
}

/// Font places none of which draws Japanese: a missing file, a file that is no font, and a real font without
/// Japanese (the charts' own Latin one).
pub fn no_japanese_fonts(dir: &Path) -> Vec<PathBuf> {
    let not_a_font = dir.join("not-a-font.ttc");
    std::fs::write(&not_a_font, b"not a font").unwrap();
    let latin = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/DejaVuSans.ttf"
    ));
    vec![dir.join("missing.ttc"), not_a_font, latin]
}

/// Whether `text` holds any Japanese (kana, kanji or full-width punctuation).
pub fn has_japanese(text: &str) -> bool {
    text.chars()
        .any(|c| ('\u{3000}'..='\u{9fff}').contains(&c) || ('\u{ff00}'..='\u{ffef}').contains(&c))
}
