"""Builds the plan's model on fake CPU tensors: config, precision, bitsandbytes weights, PEFT, checkpointing."""

import contextlib
import dataclasses
import warnings

import torch

from .errors import TraceError
from .notes import count, text
from .quant import DTYPE, quantize_model

LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers")


def make_config(config_dict, layers=None):
    """The transformers config for `config_dict`, with `layers` decoder layers if given."""
    from transformers import AutoConfig

    raw = dict(config_dict)
    model_type = raw.pop("model_type")
    for k in ("transformers_version", "architectures", "_name_or_path", "auto_map", "quantization_config"):
        raw.pop(k, None)
    try:
        config = AutoConfig.for_model(model_type, **raw)
    except ValueError as e:
        if "nrecognized" in str(e) or "model_type" in str(e) or "should have a `model_type`" in str(e):
            raise TraceError(
                "unknown_model_type",
                f"model_config.model_type: `{model_type}` is not a model type this transformers knows",
                "model_config.model_type",
            ) from None
        raise TraceError("bad_request", f"model_config: {e}".splitlines()[0], "model_config") from None
    except (TypeError, KeyError, AttributeError) as e:
        raise TraceError("bad_request", f"model_config: {e}".splitlines()[0], "model_config") from None
    if layers is not None:
        set_layers(config, layers)
    return config


def num_layers(config):
    for k in LAYER_KEYS:
        v = getattr(config, k, None)
        if isinstance(v, int):
            return v
    return None


def set_layers(config, n):
    for k in LAYER_KEYS:
        if isinstance(getattr(config, k, None), int):
            setattr(config, k, n)
            break
    types = getattr(config, "layer_types", None)
    if isinstance(types, list) and len(types) >= n:
        config.layer_types = types[:n]


def layer_types_uniform(config):
    types = getattr(config, "layer_types", None)
    return not isinstance(types, list) or len(set(types)) <= 1


def find_layer_prefix(model, n_layers):
    """The FQN prefix of the decoder layers' ModuleList (e.g. `model.layers.`)."""
    best = None
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.ModuleList) and len(mod) == n_layers and name:
            if best is None or name.endswith("layers"):
                best = name
    return best + "." if best else None


def param_dtype(plan):
    """Dtype of the model's floating-point weights."""
    if plan.precision == "fp32":
        return torch.float32
    if plan.precision == "bf16-true":
        return torch.bfloat16
    if plan.precision == "fp16-true":
        return torch.float16
    # *-mixed: full and freeze training keep fp32 master weights; frozen LoRA bases and inference
    # keep the checkpoint's dtype.
    if plan.task == "train" and plan.method in ("full", "freeze"):
        return torch.float32
    if plan.bnb is not None:
        if plan.bnb.bits == 4:
            return DTYPE[plan.bnb.compute_dtype]
        return torch.float16
    return DTYPE[plan.weights_dtype or "bf16"]


def autocast_dtype(plan):
    if plan.task == "train" and plan.precision.endswith("-mixed"):
        return torch.bfloat16 if plan.precision.startswith("bf16") else torch.float16
    return None


def attn_implementation(plan, notes):
    if plan.attention == "flash":
        notes.add("backend.note.trace.flash_as_sdpa",
                  "attention flash: traced as sdpa (its memory-efficient kernel keeps no S x S matrix, as flash-attention 2 does)")
        return "sdpa"
    return plan.attention


@contextlib.contextmanager
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import transformers

        level = transformers.logging.get_verbosity()
        transformers.logging.set_verbosity_error()
        try:
            yield
        finally:
            transformers.logging.set_verbosity(level)


@contextlib.contextmanager
def fake_safe_apply():
    """Module.to()/.float() swap parameter objects for fake tensors (torch.utils.swap_tensors), which
    refuses tensors that FakeTensorMode holds weak references to; PEFT moves its adapters that way.
    Fall back to replacing the parameter's data, what .to() does for ordinary tensors."""
    orig = torch.utils.swap_tensors

    def swap(t1, t2):
        try:
            return orig(t1, t2)
        except RuntimeError:
            with torch.no_grad():
                t1.data = t2.data if isinstance(t2, torch.nn.Parameter) else t2

    torch.utils.swap_tensors = swap
    try:
        yield
    finally:
        torch.utils.swap_tensors = orig


def _note_reentrant(notes, use_reentrant):
    notes.add("backend.note.trace.reentrant", f"checkpointing with use_reentrant={use_reentrant}, as the plan says",
              reentrant=text(str(use_reentrant).lower()))


def _enable_checkpointing(model, use_reentrant=None, notes=None):
    """Checkpoint every decoder layer, with `use_reentrant` when the plan gives it (else transformers' default)."""
    if use_reentrant is not None and notes is not None:
        _note_reentrant(notes, use_reentrant)
    new = getattr(model, "activation_checkpointing_enable", None)
    if use_reentrant is None:
        (new or model.gradient_checkpointing_enable)()
    elif new is not None:
        new(activation_checkpointing_kwargs={"use_reentrant": use_reentrant})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": use_reentrant})


def build(config, plan, notes):
    """The plan's model (under the caller's FakeTensorMode). Returns (model, trainable_names)."""
    from transformers import AutoModelForCausalLM

    with fake_safe_apply():
        try:
            return _build(config, plan, notes)
        except _NoDropout:
            notes.add("backend.note.trace.no_lora_dropout",
                      "PEFT cannot apply LoRA dropout to this model's fused expert weights: traced with "
                      "lora_dropout 0")
            lora = dataclasses.replace(plan.lora, dropout=0.0)
            return _build(config, dataclasses.replace(plan, lora=lora), notes)


class _NoDropout(Exception):
    pass


def _build(config, plan, notes):
    from transformers import AutoModelForCausalLM

    dtype = param_dtype(plan)
    attn = attn_implementation(plan, notes)
    try:
        with quiet():
            try:
                model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=attn)
            except ValueError as e:
                if attn == "eager" or "attention implementation" not in str(e):
                    raise
                model_name = type(config).__name__.replace('Config', '')
                notes.add("backend.note.trace.eager_fallback",
                          f"{model_name} has no {attn} attention in this "
                          "transformers: traced with eager attention, as transformers would run it",
                          model=text(model_name), attention=text(attn))
                model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation="eager")
    except ValueError as e:
        msg = str(e).splitlines()[0]
        if "Unrecognized configuration class" in msg or "AutoModelForCausalLM" in msg:
            raise TraceError("unsupported", f"model_config.model_type: `{config.model_type}` has no causal-LM class in this transformers",
                             "model_config.model_type") from None
        raise TraceError("bad_request", f"model_config: {msg}", "model_config") from None
    if plan.bnb is not None:
        out_emb = model.get_output_embeddings()
        skip = list(plan.bnb.skip_modules or [])
        if plan.bnb.skip_modules is None:
            # transformers keeps the output embedding (lm_head) unquantized by default.
            for name, mod in model.named_modules():
                if mod is out_emb:
                    skip.append(name)
        n = quantize_model(model, plan.bnb, skip, plan.bnb_keeps_inputs)
        if plan.bnb.bits == 4 and plan.bnb_keeps_inputs and plan.task == "train":
            notes.add("backend.note.trace.bnb_keeps_inputs",
                      "bitsandbytes before 0.43.2: each 4-bit layer keeps its input on its autograd context for "
                      "backward, which checkpointing without reentrance does not drop")
        if plan.bnb.bits == 4:
            model.is_loaded_in_4bit = True
            notes.add("backend.note.trace.bnb4",
                      f"bitsandbytes 4-bit ({plan.bnb.quant_type}, double quant {plan.bnb.double_quant}): "
                      f"{n} linear layers per traced model simulated with exact packed/absmax storage; "
                      "dequantized weight copies in the compute dtype live for each matmul (workspace)",
                      quant_type=text(plan.bnb.quant_type), double_quant=text(plan.bnb.double_quant), layers=count(n))
        else:
            model.is_loaded_in_8bit = True
            notes.add("backend.note.trace.bnb8",
                      f"bitsandbytes 8-bit (LLM.int8): {n} linear layers as int8 weights plus fp32 row scales; "
                      "int8 input copies and int32 products as workspace; outlier columns not modelled",
                      layers=count(n))
    model.config.use_cache = plan.task == "infer"

    if plan.task == "infer":
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        return model

    model.train()
    if plan.method == "full":
        pass
    elif plan.method == "freeze":
        prefix = find_layer_prefix(model, num_layers(config))
        n = num_layers(config)
        first = max(n - plan.freeze_trainable_layers, 0)
        for name, p in model.named_parameters():
            keep = False
            if prefix and name.startswith(prefix):
                idx = int(name[len(prefix):].split(".")[0])
                keep = idx >= first
            p.requires_grad_(keep)
    else:
        model = _apply_lora(model, plan, notes)
        return model
    if plan.gradient_checkpointing:
        _enable_checkpointing(model, plan.use_reentrant, notes)
    return model


def _apply_lora(model, plan, notes):
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    lora = plan.lora
    with quiet():
        if (plan.method == "qlora" or plan.bnb is not None) and plan.kbit_upcast:
            kwargs = {}
            if plan.use_reentrant is not None:
                kwargs["gradient_checkpointing_kwargs"] = {"use_reentrant": plan.use_reentrant}
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=plan.gradient_checkpointing,
                                                    **kwargs)
            notes.add("backend.note.trace.kbit_prepared",
                      "prepare_model_for_kbit_training (PEFT) ran: frozen non-quantized weights upcast to fp32, "
                      "input embeddings' output requires grad")
            if plan.gradient_checkpointing and plan.use_reentrant is None:
                notes.add("backend.note.trace.peft_checkpointing",
                          "checkpointing as PEFT enables it: no use_reentrant given, so torch's reentrant default")
            elif plan.gradient_checkpointing:
                _note_reentrant(notes, plan.use_reentrant)
        elif plan.gradient_checkpointing:
            _enable_checkpointing(model, plan.use_reentrant, notes)
        to_save = None
        if plan.trainable_embeddings:
            to_save = []
            for emb in (model.get_input_embeddings(), model.get_output_embeddings()):
                for name, mod in model.named_modules():
                    if mod is emb and emb is not None:
                        to_save.append(name.split(".")[-1])
        config = LoraConfig(
            r=lora.rank,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=lora.target_modules,
            task_type="CAUSAL_LM",
            modules_to_save=to_save or None,
        )
        try:
            model = get_peft_model(model, config)
        except ValueError as e:
            # PEFT wraps fused MoE expert weights (ParamWrapper), which take no dropout; the failed call
            # has half-injected the model, so the caller rebuilds it.
            if "lora_dropout" in str(e) and config.lora_dropout != 0:
                raise _NoDropout() from None
            raise TraceError("bad_request", f"plan.lora.target_modules: {str(e).splitlines()[0]}",
                             "plan.lora.target_modules") from None
    if lora.dtype != "fp32":
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.data = p.data.to(DTYPE[lora.dtype])
    return model
