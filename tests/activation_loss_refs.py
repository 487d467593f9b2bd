"""NumPy references and input makers shared by the activation, loss, similarity and
attention tests (test_ops_activations_losses.py and its _cases file). Not a test module."""
import math

import numpy as np


# --------------------------------------------------------------- NumPy references
def np_log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def np_softplus(x):
    return np.logaddexp(0.0, x)


def np_norm(x, p, axis, keepdims=False):
    if p == math.inf:
        return np.abs(x).max(axis=axis, keepdims=keepdims)
    return (np.abs(x) ** p).sum(axis=axis, keepdims=keepdims) ** (1.0 / p)


def np_cos(x1, x2, axis, eps):
    n1 = np.maximum(np_norm(x1, 2, axis, True), eps)
    n2 = np.maximum(np_norm(x2, 2, axis, True), eps)
    return (x1 / n1 * x2 / n2).sum(axis=axis)


def np_attention(q, k, v, causal=False, scale=None):
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    groups = q.shape[-3] // k.shape[-3]
    k, v = np.repeat(k, groups, axis=-3), np.repeat(v, groups, axis=-3)  # GQA: heads shared
    scores = q @ np.swapaxes(k, -1, -2) * scale
    if causal:
        scores = np.where(np.tril(np.ones(scores.shape[-2:], bool)), scores, -np.inf)
    return np.exp(np_log_softmax(scores, -1)) @ v


SELU = (1.6732632423543772848170429916717, 1.0507009873554804934193349852946)


# ------------------------------------------------------------------ input makers
def away(x, kinks, gap=0.1):
    """Move values within `gap` of a kink by 2 gaps (finite differences must not straddle it)."""
    for k in kinks:
        x = np.where(np.abs(x - k) < gap, x + 2 * gap, x)
    return x


def uniform(shape, low=-4.0, high=4.0, kinks=(), seed=0):
    return lambda: away(np.random.default_rng(seed).uniform(low, high, shape), kinks)


def probabilities(shape, axis, seed):
    logits = np.random.default_rng(seed).normal(size=shape)
    return np.exp(np_log_softmax(logits, axis))


# ------------------------------------------------------------------ shared inputs
COUNTS = np.array([[0.0, 1.0, 2.0, 5.0], [3.0, 0.0, 1.0, 7.0], [2.0, 4.0, 0.0, 1.0]])
LABELS = np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 0.0, 0.0]])
