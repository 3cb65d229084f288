"""Runs the plan's step(s) on fake tensors under the allocation tracker and returns the result object."""

import contextlib
import math
import platform
import time

from .errors import TraceError
from .notes import count, size, text

CUBLAS_WORKSPACE = 2 * 4 * 1024 * 1024 + 8 * 16 * 1024  # CUBLAS_WORKSPACE_CONFIG :4096:2:16:8 per handle
KV_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp32": 4.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5 + 4 / 64}


def _versions():
    from importlib.metadata import PackageNotFoundError, version

    import torch
    import transformers

    try:
        peft = version("peft")  # importing peft costs seconds; a trace without LoRA does not need it
    except PackageNotFoundError:
        peft = None
    return {"python": platform.python_version(), "torch": torch.__version__.split("+")[0],
            "transformers": transformers.__version__, "peft": peft}


def _check_torch():
    try:
        import torch
    except ImportError:
        raise TraceError("no_torch", "this Python cannot import torch") from None
    parts = torch.__version__.split("+")[0].split(".")
    if (int(parts[0]), int(parts[1])) < (2, 4):
        raise TraceError("torch_too_old", f"torch {torch.__version__} is older than 2.4")
    try:
        import transformers  # noqa: F401
    except ImportError:
        raise TraceError("unsupported", "this Python cannot import transformers") from None


def choose_layers(total, requested, plan, config):
    """How many decoder layers to trace: 3 (first, template, last) unless the model is small or the plan
    makes layers differ."""
    from .build import layer_types_uniform

    if total is None or total <= 3:
        return total, False
    if requested is not None and requested >= total:
        return total, False
    if plan.method == "freeze" or not layer_types_uniform(config):
        return total, False
    if plan.method in ("lora", "qlora") and is_moe(config):
        # PEFT's expert-weight wrappers run outside the decoder layer's module context, so their
        # allocations cannot be told apart by layer: trace every layer.
        return total, False
    return 3, True


def is_moe(config):
    return any(isinstance(getattr(config, k, None), int) and getattr(config, k) > 1
               for k in ("num_local_experts", "num_experts", "n_routed_experts"))


@contextlib.contextmanager
def kv_category(tracker):
    """Allocations inside the KV cache layers' update() are the cache."""
    from transformers import cache_utils

    patched = []
    for obj in vars(cache_utils).values():
        if isinstance(obj, type) and issubclass(obj, cache_utils.CacheLayerMixin) and "update" in vars(obj):
            orig = obj.update

            def wrapper(self, *a, __orig=orig, **k):
                tracker.push_category("kv_cache")
                try:
                    return __orig(self, *a, **k)
                finally:
                    tracker.pop_category()

            obj.update = wrapper
            patched.append((obj, orig))
    try:
        yield
    finally:
        for obj, orig in patched:
            obj.update = orig


class _BnbAdam:
    """bitsandbytes AdamW (8-bit or 32-bit, paged or not) by its state sizes: its fused kernel makes no
    temporaries. 8-bit states are uint8 with an fp32 absmax per 256 values for tensors of at least 4096
    values (min_8bit_size), fp32 below; paged states live in CUDA managed memory."""

    def __init__(self, params, bits, paged, tracker):
        self.params = list(params)
        self.bits, self.paged, self.tracker = bits, paged, tracker
        self.managed = 0
        self.recs = []
        self.started = False

    def step(self):
        if self.started:
            return
        self.started = True
        for p in self.params:
            n = p.numel()
            if self.bits == 8 and n >= 4096:
                sizes = [n, n, 4 * math.ceil(n / 256), 4 * math.ceil(n / 256)]
            else:
                sizes = [4 * n, 4 * n]
            if self.paged:
                self.managed += sum(sizes)
                continue
            rec = self.tracker.rec_of(p)
            tag = rec.tag if rec is not None else None
            for s in sizes:
                self.recs.append(self.tracker.raw_alloc(s, "optimizer", tag))

    def zero_grad(self, set_to_none=True):
        for p in self.params:
            p.grad = None


def make_optimizer(plan, params, tracker):
    import torch

    params = list(params)
    name = plan.optimizer
    if name == "adamw":
        return torch.optim.AdamW(params, lr=1e-5, foreach=True)
    if name == "sgd":
        return torch.optim.SGD(params, lr=1e-3, foreach=True)
    if name == "sgd_momentum":
        return torch.optim.SGD(params, lr=1e-3, momentum=0.9, foreach=True)
    if name == "adafactor":
        from transformers.optimization import Adafactor

        return Adafactor(params, lr=1e-3, scale_parameter=False, relative_step=False, warmup_init=False)
    bits = 8 if "8bit" in name else 32
    return _BnbAdam(params, bits, name.startswith("paged"), tracker)


def _mark_states(opt, tracker):
    import torch

    for state in getattr(opt, "state", {}).values():
        for key, v in state.items():
            if not isinstance(v, torch.Tensor):
                continue
            rec = tracker.rec_of(v)
            if rec is None:
                continue
            if key == "step" and v.dim() == 0:
                rec.host = True  # torch keeps the step counter on the CPU unless capturable/fused
            else:
                rec.category = "optimizer"


def _mark_grads(params, tracker):
    for p in params:
        if p.grad is not None:
            rec = tracker.rec_of(p.grad)
            if rec is not None:
                rec.category = "gradients"


def _strip(name):
    for pre in ("base_model.model.",):
        if name.startswith(pre):
            return name[len(pre):]
    return name


def run(req, progress):
    start = time.monotonic()
    deadline = start + req.time_limit_s
    notes = req.notes
    plan = req.plan
    progress("import", 0.0, "importing torch, transformers, peft")
    _check_torch()
    if plan.method in ("lora", "qlora") and plan.task == "train":
        import importlib.util

        if importlib.util.find_spec("peft") is None:
            raise TraceError("unsupported", "plan.method: LoRA needs peft, which this Python cannot import",
                             "plan.method")
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    from .build import build, find_layer_prefix, make_config, num_layers
    from .extrapolate import extrapolate
    from .kernels import cuda_like_kernels
    from .quant import attach_tracker
    from .report import build_result
    from .tracker import Tracker

    progress("build", 0.05, "building the model on fake tensors")
    full_config = make_config(req.model_config)
    total = num_layers(full_config)
    n_trace, extrapolated = choose_layers(total, req.layers, plan, full_config)
    config = make_config(req.model_config, n_trace) if extrapolated else full_config
    if not (total and total > 0):
        raise TraceError("bad_request", "model_config.num_hidden_layers: the config names no decoder layer count",
                         "model_config.num_hidden_layers")

    fake = FakeTensorMode(allow_non_fake_inputs=True)
    torch.manual_seed(0)
    with fake:
        model = build(config, plan, notes)
    if time.monotonic() > deadline:
        raise TraceError("time_limit", "the trace ran past its time limit (time_limit_s) while building the model")
    prefix = find_layer_prefix(model, n_trace) or ""
    tracker = Tracker(prefix, deadline)
    tracker.name_modules(model)
    attach_tracker(model, tracker)

    trainable = [p for p in model.parameters() if p.requires_grad]
    def tag_of(name):
        if prefix and name.startswith(prefix):
            return int(name[len(prefix):].split(".")[0])
        return None

    # parameter counts, extrapolated by the template layer
    counts = {"total": 0, "trainable": 0}
    per_layer = {"total": 0, "trainable": 0}
    seen = set()
    for name, p in model.named_parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        n = getattr(p, "logical_numel", None) or p.numel()
        counts["total"] += n
        counts["trainable"] += n if p.requires_grad else 0
        if tag_of(name) == 1:
            per_layer["total"] += n
            per_layer["trainable"] += n if p.requires_grad else 0
    if extrapolated:
        for k in counts:
            counts[k] += per_layer[k] * (total - n_trace)

    progress("prepare", 0.1, "recording the weights")
    model_dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    vocab = getattr(full_config, "vocab_size", 32000)
    out_emb = model.get_output_embeddings()
    managed = 0
    from .build import autocast_dtype

    ac = autocast_dtype(plan)
    if ac is not None:
        low = str(ac).replace('torch.', '')
        notes.add("backend.note.trace.autocast",
                  f"mixed precision: CPU autocast to {low} stands for CUDA autocast "
                  "(matmuls in low precision, weights cast once per forward and cached)",
                  dtype=text(low))

    if plan.precision == "fp16-mixed" and plan.task == "train":
        notes.add("backend.note.trace.grad_scaler",
                  "fp16-mixed: the GradScaler's per-step scalars (a few bytes) are not traced")
    if plan.task == "train" and plan.lora is not None and plan.lora.dropout > 0:
        notes.add("backend.note.trace.dropout_mask",
                  "dropout keeps a 1-byte mask for backward, as CUDA's fused kernel does (the CPU kernel would "
                  "keep one in the input's dtype)")
    if getattr(model.config, "_attn_implementation", None) == "sdpa":
        notes.add("backend.note.trace.sdpa_cpu",
                  "SDPA runs PyTorch's CPU flash kernel on fake tensors, which keeps the output and the "
                  "logsumexp as CUDA's flash and memory-efficient kernels do")

    def autocast():
        if ac is None:
            return contextlib.nullcontext()
        return torch.autocast("cpu", dtype=ac)

    hooks = []
    if out_emb is not None:
        hooks.append(out_emb.register_forward_pre_hook(lambda *_: setattr(tracker, "in_logits", True)))

    try:
        with fake, tracker, cuda_like_kernels():
            seen = set()
            for name, p in list(model.named_parameters()) + list(model.named_buffers()):
                if id(p) in seen or p is None:
                    continue
                seen.add(id(p))
                cat = "lora" if ("lora_" in name or "modules_to_save" in name) else "weights"
                tracker.adopt(p, cat, tag_of(name), "")
            if plan.task == "train":
                managed = _train(plan, model, trainable, tracker, autocast, vocab, progress)
            else:
                _infer(plan, model, tracker, vocab, progress, kv_category, notes)
            tracker.check_time()
    finally:
        for h in hooks:
            h.remove()
        attach_tracker(model, None)
    tracker.close()
    events = tracker.events

    if plan.task == "infer" and plan.kv_cache_dtype is not None:
        have = {torch.float32: 4.0, torch.bfloat16: 2.0, torch.float16: 2.0}.get(model_dtype, 2.0)
        factor = KV_BYTES[plan.kv_cache_dtype] / have
        if factor != 1.0:
            done = set()
            for ev in events:
                if ev.rec.category == "kv_cache" and ev.rec.id not in done:
                    done.add(ev.rec.id)
                    ev.rec.size = int(math.ceil(ev.rec.size * factor))
            traced = str(model_dtype).replace('torch.', '')
            notes.add("backend.note.trace.kv_scaled",
                      f"KV cache in {plan.kv_cache_dtype}: cache storages scaled by {factor:g} from the traced "
                      f"{traced} cache (quantized-cache residual window not modelled)",
                      dtype=text(plan.kv_cache_dtype), factor=text(f"{factor:g}"), traced=text(traced))

    progress("simulate", 0.9, "replaying the allocation stream through the caching allocator")
    dropped = 0
    if extrapolated:
        events, dropped = extrapolate(events, prefix, total)
        notes.add("backend.note.trace.layers_repeated",
                  f"traced {n_trace} of {total} decoder layers (first, one middle, last) and repeated the middle "
                  "layer's allocations for the others",
                  traced=count(n_trace), total=count(total))
        if dropped:
            notes.add("backend.note.trace.frees_dropped",
                      f"extrapolation: {dropped} frees had no counterpart in the full model and were dropped",
                      frees=count(dropped))
    notes.add("backend.note.trace.cublas_workspace",
              "cuBLAS workspace: one per handle (forward thread, autograd thread), "
              f"{CUBLAS_WORKSPACE} bytes each (the pre-Hopper CUBLAS_WORKSPACE_CONFIG default)",
              bytes=size(CUBLAS_WORKSPACE))
    if plan.task == "train" and len(plan.sequence_lengths) == 1:
        notes.add("backend.note.trace.two_steps",
                  "two training steps traced: optimizer states exist from the second step on")
    result = build_result(events, req.expandable_segments, _strip)
    result.update({
        "engine": "trace", "protocol": 1,
        "managed_bytes": int(managed),
        "parameters": counts,
        "layers": {"traced": n_trace, "total": total, "extrapolated": extrapolated},
        "versions": _versions(),
        "elapsed_s": round(time.monotonic() - start, 3),
        "notes": notes.texts,
        # optional (protocol addition): each note as a message key with typed arguments, for the app's languages
        "note_messages": notes.messages,
    })
    return result


def _inputs(torch, plan, seq, vocab):
    """Token ids as the data loader hands them over (int64, batch x sequence)."""
    return torch.randint(0, vocab, (plan.batch_size, seq))


def _train(plan, model, trainable, tracker, autocast, vocab, progress):
    import torch

    lengths = list(plan.sequence_lengths)
    if len(lengths) == 1:
        lengths = lengths * 2
    managed = 0
    opts = None
    if plan.optimizer_in_backward:
        opts = {}
        for p in trainable:
            opts[p] = make_optimizer(plan, [p], tracker)

            def hook(param, __opt=opts[p]):
                _mark_grads([param], tracker)
                tracker.push_category("optimizer")
                try:
                    __opt.step()
                    _mark_states(__opt, tracker)
                finally:
                    tracker.pop_category()
                param.grad = None

            p.register_post_accumulate_grad_hook(hook)
        opt = None
    else:
        opt = make_optimizer(plan, trainable, tracker)
    cublas = []
    n = len(lengths)
    for step, seq in enumerate(lengths):
        tracker.step = step
        tracker.phase = "forward"
        tracker.in_logits = False
        progress("forward", 0.1 + 0.8 * step / n, f"step {step}: forward, sequence {seq}")
        ids = _inputs(torch, plan, seq, vocab)
        labels = ids.clone()
        if not cublas:
            cublas.append(tracker.raw_alloc(CUBLAS_WORKSPACE, "workspace"))
        with autocast():
            if plan.chunked_loss:
                loss = _chunked_loss(model, ids, labels)
            else:
                out = model(input_ids=ids, labels=labels)
                loss = out.loss
                del out
        tracker.check_time()
        tracker.phase = "backward"
        tracker.bw_seen_layer = False
        progress("backward", 0.1 + 0.8 * (step + 0.4) / n, f"step {step}: backward")
        if len(cublas) == 1:
            cublas.append(tracker.raw_alloc(CUBLAS_WORKSPACE, "workspace"))
        loss.backward()
        del loss
        tracker.end_step()
        tracker.check_time()
        tracker.phase = "optimizer"
        progress("optimizer", 0.1 + 0.8 * (step + 0.8) / n, f"step {step}: optimizer")
        if opt is not None:
            _mark_grads(trainable, tracker)
            opt.step()
            _mark_states(opt, tracker)
            opt.zero_grad(set_to_none=True)
        del ids, labels
    for o in ([opt] if opt is not None else list(opts.values())):
        managed += getattr(o, "managed", 0)
    return managed


CHUNKS = 8


def _chunked_loss(model, ids, labels):
    """torchtune's CEWithChunkedOutputLoss: the output projection in 8 sequence chunks, each chunk's logits
    upcast to fp32 only inside its own cross-entropy."""
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = base.base_model(input_ids=ids).last_hidden_state  # the decoder without its head
    head = base.get_output_embeddings()
    logits = [head(h) for h in hidden.chunk(CHUNKS, dim=1)]
    del hidden
    shifted = torch.nn.functional.pad(labels[:, 1:], (0, 1), value=-100)
    total = None
    for chunk, lab in zip(logits, shifted.chunk(CHUNKS, dim=1)):
        part = torch.nn.functional.cross_entropy(chunk.float().flatten(0, 1), lab.flatten(), reduction="sum",
                                                 ignore_index=-100)
        total = part if total is None else total + part
    del logits
    return total / (labels.numel())


DECODE_EDGE = 8


def _grow_cache(cache, tokens, tracker):
    """Lengthen every cache layer by `tokens` as that many decode steps would (one reallocation each)."""
    tracker.push_category("kv_cache")
    try:
        for layer in getattr(cache, "layers", []):
            keys = getattr(layer, "keys", None)
            if keys is None or keys.dim() < 2:
                continue
            length = keys.shape[-2] + tokens
            window = getattr(layer, "sliding_window", None)
            if window:
                length = min(length, window - 1)
                layer.cumulative_length = getattr(layer, "cumulative_length", 0) + tokens
            shape = (*keys.shape[:-2], length, keys.shape[-1])
            layer.keys = keys.new_empty(shape)
            del keys
            layer.values = layer.values.new_empty((*layer.values.shape[:-2], length, layer.values.shape[-1]))
    finally:
        tracker.pop_category()


def _held_cache(cache):
    """What a caller holding the cache as tuples keeps alive through a decode step: every layer's tensors as the
    step found them (`DynamicCache` replaces each one with a longer copy, which then cannot free the old)."""
    return [(getattr(layer, "keys", None), getattr(layer, "values", None)) for layer in getattr(cache, "layers", [])]


def _infer(plan, model, tracker, vocab, progress, kv_category, notes):
    import inspect

    import torch
    from transformers import DynamicCache

    seq = plan.sequence_lengths[0]
    params = inspect.signature(model.forward).parameters
    kwargs = {"logits_to_keep": 1} if "logits_to_keep" in params else {}
    # transformers 5.2x renamed past_key_values to cache (the old name still works, with a warning)
    cache_kw = "cache" if "cache" in params else "past_key_values"

    def cache_of(out):
        c = getattr(out, "cache", None)
        return c if c is not None else out.past_key_values
    tracker.phase = "prefill"
    progress("forward", 0.1, f"prefill of {seq} tokens")
    with torch.no_grad(), kv_category(tracker):
        tracker.raw_alloc(CUBLAS_WORKSPACE, "workspace")
        ids = _inputs(torch, plan, seq, vocab)
        cache = DynamicCache(config=model.config)
        tracker.in_logits = False
        prefill_kwargs = {} if plan.prefill_logits == "all" else kwargs
        out = model(input_ids=ids, use_cache=True, **{cache_kw: cache}, **prefill_kwargs)
        cache = cache_of(out)
        logits = out.logits
        if plan.prefill_logits == "all":
            logits = logits.float()  # transformers < 4.45 upcast the logits in the model's forward
        nxt = logits[:, -1:].argmax(-1)
        del out, ids, logits
        steps = max(plan.new_tokens - 1, 0)
        if plan.legacy_kv_cache and steps > 0:
            notes.add("backend.note.trace.legacy_kv_cache",
                      "decode holds each step's old KV cache until the step ends, as generate() held a cache "
                      "handed back as tuples")
        tracker.phase = "decode"
        order = list(range(steps))
        if steps > 2 * DECODE_EDGE:
            order = list(range(DECODE_EDGE)) + list(range(steps - DECODE_EDGE, steps))
            notes.add("backend.note.trace.decode_skipped",
                      f"decode: steps 0-{DECODE_EDGE - 1} and the last {DECODE_EDGE} of {steps} traced, the KV "
                      "cache grown to its length in between in one step per layer (the allocator does not see "
                      "the skipped steps' cache reallocations)",
                      last_first=count(DECODE_EDGE - 1), edge=count(DECODE_EDGE), steps=count(steps))
        for t in order:
            if t == steps - DECODE_EDGE and steps > 2 * DECODE_EDGE:
                tracker.phase = "decode"  # the jump is no part of the layer loop
                _grow_cache(cache, steps - 2 * DECODE_EDGE, tracker)
            tracker.step = t
            tracker.in_logits = False
            if t % 16 == 0:
                progress("decode", 0.1 + 0.8 * t / max(steps, 1), f"decode step {t} of {steps}")
                tracker.check_time()
            held = _held_cache(cache) if plan.legacy_kv_cache else None
            out = model(input_ids=nxt, use_cache=True, **{cache_kw: cache}, **kwargs)
            cache = cache_of(out)
            nxt = out.logits[:, -1:].argmax(-1)
            del out, held
        del cache, nxt
