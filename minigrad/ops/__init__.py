"""Differentiable operations, one class per op, grouped by family.

Each file reads the same way: a `Function` subclass with `forward` (raw
arrays in, raw array out) and `backward` (Tensor gradients in, Tensor
gradients out) side by side, and a lowercase wrapper under it that is what
users call (through `minigrad.functional`).
"""
