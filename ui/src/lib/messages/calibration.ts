// This machine's calibration (docs/estimator.md §10.5): the Settings view's section, and the wizard's word on it.

export const en = {
  "calibration.title": "Learned from this machine",
  "calibration.help":
    "Every run started with a batch size and sequence length records its measured peak. Once a task has {min} successful measured runs, every estimate uses this machine's CUDA context and allocator slack instead of the defaults, and says so in its notes.",
  "calibration.train": "Training",
  "calibration.infer": "Inference",
  "calibration.value": "CUDA context {context}, allocator slack {slack}: from {runs} runs, {first} to {last}",
  "calibration.defaultContext": "The runs were too alike in size to tell the context apart: it stays at the default, the slack is fitted.",
  "calibration.none": "Not calibrated yet: {runs} of {min} measured runs. Estimates use the defaults (CUDA context {context}, allocator slack {slack}).",
  "calibration.resetAt": "Runs started before {date} are ignored (reset).",
  "calibration.unreadable": "The calibration file could not be read ({reason}): no reset applies until the next one.",
  "calibration.reset": "Reset",
  "calibration.resetHelp":
    "Ignore the runs so far, for example after changing the driver, CUDA or PyTorch. Their records stay in the run history.",
  "calibration.loading": "Reading the run history…",
  "calibration.wizard": "calibrated on this machine from {runs} runs",
  "calibration.lengths":
    "Batches of changing length: the {runs} runs that left their lengths open needed at most {share} of the range's allowance for them, so the range allows that share.",
  "calibration.lengthsNone":
    "Batches of changing length: {runs} of {min} runs that left their lengths open. Until then the range allows what the allocator model strands.",
} as const;

export const ja: Record<keyof typeof en, string> = {
  "calibration.title": "このマシンから学習した値",
  "calibration.help":
    "バッチサイズとシーケンス長を指定して開始した実行は、実測のピークを記録します。あるタスクで実測付きの成功した実行が {min} 回に達すると、すべての見積もりが既定値の代わりにこのマシンの CUDA コンテキストとアロケータの余剰を使い、注記でそのことを示します。",
  "calibration.train": "学習",
  "calibration.infer": "推論",
  "calibration.value": "CUDA コンテキスト {context}、アロケータの余剰 {slack}: {first} から {last} までの {runs} 回の実行から",
  "calibration.defaultContext": "実行の規模が似ていてコンテキストを切り分けられないため、コンテキストは既定値のまま、余剰のみを推定しています。",
  "calibration.none": "まだ校正されていません: 実測付きの実行 {runs} / {min} 回。見積もりは既定値 (CUDA コンテキスト {context}、アロケータの余剰 {slack}) を使います。",
  "calibration.resetAt": "{date} より前に開始した実行は無視されます (リセット済み)。",
  "calibration.unreadable": "校正ファイルを読み込めませんでした ({reason})。次にリセットするまでリセットは適用されません。",
  "calibration.reset": "リセット",
  "calibration.resetHelp":
    "これまでの実行を無視します (ドライバ、CUDA、PyTorch を変えたときなど)。実行の記録は履歴に残ります。",
  "calibration.loading": "実行履歴を読み込んでいます…",
  "calibration.wizard": "このマシンの {runs} 回の実行で校正済み",
  "calibration.lengths":
    "長さの変わるバッチ: 長さを決めずに実行した {runs} 回は、範囲の長さの許容分のうち最大 {share} しか必要としなかったため、範囲はその割合だけを見込みます。",
  "calibration.lengthsNone":
    "長さの変わるバッチ: 長さを決めずに実行した回数 {runs} / {min} 回。それまでは範囲がアロケータのモデルが取り残す分を見込みます。",
};
