"""Headroom's trace engine: the memory peak of the real model code, measured on fake tensors."""

PROTOCOL = 1
