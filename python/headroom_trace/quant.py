"""bitsandbytes 4-bit and 8-bit linear layers simulated on CPU with bitsandbytes' exact storage sizes.

Storage (bitsandbytes 0.4x, Params4bit / Int8Params):
- 4-bit: the weight packed two values per byte, (numel + 1) // 2 bytes, in `bnb_4bit_quant_storage`
  elements; absmax per 64-value block in fp32, or with double quantization absmax as uint8 per block
  plus an fp32 absmax per 256 blocks and an fp32 offset; the 16-entry fp32 code of nf4/fp4 per layer.
- 8-bit: the weight in int8 plus one fp32 scale per output row (SCB).
Compute: a 4-bit layer dequantizes its weight to the compute dtype for the matmul and frees it, in
forward and again in backward for the input gradient (MatMul4Bit); a single-token inference step
uses the fused gemv kernel with no dequantized copy. An 8-bit layer quantizes its input to int8 with
row scales, multiplies into int32 and dequantizes into fp16; its backward dequantizes the weight.
Saved for backward: what bitsandbytes keeps is an attribute of the autograd context (`ctx.tensors`), not a
saved tensor, so checkpointing without reentrance cannot drop it: MatMul8bitLt keeps its input in every
release, MatMul4Bit kept it before 0.43.2 (bitsandbytes pull request 1270) and keeps only the weight since.
"""

import torch
from torch import nn

BLOCK_4BIT = 64
BLOCK_DQ = 256
DTYPE = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
STORAGE = {"uint8": torch.uint8, "int8": torch.int8, "bf16": torch.bfloat16, "fp16": torch.float16,
           "fp32": torch.float32}


def nf4_storage_bytes(numel, double_quant, quant_storage="uint8"):
    """Bytes one 4-bit weight of `numel` values occupies on the GPU, as separate allocations."""
    elem = torch.empty((), dtype=STORAGE[quant_storage]).element_size()
    packed = (numel + 1) // 2
    packed = -(-packed // elem) * elem
    blocks = -(-numel // BLOCK_4BIT)
    parts = [packed, 16 * 4]  # the packed weight, the 16-entry code
    if double_quant:
        parts += [blocks, -(-blocks // BLOCK_DQ) * 4, 4]  # uint8 absmax, fp32 absmax2, fp32 offset
    else:
        parts += [blocks * 4]
    return parts


def int8_storage_bytes(out_features, in_features):
    return [out_features * in_features, out_features * 4]


def attach_tracker(model, tracker):
    """Give every simulated layer the tracker, so its temporaries are filed as workspace."""
    for m in model.modules():
        if isinstance(m, (Linear4bit, Linear8bitLt)):
            m.tracker = tracker


def _dequantized(weight_shape, dtype, like, tracker):
    """A dequantized copy of the weight: a real (fake) tensor so its lifetime is tracked."""
    if tracker is not None:
        tracker.push_category("workspace")
    try:
        return torch.empty(weight_shape, dtype=dtype, device=like.device)
    finally:
        if tracker is not None:
            tracker.pop_category()


class _MatMul4Bit(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, packed, bias, out_features, in_features, tracker, keeps_input):
        w = _dequantized((out_features, in_features), x.dtype, x, tracker)
        out = torch.nn.functional.linear(x, w, bias)
        del w
        ctx.shape = (out_features, in_features)
        ctx.tracker = tracker
        if any(ctx.needs_input_grad[:2]):
            ctx.tensors = (x if keeps_input else None, packed)
        else:
            ctx.tensors = (None, None)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        grad_x = None
        if ctx.needs_input_grad[0]:
            w = _dequantized(ctx.shape, grad_out.dtype, grad_out, ctx.tracker)
            grad_x = torch.matmul(grad_out, w)
            del w
        return grad_x, None, None, None, None, None, None


class Linear4bit(nn.Linear):
    """A bitsandbytes Linear4bit stand-in. Subclasses nn.Linear so that PEFT wraps it with its LoRA layer."""

    tracker = None
    # bitsandbytes before 0.43.2 keeps the input on the autograd context.
    keeps_input = False

    def __init__(self, in_features, out_features, bias, compute_dtype, double_quant, quant_storage, device=None):
        nn.Module.__init__(self)
        self.in_features = in_features
        self.out_features = out_features
        numel = in_features * out_features
        sizes = nf4_storage_bytes(numel, double_quant, quant_storage)
        st = STORAGE[quant_storage]
        elem = torch.empty((), dtype=st).element_size()
        self.weight = nn.Parameter(torch.empty(sizes[0] // elem, 1, dtype=st, device=device), requires_grad=False)
        self.weight.logical_numel = numel  # the parameter count it stands for
        self.register_buffer("quant_code", torch.empty(16, dtype=torch.float32, device=device))
        if double_quant:
            self.register_buffer("absmax", torch.empty(sizes[2], dtype=torch.uint8, device=device))
            self.register_buffer("absmax2", torch.empty(sizes[3] // 4, dtype=torch.float32, device=device))
            self.register_buffer("absmax_offset", torch.empty((), dtype=torch.float32, device=device))
        else:
            self.register_buffer("absmax", torch.empty(sizes[2] // 4, dtype=torch.float32, device=device))
        self.bias = nn.Parameter(torch.empty(out_features, dtype=compute_dtype, device=device)) if bias else None
        self.compute_dtype = compute_dtype

    def forward(self, x):
        in_dtype = x.dtype
        x = x.to(self.compute_dtype)
        bias = None if self.bias is None else self.bias.to(self.compute_dtype)
        if not torch.is_grad_enabled() and x.numel() == x.shape[-1]:
            # one token at inference: bitsandbytes' gemv_4bit reads the packed weight directly.
            out = torch.empty((*x.shape[:-1], self.out_features), dtype=x.dtype, device=x.device)
            if bias is not None:
                out = out + bias
        else:
            out = _MatMul4Bit.apply(x, self.weight, bias, self.out_features, self.in_features, self.tracker,
                                    self.keeps_input)
        return out.to(in_dtype)


class _MatMul8bitLt(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, out_features, in_features, tracker):
        if tracker is not None:
            tracker.push_category("workspace")
        try:
            x16 = x.to(torch.float16)
            tokens = x.numel() // in_features
            ca = torch.empty(x.shape, dtype=torch.int8, device=x.device)  # int8_vectorwise_quant
            sca = torch.empty(tokens, dtype=torch.float32, device=x.device)
            del x16
            out32 = torch.empty((*x.shape[:-1], out_features), dtype=torch.int32, device=x.device)
            del ca, sca
        finally:
            if tracker is not None:
                tracker.pop_category()
        out = torch.empty((*x.shape[:-1], out_features), dtype=torch.float16, device=x.device)
        del out32
        if bias is not None:
            out = out + bias.to(torch.float16)
        ctx.shape = (out_features, in_features)
        ctx.tracker = tracker
        ctx.tensors = (x, weight) if any(ctx.needs_input_grad[:2]) else (None, None)
        return out.to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        grad_x = None
        if ctx.needs_input_grad[0]:
            w = _dequantized(ctx.shape, torch.float16, grad_out, ctx.tracker)
            grad_x = torch.matmul(grad_out.to(torch.float16), w).to(grad_out.dtype)
            del w
        return grad_x, None, None, None, None, None


class Linear8bitLt(nn.Linear):
    tracker = None

    def __init__(self, in_features, out_features, bias, device=None):
        nn.Module.__init__(self)
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features, dtype=torch.int8, device=device),
                                   requires_grad=False)
        self.register_buffer("SCB", torch.empty(out_features, dtype=torch.float32, device=device))
        self.bias = nn.Parameter(torch.empty(out_features, dtype=torch.float16, device=device)) if bias else None

    def forward(self, x):
        return _MatMul8bitLt.apply(x, self.weight, self.bias, self.out_features, self.in_features, self.tracker)


def quantize_model(model, bnb, skip, keeps_inputs=False):
    """Swap every nn.Linear outside `skip` (module names or their last component) for its bnb stand-in;
    `keeps_inputs`: the 4-bit layers keep their inputs, as bitsandbytes before 0.43.2 does.
    Returns the number of layers swapped."""
    swapped = 0
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if type(child) is not nn.Linear:
                continue
            full = f"{name}.{child_name}" if name else child_name
            if any(full == s or full.endswith("." + s) or child_name == s for s in skip):
                continue
            dev = child.weight.device
            if bnb.bits == 4:
                new = Linear4bit(child.in_features, child.out_features, child.bias is not None,
                                 DTYPE[bnb.compute_dtype], bnb.double_quant, bnb.quant_storage, device=dev)
                new.keeps_input = keeps_inputs
            else:
                new = Linear8bitLt(child.in_features, child.out_features, child.bias is not None, device=dev)
            setattr(module, child_name, new)
            swapped += 1
    return swapped

