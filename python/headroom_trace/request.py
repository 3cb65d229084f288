"""Reads and checks a protocol-1 request; every error names the field at fault."""

from dataclasses import dataclass, field
from typing import Optional

from .errors import TraceError
from .notes import Notes

TASKS = ("train", "infer")
METHODS = ("full", "lora", "qlora", "freeze")
PRECISIONS = ("fp32", "fp16-mixed", "bf16-mixed", "bf16-true", "fp16-true")
DTYPES = ("fp32", "bf16", "fp16")
OPTIMIZERS = ("adamw", "adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit", "sgd", "sgd_momentum", "adafactor")
ATTENTIONS = ("eager", "sdpa", "flash")
KV_DTYPES = ("bf16", "fp16", "fp32", "fp8", "int8", "int4")
QUANT_TYPES = ("nf4", "fp4")
QUANT_STORAGES = ("uint8", "int8", "bf16", "fp16", "fp32")


@dataclass
class Bnb:
    bits: int  # 4 or 8
    quant_type: str = "nf4"
    double_quant: bool = False
    compute_dtype: str = "fp32"
    quant_storage: str = "uint8"
    threshold: float = 6.0
    skip_modules: Optional[list] = None


@dataclass
class Lora:
    rank: int = 16
    alpha: float = 32
    dropout: float = 0.05
    target_modules: object = "all-linear"
    dtype: str = "fp32"


@dataclass
class Plan:
    task: str
    method: str
    precision: str
    weights_dtype: Optional[str]
    bnb: Optional[Bnb]
    lora: Optional[Lora]
    trainable_embeddings: bool
    freeze_trainable_layers: int
    optimizer: str
    optimizer_in_backward: bool
    batch_size: int
    sequence_lengths: list
    gradient_checkpointing: bool
    attention: str
    chunked_loss: bool
    new_tokens: int
    kv_cache_dtype: Optional[str]
    kbit_upcast: bool = True
    prefill_logits: str = "last"
    # a KV cache handed back as tuples: the caller holds the old cache through each decode step
    legacy_kv_cache: bool = False
    # bitsandbytes before 0.43.2: MatMul4Bit keeps its input on its autograd context (8-bit always does)
    bnb_keeps_inputs: bool = False
    # torch.utils.checkpoint's use_reentrant; None: as transformers or PEFT enable checkpointing by default
    use_reentrant: Optional[bool] = None


@dataclass
class Request:
    model_config: dict
    plan: Plan
    expandable_segments: bool
    layers: Optional[int]
    time_limit_s: float
    notes: Notes = field(default_factory=Notes)


def _bad(field_name, message):
    return TraceError("bad_request", f"{field_name}: {message}", field_name)


def _obj(value, name):
    if not isinstance(value, dict):
        raise _bad(name, "must be an object")
    return value


def _choice(obj, key, choices, prefix, default=None, required=False):
    name = f"{prefix}.{key}"
    if key not in obj or obj[key] is None:
        if required:
            raise _bad(name, "is required")
        return default
    value = obj[key]
    if value not in choices:
        raise _bad(name, f"must be one of {', '.join(choices)}, not {value!r}")
    return value


def _int(obj, key, prefix, default=None, minimum=0, required=False):
    name = f"{prefix}.{key}"
    if key not in obj or obj[key] is None:
        if required:
            raise _bad(name, "is required")
        return default
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(name, f"must be an integer, not {value!r}")
    if value < minimum:
        raise _bad(name, f"must be at least {minimum}, not {value}")
    return value


def _bool(obj, key, prefix, default=False):
    name = f"{prefix}.{key}"
    value = obj.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _bad(name, f"must be true or false, not {value!r}")
    return value


def _number(obj, key, prefix, default):
    name = f"{prefix}.{key}"
    value = obj.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(name, f"must be a number, not {value!r}")
    return float(value)


def _modules(obj, key, prefix):
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _bad(f"{prefix}.{key}", "must be a list of module names")
    return value


def _bnb(raw):
    p = "plan.weights.bnb"
    raw = _obj(raw, p)
    four = _bool(raw, "load_in_4bit", p)
    eight = _bool(raw, "load_in_8bit", p)
    if four == eight:
        raise _bad(p, "set exactly one of load_in_4bit and load_in_8bit to true")
    if four:
        return Bnb(
            bits=4,
            quant_type=_choice(raw, "bnb_4bit_quant_type", QUANT_TYPES, p, "nf4"),
            double_quant=_bool(raw, "bnb_4bit_use_double_quant", p),
            compute_dtype=_choice(raw, "bnb_4bit_compute_dtype", DTYPES, p, "fp32"),
            quant_storage=_choice(raw, "bnb_4bit_quant_storage", QUANT_STORAGES, p, "uint8"),
            skip_modules=_modules(raw, "llm_int8_skip_modules", p),
        )
    return Bnb(
        bits=8,
        threshold=_number(raw, "llm_int8_threshold", p, 6.0),
        skip_modules=_modules(raw, "llm_int8_skip_modules", p),
    )


def _lora(raw):
    p = "plan.lora"
    raw = _obj(raw, p)
    target = raw.get("target_modules", "all-linear")
    if target is None:
        target = "all-linear"
    if target != "all-linear" and not (
        isinstance(target, list) and target and all(isinstance(t, str) and t for t in target)
    ):
        raise _bad(f"{p}.target_modules", 'must be "all-linear" or a non-empty list of module names')
    dropout = _number(raw, "dropout", p, 0.05)
    if not 0.0 <= dropout < 1.0:
        raise _bad(f"{p}.dropout", f"must be in [0, 1), not {dropout}")
    return Lora(
        rank=_int(raw, "rank", p, 16, minimum=1),
        alpha=_number(raw, "alpha", p, 32.0),
        dropout=dropout,
        target_modules=target,
        dtype=_choice(raw, "dtype", DTYPES, p, "fp32"),
    )


def parse_plan(raw):
    p = "plan"
    raw = _obj(raw, p)
    task = _choice(raw, "task", TASKS, p, required=True)
    method = _choice(raw, "method", METHODS, p, "full" if task == "train" else "full")
    precision = _choice(raw, "precision", PRECISIONS, p, "bf16-mixed")
    weights = raw.get("weights")
    weights_dtype, bnb = None, None
    if weights is not None:
        weights = _obj(weights, "plan.weights")
        if "bnb" in weights and weights["bnb"] is not None:
            bnb = _bnb(weights["bnb"])
        else:
            weights_dtype = _choice(weights, "dtype", DTYPES, "plan.weights", required=True)
    if method == "qlora" and (bnb is None or bnb.bits != 4):
        raise _bad("plan.weights.bnb", "method qlora needs 4-bit bitsandbytes weights (load_in_4bit)")
    lora = None
    if method in ("lora", "qlora"):
        lora = _lora(raw.get("lora") if raw.get("lora") is not None else {})
    seq = _int(raw, "sequence_length", p, 2048, minimum=1)
    lengths = raw.get("sequence_lengths")
    if lengths is not None:
        if not isinstance(lengths, list) or not lengths or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in lengths
        ):
            raise _bad("plan.sequence_lengths", "must be a non-empty list of positive integers")
        if task != "train":
            raise _bad("plan.sequence_lengths", "applies to training only")
    optimizer = _choice(raw, "optimizer", OPTIMIZERS, p, "adamw")
    plan = Plan(
        task=task,
        method=method,
        precision=precision,
        weights_dtype=weights_dtype,
        bnb=bnb,
        lora=lora,
        trainable_embeddings=_bool(raw, "trainable_embeddings", p),
        freeze_trainable_layers=_int(raw, "freeze_trainable_layers", p, 2, minimum=1),
        optimizer=optimizer,
        optimizer_in_backward=_bool(raw, "optimizer_in_backward", p),
        batch_size=_int(raw, "batch_size", p, 1, minimum=1),
        sequence_lengths=list(lengths) if lengths else [seq],
        gradient_checkpointing=_bool(raw, "gradient_checkpointing", p),
        attention=_choice(raw, "attention", ATTENTIONS, p, "sdpa"),
        chunked_loss=_bool(raw, "chunked_loss", p),
        new_tokens=_int(raw, "new_tokens", p, 0, minimum=0),
        kv_cache_dtype=_choice(raw, "kv_cache_dtype", KV_DTYPES, p, None),
        # optional (protocol addition): false for frameworks that quantize without PEFT's
        # prepare_model_for_kbit_training (torchtune, lit-gpt), which keep the other weights in 16 bits
        kbit_upcast=_bool(raw, "kbit_upcast", p, True),
        # optional (protocol addition): "all" for transformers before 4.45, whose generate() computed the
        # prefill's logits for every prompt token and upcast them to fp32
        prefill_logits=_choice(raw, "prefill_logits", ("last", "all"), p, "last"),
        # optional (protocol addition): transformers before 4.42 and remote-code models returned the cache as
        # tuples, which generate() held while every layer built its longer one
        legacy_kv_cache=_bool(raw, "legacy_kv_cache", p, False),
        # optional (protocol addition): the plan's bitsandbytes release keeps 4-bit layers' inputs (before 0.43.2)
        bnb_keeps_inputs=_bool(raw, "bnb_keeps_inputs", p, False),
        # optional (protocol addition): gradient checkpointing's use_reentrant, as the plan's framework passes it
        use_reentrant=_optional_bool(raw, "use_reentrant", p),
    )
    return plan


def _optional_bool(obj, key, prefix):
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _bad(f"{prefix}.{key}", f"must be true or false, not {value!r}")
    return value


def parse_request(raw):
    raw = _obj(raw, "request")
    version = raw.get("protocol")
    if version != 1:
        raise _bad("protocol", f"must be 1, not {version!r}")
    config = raw.get("model_config")
    if not isinstance(config, dict):
        raise _bad("model_config", "must be the model's config.json object")
    if not isinstance(config.get("model_type"), str) or not config["model_type"]:
        raise _bad("model_config.model_type", "is required (a string such as \"llama\")")
    plan = parse_plan(raw.get("plan"))
    alloc = raw.get("allocator") or {}
    alloc = _obj(alloc, "allocator")
    layers = raw.get("layers")
    if layers is not None and (isinstance(layers, bool) or not isinstance(layers, int) or layers < 1):
        raise _bad("layers", f"must be a positive integer or null, not {layers!r}")
    limit = raw.get("time_limit_s", 300)
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit <= 0:
        raise _bad("time_limit_s", f"must be a positive number of seconds, not {limit!r}")
    return Request(
        model_config=config,
        plan=plan,
        expandable_segments=_bool(alloc, "expandable_segments", "allocator"),
        layers=layers,
        time_limit_s=float(limit),
    )
