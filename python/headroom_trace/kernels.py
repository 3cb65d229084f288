"""CUDA kernels whose saved tensors differ from the CPU kernels the trace runs, stood in for while tracing.

Dropout: CUDA's fused kernel (`native_dropout`) keeps a 1-byte bool mask for backward; the CPU kernel
(`_dropout_impl` in aten/src/ATen/native/Dropout.cpp) multiplies by a noise tensor in the input's dtype and
keeps that, 2 or 4 bytes per element. LoRA's dropout on every adapted layer's input makes the difference
large, so the trace keeps a bool mask as the GPU would.
"""

import contextlib

import torch


class _FusedDropout(torch.autograd.Function):
    """Dropout with CUDA's memory behaviour: a new output and a saved bool mask, nothing else."""

    @staticmethod
    def forward(ctx, x, p):
        mask = torch.empty(x.shape, dtype=torch.bool, device=x.device)
        ctx.save_for_backward(mask)
        ctx.scale = 1.0 / (1.0 - p)
        return torch.empty_like(x)

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        del mask
        return torch.empty_like(grad), None


def _dropout(original):
    def dropout(input, p=0.5, training=True, inplace=False):
        if not training or p == 0.0 or not (torch.is_grad_enabled() and input.requires_grad):
            return original(input, p, training, inplace)
        return _FusedDropout.apply(input, p)

    return dropout


@contextlib.contextmanager
def cuda_like_kernels():
    """Swap in the stand-ins for the duration of a trace; the originals come back whatever happens."""
    functional = torch.nn.functional
    original = functional.dropout
    functional.dropout = _dropout(original)
    try:
        yield
    finally:
        functional.dropout = original
