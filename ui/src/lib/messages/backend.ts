// Texts the backend sends as message keys with arguments (src-tauri/core/src/message.rs): alerts and
// recommendations, doctor findings, preset costs, Plan suggestions, built-in descriptions. The key list with each
// key's arguments is generated from Rust into backend-keys.json; i18n.test.ts checks that both languages have
// every key with exactly its arguments as placeholders. Arguments arrive formatted for the active locale (sizes,
// counts, durations: lib/messageText.ts).

export const en = {
  "backend.alert.level.normal": "GPU {gpu} memory back to normal",
  "backend.alert.level.normal.percent": "GPU {gpu} memory back to normal ({percent}% full)",
  "backend.alert.level.warning": "GPU {gpu} memory is running low (warning, {percent}% full)",
  "backend.alert.level.critical": "GPU {gpu} memory is almost full (critical, {percent}% full)",
  "backend.alert.level.lost": "GPU {gpu} is lost: it stopped answering the driver",
  "backend.alert.back.normal": "GPU {gpu} answers again; memory back to normal",
  "backend.alert.back.normal.percent": "GPU {gpu} answers again; memory back to normal ({percent}% full)",
  "backend.alert.back.warning": "GPU {gpu} answers again; memory is running low (warning, {percent}% full)",
  "backend.alert.back.critical": "GPU {gpu} answers again; memory is almost full (critical, {percent}% full)",
  "backend.alert.level.unread": "GPU {gpu}: its memory level changed, but its memory could not be read",
  "backend.rec.check_gpu":
    "GPU {gpu} stopped answering the driver, and the processes on it have lost their GPU memory. nvidia-smi -q -i {gpu} and the kernel log (sudo dmesg | grep -i xid) say why (an Xid error code); once nothing uses it, sudo nvidia-smi -r -i {gpu} resets it, else reboot. Headroom keeps retrying and shows it again when it answers.",
  "backend.rec.stop_idle": "{name} (pid {pid}) holds {held} and has been idle for {idle}",
  "backend.rec.stop_idle.unnamed": "A process (pid {pid}) holds {held} and has been idle for {idle}",
  "backend.rec.expandable_segments":
    "pid {pid}: PyTorch reserved {reserved} but only {allocated} is allocated; expandable segments let the allocator reuse that fragmented cache",
  "backend.rec.checkpointing":
    "pid {pid} grew by {grew} in the last {window}; gradient checkpointing keeps far fewer activations",
  "backend.rec.checkpointing.full":
    "pid {pid} grew by {grew} in the last {window}; full in about {full_in}; gradient checkpointing keeps far fewer activations",
  "backend.rec.switch.linked":
    "{model} (pid {pid}): 4-bit NF4 weights with double quantization (QLoRA) take about a quarter of 16-bit weights; not checked against this GPU because {reason}; switching its config takes effect at its next launch",
  "backend.rec.switch.linked_from":
    "{model} (pid {pid}, launched with {current}): 4-bit NF4 weights with double quantization (QLoRA) take about a quarter of 16-bit weights; not checked against this GPU because {reason}; switching its config takes effect at its next launch",
  "backend.rec.switch.fits":
    "{model} (pid {pid}): estimated at batch {batch} × {sequence} tokens with {usable} of this GPU usable, {preset} is the first step of its chain that fits; switching its config takes effect at its next launch",
  "backend.rec.switch.fits_from":
    "{model} (pid {pid}, launched with {current}): estimated at batch {batch} × {sequence} tokens with {usable} of this GPU usable, {preset} is the first step of its chain that fits; switching its config takes effect at its next launch",
  "backend.rec.switch.unlinked":
    "pid {pid}: 4-bit NF4 weights with double quantization (QLoRA) take about a quarter of 16-bit weights; Headroom cannot tell which model it loads (launch it from Runs, or pass --model_name_or_path), so switch that model's config by hand",
  "backend.doctor.launch_blocking":
    "CUDA_LAUNCH_BLOCKING={value} makes every CUDA call synchronous: no CPU/GPU overlap, a large slowdown",
  "backend.doctor.no_caching":
    'PYTORCH_NO_CUDA_MEMORY_CACHING="{value}" disables the caching allocator (any value does, even 0): every allocation is a cudaMalloc',
  "backend.doctor.cpp_stacktraces": "TORCH_SHOW_CPP_STACKTRACES={value} adds C++ frames to every exception",
  "backend.doctor.dsa": "PYTORCH_USE_CUDA_DSA={value} turns on device-side assertions (on builds compiled with them)",
  "backend.doctor.distributed_debug": "TORCH_DISTRIBUTED_DEBUG={value} adds checks and logging to every collective",
  "backend.doctor.nccl_debug":
    "NCCL_DEBUG={value} logs every communicator event from every rank; WARN is the production level",
  "backend.doctor.eager_modules":
    "CUDA_MODULE_LOADING={value} loads every kernel at start-up and inflates the CUDA context",
  "backend.doctor.compile_time_dsa":
    "TORCH_USE_CUDA_DSA is a compile-time macro and does nothing in the environment; the runtime switch is PYTORCH_USE_CUDA_DSA=1",
  "backend.doctor.no_visible_gpu":
    'CUDA_VISIBLE_DEVICES="{value}" hides every GPU: training will run on the CPU or fail',
  "backend.doctor.device_order":
    "CUDA_VISIBLE_DEVICES={value} selects GPUs by index, but without CUDA_DEVICE_ORDER=PCI_BUS_ID CUDA numbers them fastest first, which may not be the GPUs nvidia-smi shows with those numbers",
  "backend.doctor.alloc_conf_disagree":
    "{name}={value} disagrees with {first}={first_value}; PyTorch uses only one of them, which one depends on the release (c10/cuda/CUDAAllocatorConfig.h)",
  "backend.doctor.alloc_conf_no_effect":
    "{name} has no effect while PYTORCH_NO_CUDA_MEMORY_CACHING={value} turns the caching allocator off",
  "backend.doctor.alloc_twice": "{name} sets {option} twice ({first} and {second}); PyTorch keeps the last",
  "backend.doctor.async_ignores":
    "{name} chooses backend:cudaMallocAsync, which ignores {options} (options of the native caching allocator)",
  "backend.doctor.backend": '{name}: backend must be native or cudaMallocAsync, not "{value}"',
  "backend.doctor.expandable":
    '{name}: expandable_segments must be True or False (PyTorch refuses "{value}" at start-up)',
  "backend.doctor.gc_threshold":
    '{name}: garbage_collection_threshold must be a fraction strictly between 0 and 1, not "{value}"',
  "backend.doctor.max_split": '{name}: max_split_size_mb must be a whole number of MiB above 20, not "{value}"',
  "backend.doctor.unknown_option":
    '{name}: "{option}" is not an allocator option Headroom knows (a typo?); depending on the release PyTorch refuses it at start-up or ignores it',
  "backend.doctor.profile_sets": "profile {profile} sets {name}={value}; here it is {here}",
  "backend.doctor.profile_sets_missing": "profile {profile} sets {name}={value}; here it is not set",
  "backend.doctor.profile_unsets": "profile {profile} unsets {name}; here it is {here}",
  "backend.caveat.int4": "INT4 may cost accuracy; INT8 or 16-bit suits critical work",
  "backend.caveat.int8": "LLM.int8 is close to 16-bit quality but its matmuls are slower",
  "backend.caveat.offload": "layers that do not fit run from CPU memory, much slower",
  "backend.caveat.cpu": "runs on the CPU: orders of magnitude slower than a GPU",
  "backend.unavailable.frozen": "quantized weights are frozen: use LoRA/QLoRA to train on them",
  "backend.unavailable.qlora": "QLoRA trains on 4-bit weights: this preset is not 4-bit (choose method LoRA to use it)",
  "backend.unavailable.cpu": "runs on the CPU and uses no GPU memory, so it has no GPU fit verdict",
  "backend.suggest.checkpointing": "turn on gradient checkpointing: saves {saving}",
  "backend.suggest.optimizer_8bit": "use an 8-bit optimizer (adamw_8bit): saves {saving}",
  "backend.suggest.chunked_loss": "compute the loss in chunks: saves {saving}",
  "backend.suggest.micro_batch": "lower the micro-batch to {batch}: saves {saving}",
  "backend.suggest.micro_batch.accumulate":
    "lower the micro-batch to {batch} with {steps} gradient accumulation steps: saves {saving}",
  "backend.suggest.zero3": "shard with ZeRO-3 over {gpus} GPUs: saves {saving}",
  "backend.suggest.offload": "offload optimizer states and parameters to CPU RAM (ZeRO-3 offload; slower): saves {saving}",
  "backend.suggest.quantize": "quantize the base to 4-bit (preset {preset}): saves {saving}",
  "backend.preset.fp32": "Full precision: 4 bytes per parameter. Reference quality, most memory.",
  "backend.preset.bf16": "bfloat16 weights: 2 bytes per parameter, fp32's range. The usual choice on Ampere and newer.",
  "backend.preset.fp16": "float16 weights: 2 bytes per parameter. For GPUs without bfloat16 (before Ampere).",
  "backend.preset.int8": "LLM.int8(): about 1 byte per parameter, outlier features kept in fp16. Near-fp16 quality.",
  "backend.preset.int4":
    "4-bit NF4 with bfloat16 compute: about 0.5 byte per parameter plus scales. The QLoRA setting.",
  "backend.preset.int4_double":
    "4-bit NF4 with double quantization of the scales: about 0.4 bit per parameter less than int4.",
  "backend.preset.int4_offload":
    "int4_double, and modules that do not fit the GPU stay on the CPU in fp32. Slow, but it loads.",
  "backend.preset.cpu": "No GPU: float32 on the CPU. For checks and tiny models.",
  "backend.profile.production":
    "Training runs: no debug switches, allocator tuned against fragmentation, GPUs numbered as nvidia-smi numbers them.",
  "backend.profile.debug":
    "Finding a crash: synchronous CUDA calls, C++ stack traces, device-side assertions, verbose NCCL. Slow; never for real training.",
  "backend.join": "; ",
  "unit.seconds": "{n} s",
  "unit.minutes": "{n} min",
  "unit.hours": "{n} h",
  "unit.bytes": "{n} bytes",
} as const;

export const ja: Record<keyof typeof en, string> = {
  "backend.alert.level.normal": "GPU {gpu} のメモリは通常に戻りました",
  "backend.alert.level.normal.percent": "GPU {gpu} のメモリは通常に戻りました（使用率 {percent}%）",
  "backend.alert.level.warning": "GPU {gpu} のメモリが少なくなっています（警告、使用率 {percent}%）",
  "backend.alert.level.critical": "GPU {gpu} のメモリがほぼ満杯です（危険、使用率 {percent}%）",
  "backend.alert.level.lost": "GPU {gpu} が失われました：ドライバーに応答しません",
  "backend.alert.back.normal": "GPU {gpu} が再び応答しています。メモリは通常です",
  "backend.alert.back.normal.percent": "GPU {gpu} が再び応答しています。メモリは通常です（使用率 {percent}%）",
  "backend.alert.back.warning": "GPU {gpu} が再び応答しています。メモリが少なくなっています（警告、使用率 {percent}%）",
  "backend.alert.back.critical": "GPU {gpu} が再び応答しています。メモリがほぼ満杯です（危険、使用率 {percent}%）",
  "backend.alert.level.unread": "GPU {gpu}：メモリのレベルが変わりましたが、メモリを読み取れませんでした",
  "backend.rec.check_gpu":
    "GPU {gpu} がドライバーに応答しなくなり、その上のプロセスは GPU メモリを失いました。原因（Xid エラーコード）は nvidia-smi -q -i {gpu} とカーネルログ（sudo dmesg | grep -i xid）でわかります。使っているものがなくなったら sudo nvidia-smi -r -i {gpu} でリセットし、できなければ再起動してください。Headroom は再試行を続け、応答したら再び表示します。",
  "backend.rec.stop_idle": "{name}（pid {pid}）は {held} を保持したまま {idle} アイドル状態です",
  "backend.rec.stop_idle.unnamed": "プロセス（pid {pid}）は {held} を保持したまま {idle} アイドル状態です",
  "backend.rec.expandable_segments":
    "pid {pid}：PyTorch は {reserved} を予約していますが、割り当て済みは {allocated} だけです。expandable segments を使うと、アロケーターが断片化したキャッシュを再利用できます",
  "backend.rec.checkpointing":
    "pid {pid} は直近 {window} で {grew} 増えました。勾配チェックポイントを使うと保持するアクティベーションが大幅に減ります",
  "backend.rec.checkpointing.full":
    "pid {pid} は直近 {window} で {grew} 増えました。約 {full_in} で満杯になります。勾配チェックポイントを使うと保持するアクティベーションが大幅に減ります",
  "backend.rec.switch.linked":
    "{model}（pid {pid}）：二重量子化した 4 ビット NF4 の重み（QLoRA）は 16 ビットの重みの約 4 分の 1 です。この GPU に収まるかは確認していません（理由：{reason}）。設定の切り替えは次回の起動から有効になります",
  "backend.rec.switch.linked_from":
    "{model}（pid {pid}、{current} で起動）：二重量子化した 4 ビット NF4 の重み（QLoRA）は 16 ビットの重みの約 4 分の 1 です。この GPU に収まるかは確認していません（理由：{reason}）。設定の切り替えは次回の起動から有効になります",
  "backend.rec.switch.fits":
    "{model}（pid {pid}）：バッチ {batch} × {sequence} トークン、この GPU で使えるメモリ {usable} で見積もると、{preset} がフォールバックチェーンで最初に収まる段階です。設定の切り替えは次回の起動から有効になります",
  "backend.rec.switch.fits_from":
    "{model}（pid {pid}、{current} で起動）：バッチ {batch} × {sequence} トークン、この GPU で使えるメモリ {usable} で見積もると、{preset} がフォールバックチェーンで最初に収まる段階です。設定の切り替えは次回の起動から有効になります",
  "backend.rec.switch.unlinked":
    "pid {pid}：二重量子化した 4 ビット NF4 の重み（QLoRA）は 16 ビットの重みの約 4 分の 1 です。Headroom はこのプロセスが読み込むモデルを判別できません（実行画面から起動するか、--model_name_or_path を渡してください）。そのモデルの設定を手動で切り替えてください",
  "backend.doctor.launch_blocking":
    "CUDA_LAUNCH_BLOCKING={value} はすべての CUDA 呼び出しを同期にします：CPU と GPU が重ならず、大幅に遅くなります",
  "backend.doctor.no_caching":
    'PYTORCH_NO_CUDA_MEMORY_CACHING="{value}" はキャッシュアロケーターを無効にします（0 を含め、どの値でも）：すべての割り当てが cudaMalloc になります',
  "backend.doctor.cpp_stacktraces": "TORCH_SHOW_CPP_STACKTRACES={value} はすべての例外に C++ のフレームを追加します",
  "backend.doctor.dsa": "PYTORCH_USE_CUDA_DSA={value} はデバイス側アサーションを有効にします（対応してビルドされた場合）",
  "backend.doctor.distributed_debug": "TORCH_DISTRIBUTED_DEBUG={value} はすべての集団通信にチェックとログを追加します",
  "backend.doctor.nccl_debug":
    "NCCL_DEBUG={value} はすべてのランクのすべてのコミュニケーターイベントを記録します。本番向けのレベルは WARN です",
  "backend.doctor.eager_modules":
    "CUDA_MODULE_LOADING={value} は起動時にすべてのカーネルを読み込み、CUDA コンテキストを大きくします",
  "backend.doctor.compile_time_dsa":
    "TORCH_USE_CUDA_DSA はコンパイル時のマクロで、環境変数としては何もしません。実行時のスイッチは PYTORCH_USE_CUDA_DSA=1 です",
  "backend.doctor.no_visible_gpu":
    'CUDA_VISIBLE_DEVICES="{value}" はすべての GPU を隠します：学習は CPU で動くか失敗します',
  "backend.doctor.device_order":
    "CUDA_VISIBLE_DEVICES={value} は番号で GPU を選びますが、CUDA_DEVICE_ORDER=PCI_BUS_ID がないと CUDA は速い順に番号を付けるため、nvidia-smi が同じ番号で示す GPU と一致しないことがあります",
  "backend.doctor.alloc_conf_disagree":
    "{name}={value} は {first}={first_value} と食い違っています。PyTorch はどちらか一方だけを使い、どちらかはリリースによります（c10/cuda/CUDAAllocatorConfig.h）",
  "backend.doctor.alloc_conf_no_effect":
    "PYTORCH_NO_CUDA_MEMORY_CACHING={value} がキャッシュアロケーターを無効にしているため、{name} は効果がありません",
  "backend.doctor.alloc_twice": "{name} は {option} を 2 回設定しています（{first} と {second}）。PyTorch は後のほうを使います",
  "backend.doctor.async_ignores":
    "{name} は backend:cudaMallocAsync を選んでおり、{options}（ネイティブのキャッシュアロケーターのオプション）は無視されます",
  "backend.doctor.backend": '{name}：backend は native か cudaMallocAsync でなければなりません（"{value}" ではなく）',
  "backend.doctor.expandable":
    '{name}：expandable_segments は True か False でなければなりません（PyTorch は起動時に "{value}" を拒否します）',
  "backend.doctor.gc_threshold":
    '{name}：garbage_collection_threshold は 0 より大きく 1 未満の数でなければなりません（"{value}" ではなく）',
  "backend.doctor.max_split":
    '{name}：max_split_size_mb は 20 より大きい MiB 単位の整数でなければなりません（"{value}" ではなく）',
  "backend.doctor.unknown_option":
    '{name}："{option}" は Headroom が知らないアロケーターのオプションです（入力ミス？）。PyTorch はリリースによって起動時に拒否するか無視します',
  "backend.doctor.profile_sets": "プロファイル {profile} は {name}={value} を設定しますが、ここでは {here} です",
  "backend.doctor.profile_sets_missing": "プロファイル {profile} は {name}={value} を設定しますが、ここでは設定されていません",
  "backend.doctor.profile_unsets": "プロファイル {profile} は {name} を解除しますが、ここでは {here} です",
  "backend.caveat.int4": "INT4 は精度を損なうことがあります。重要な用途には INT8 か 16 ビットが向いています",
  "backend.caveat.int8": "LLM.int8 は 16 ビットに近い品質ですが、行列積が遅くなります",
  "backend.caveat.offload": "GPU に収まらない層は CPU メモリから実行され、大幅に遅くなります",
  "backend.caveat.cpu": "CPU で動きます：GPU より桁違いに遅くなります",
  "backend.unavailable.frozen": "量子化した重みは凍結されます：学習するには LoRA/QLoRA を使ってください",
  "backend.unavailable.qlora":
    "QLoRA は 4 ビットの重みで学習します：このプリセットは 4 ビットではありません（使うには手法 LoRA を選んでください）",
  "backend.unavailable.cpu": "CPU で動き GPU メモリを使わないため、GPU に収まるかの判定はありません",
  "backend.suggest.checkpointing": "勾配チェックポイントを有効にする：{saving} 節約",
  "backend.suggest.optimizer_8bit": "8 ビットのオプティマイザー（adamw_8bit）を使う：{saving} 節約",
  "backend.suggest.chunked_loss": "損失を分割して計算する：{saving} 節約",
  "backend.suggest.micro_batch": "マイクロバッチを {batch} に下げる：{saving} 節約",
  "backend.suggest.micro_batch.accumulate":
    "マイクロバッチを {batch} に下げ、勾配累積を {steps} ステップにする：{saving} 節約",
  "backend.suggest.zero3": "ZeRO-3 で {gpus} 台の GPU にシャーディングする：{saving} 節約",
  "backend.suggest.offload":
    "オプティマイザーの状態とパラメーターを CPU の RAM にオフロードする（ZeRO-3 オフロード、低速）：{saving} 節約",
  "backend.suggest.quantize": "ベースを 4 ビットに量子化する（プリセット {preset}）：{saving} 節約",
  "backend.preset.fp32": "完全精度：パラメーターあたり 4 バイト。基準となる品質で、メモリは最大です。",
  "backend.preset.bf16":
    "bfloat16 の重み：パラメーターあたり 2 バイトで、fp32 と同じ範囲。Ampere 以降での標準的な選択です。",
  "backend.preset.fp16": "float16 の重み：パラメーターあたり 2 バイト。bfloat16 のない GPU（Ampere より前）向けです。",
  "backend.preset.int8":
    "LLM.int8()：パラメーターあたり約 1 バイトで、外れ値の特徴は fp16 のまま保持。fp16 に近い品質です。",
  "backend.preset.int4":
    "bfloat16 で計算する 4 ビット NF4：パラメーターあたり約 0.5 バイトとスケール。QLoRA の設定です。",
  "backend.preset.int4_double":
    "スケールを二重量子化した 4 ビット NF4：int4 よりパラメーターあたり約 0.4 ビット少なくなります。",
  "backend.preset.int4_offload":
    "int4_double に加え、GPU に収まらないモジュールは fp32 で CPU に置きます。遅いですが読み込めます。",
  "backend.preset.cpu": "GPU なし：CPU 上の float32。確認用や小さなモデル向けです。",
  "backend.profile.production":
    "学習の実行用：デバッグ用スイッチなし、断片化に強いアロケーター設定、GPU の番号は nvidia-smi と同じ。",
  "backend.profile.debug":
    "クラッシュの調査用：同期 CUDA 呼び出し、C++ スタックトレース、デバイス側アサーション、詳細な NCCL ログ。遅いので実際の学習には使わないでください。",
  "backend.join": "。",
  "unit.seconds": "{n} 秒",
  "unit.minutes": "{n} 分",
  "unit.hours": "{n} 時間",
  "unit.bytes": "{n} バイト",
};
