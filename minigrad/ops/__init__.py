"""Differentiable operations, one class per op, grouped by family.

Each file reads the same way: a `Function` subclass with `forward` (raw
arrays in, raw array out) and `backward` (Tensor gradients in, Tensor
gradients out) side by side, and a lowercase wrapper under it that is what
users call (through `minigrad.functional`). Each class also declares what its
backward needs (`save_inputs`, `save_outputs`, `save_for_backward`): the
graph keeps those arrays until that backward has run, and nothing else.

Layers: the ops import the engine (`minigrad.autograd`) and `Tensor`, and
each other; nothing below them (tensor.py, autograd.py) imports an op.
"""
