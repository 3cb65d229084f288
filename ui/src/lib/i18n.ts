// Every string a person sees, in one table. English is the reference; Japanese must have every key (the
// type below makes a missing key a compile error, and i18n.test.ts checks placeholders match).

const en = {
  "app.name": "Headroom",
  "app.tagline": "GPU memory for fine-tuning",
  "nav.label": "Views",
  "nav.monitor": "Monitor",
  "nav.plan": "Plan",
  "nav.presets": "Presets",
  "nav.environment": "Environment",
  "nav.runs": "Runs",
  "nav.settings": "Settings",
  "nav.shortcut": "Ctrl+{n}",
  "view.monitor.title": "Monitor",
  "view.monitor.about": "Live GPU memory per GPU and per process, with history, alerts and recommendations.",
  "view.plan.title": "Plan",
  "view.plan.about":
    "Peak GPU memory of a training or inference run before you start it, whether it fits, and what makes it fit.",
  "view.presets.title": "Presets",
  "view.presets.about": "Quantization presets and per-model settings that Hugging Face's BitsAndBytesConfig loads as is.",
  "view.environment.title": "Environment",
  "view.environment.about": "Production and debug environment profiles, and a doctor that finds debug settings in real runs.",
  "view.runs.title": "Runs",
  "view.runs.about": "Launch a training command that relaunches with a stricter preset when it runs out of GPU memory.",
  "view.notYet":
    "This view is not available yet: it arrives with its own release. Everything here today is real; nothing is a mock-up.",
  "view.notYet.cli": "Until then, `headroom-cli --help` lists what the command line can already do.",
  "settings.title": "Settings",
  "settings.language": "Language",
  "settings.language.auto": "Follow the system ({locale})",
  "settings.language.en": "English",
  "settings.language.ja": "日本語 (Japanese)",
  "settings.theme": "Theme",
  "settings.theme.system": "Follow the system",
  "settings.theme.light": "Light",
  "settings.theme.dark": "Dark",
  "settings.saved": "Saved.",
  "settings.files": "Where Headroom keeps its files",
  "settings.files.config": "Settings and presets",
  "settings.files.data": "Recordings and run history",
  "settings.files.log": "Log file",
  "settings.version": "Version {version}",
  "notice.quarantined": "{file} could not be read ({reason}). It was moved to {moved} and defaults are in use.",
  "notice.dismiss": "Dismiss",
  "error.backend": "The backend failed: {message}",
  "error.unknownLocale": "unknown",
} as const;

export type MessageKey = keyof typeof en;
export type Messages = Record<MessageKey, string>;
export type Lang = "en" | "ja";

const ja: Messages = {
  "app.name": "Headroom",
  "app.tagline": "ファインチューニングのための GPU メモリ",
  "nav.label": "ビュー",
  "nav.monitor": "モニター",
  "nav.plan": "計画",
  "nav.presets": "プリセット",
  "nav.environment": "環境",
  "nav.runs": "実行",
  "nav.settings": "設定",
  "nav.shortcut": "Ctrl+{n}",
  "view.monitor.title": "モニター",
  "view.monitor.about": "GPU ごと・プロセスごとの GPU メモリをライブで表示し、履歴・アラート・推奨を示します。",
  "view.plan.title": "計画",
  "view.plan.about":
    "学習や推論を始める前に、ピーク GPU メモリ、収まるかどうか、収めるために何を変えればよいかを示します。",
  "view.presets.title": "プリセット",
  "view.presets.about":
    "Hugging Face の BitsAndBytesConfig がそのまま読み込める量子化プリセットとモデルごとの設定です。",
  "view.environment.title": "環境",
  "view.environment.about":
    "本番用とデバッグ用の環境プロファイル、そして本番の実行に紛れ込んだデバッグ設定を見つけるドクターです。",
  "view.runs.title": "実行",
  "view.runs.about": "GPU メモリ不足で落ちたら、より厳しいプリセットで再起動する学習コマンドの起動です。",
  "view.notYet":
    "このビューはまだ利用できません。対応するリリースで追加されます。現在表示されているものはすべて実データで、モックアップはありません。",
  "view.notYet.cli": "それまでは `headroom-cli --help` でコマンドラインからできることを確認できます。",
  "settings.title": "設定",
  "settings.language": "言語",
  "settings.language.auto": "システムに従う ({locale})",
  "settings.language.en": "English (英語)",
  "settings.language.ja": "日本語",
  "settings.theme": "テーマ",
  "settings.theme.system": "システムに従う",
  "settings.theme.light": "ライト",
  "settings.theme.dark": "ダーク",
  "settings.saved": "保存しました。",
  "settings.files": "Headroom のファイルの保存場所",
  "settings.files.config": "設定とプリセット",
  "settings.files.data": "記録と実行履歴",
  "settings.files.log": "ログファイル",
  "settings.version": "バージョン {version}",
  "notice.quarantined":
    "{file} を読み込めませんでした ({reason})。{moved} に移動し、既定値を使用しています。",
  "notice.dismiss": "閉じる",
  "error.backend": "バックエンドでエラーが発生しました: {message}",
  "error.unknownLocale": "不明",
};

export const messages: Record<Lang, Messages> = { en, ja };

/** The language for a locale string such as `ja_JP.UTF-8` or `ja-JP`; English for anything else. */
export function languageForLocale(locale: string | null | undefined): Lang {
  return locale?.toLowerCase().startsWith("ja") ? "ja" : "en";
}

/** Fill `{name}` placeholders. A missing value leaves the placeholder visible rather than hiding the gap. */
export function format(template: string, values: Record<string, string | number> = {}): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in values ? String(values[name]) : whole,
  );
}

export function translate(lang: Lang, key: MessageKey, values?: Record<string, string | number>): string {
  return format(messages[lang][key], values);
}
