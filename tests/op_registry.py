"""The registry of ops: one entry per op drives every generic test.

Each entry gives the op as minigrad calls it, an independent NumPy reference,
the input shapes to try (several broadcasting combinations for binary ops),
and a domain away from kinks and singularities (log near 0, |x| at 0, ties
in max), so finite differences are meaningful.

LAYER_REGISTRY holds the layer-sized ops (conv and pooling in 1, 2 and 3
dims, padding, resampling, unfold/fold, pixel shuffle, normalization,
losses, activations, attention, dropout, linear) with `reference=None`: their
own test files check them against NumPy and PyTorch; here every one is
gradchecked on each device and its cuda run (forward and backward) is compared
with its cpu run. Shapes are tiny so the cuda cases stay cheap.
"""
from dataclasses import dataclass, field

import numpy as np
from numpy_reference import np_log_softmax, np_logsumexp, np_softmax

import minigrad
import minigrad.functional as F

BINARY_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)),
                 ((1, 3), (2, 1))]
UNARY_SHAPES = [((3, 4),), ((2, 3, 2),), ((5,),)]


@dataclass
class OpSpec:
    name: str
    op: callable
    reference: callable          # NumPy reference; None: checked against the cpu run only
    shapes: list
    low: float = -2.0
    high: float = 2.0
    distinct: bool = False       # values must be pairwise distinct (no ties: max, sort)
    away_from_zero: bool = False  # keep |x| >= 0.2 (abs, relu, division)
    second_order: bool = True    # gradgradcheck applies
    tags: set = field(default_factory=set)


def _reduce_specs(name, op, reference, **kw):
    """A reduction over every axis argument NumPy allows: None, int, negative, tuple."""
    specs = []
    for axis, keepdims in [(None, False), (0, False), (1, True), (-1, False), ((0, 2), True)]:
        specs.append(OpSpec(f"{name}[axis={axis},keepdims={keepdims}]",
                            lambda x, a=axis, k=keepdims: op(x, a, k),
                            lambda x, a=axis, k=keepdims: reference(x, a, k),
                            [((2, 3, 4),)], **kw))
    return specs


REGISTRY = [
    # arithmetic (operators and functions)
    OpSpec("add", lambda x, y: x + y, np.add, BINARY_SHAPES),
    OpSpec("sub", lambda x, y: x - y, np.subtract, BINARY_SHAPES),
    OpSpec("mul", lambda x, y: x * y, np.multiply, BINARY_SHAPES),
    OpSpec("div", lambda x, y: x / y, np.divide, BINARY_SHAPES, low=0.5, high=2.0),
    OpSpec("pow", lambda x, y: x ** y, np.power, BINARY_SHAPES, low=0.5, high=2.0),
    OpSpec("pow_scalar", lambda x: x ** 3.0, lambda x: x ** 3.0, UNARY_SHAPES),
    OpSpec("rsub_scalar", lambda x: 2.0 - x, lambda x: 2.0 - x, UNARY_SHAPES),
    OpSpec("rdiv_scalar", lambda x: 1.0 / x, lambda x: 1.0 / x, UNARY_SHAPES, low=0.5),
    OpSpec("neg", lambda x: -x, np.negative, UNARY_SHAPES),
    OpSpec("matmul", lambda x, y: x @ y, np.matmul,
           [((3, 4), (4, 2)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (3, 4, 2)), ((4,), (4, 3)),
            ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4,))]),
    # unary functions
    OpSpec("exp", F.exp, np.exp, UNARY_SHAPES),
    OpSpec("log", F.log, np.log, UNARY_SHAPES, low=0.3, high=3.0),
    OpSpec("sqrt", F.sqrt, np.sqrt, UNARY_SHAPES, low=0.3, high=3.0),
    OpSpec("abs", F.abs, np.abs, UNARY_SHAPES, away_from_zero=True),
    OpSpec("sin", F.sin, np.sin, UNARY_SHAPES),
    OpSpec("cos", F.cos, np.cos, UNARY_SHAPES),
    OpSpec("tanh", F.tanh, np.tanh, UNARY_SHAPES),
    OpSpec("sigmoid", F.sigmoid, lambda x: 1 / (1 + np.exp(-x)), UNARY_SHAPES),
    OpSpec("relu", F.relu, lambda x: np.maximum(x, 0), UNARY_SHAPES, away_from_zero=True),
    OpSpec("maximum", F.maximum, np.maximum, BINARY_SHAPES, distinct=True),
    OpSpec("minimum", F.minimum, np.minimum, BINARY_SHAPES, distinct=True),
    OpSpec("clip", lambda x: F.clip(x, -0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7), UNARY_SHAPES,
           distinct=True, tags={"kinks_at_bounds"}),
    OpSpec("where", lambda x, y: F.where(x.detach() > 0, x, y),
           lambda x, y: np.where(x > 0, x, y), BINARY_SHAPES, away_from_zero=True),
    # reductions
    *_reduce_specs("sum", F.sum, lambda x, a, k: np.sum(x, axis=a, keepdims=k)),
    *_reduce_specs("mean", F.mean, lambda x, a, k: np.mean(x, axis=a, keepdims=k)),
    *_reduce_specs("max", F.amax, lambda x, a, k: np.max(x, axis=a, keepdims=k), distinct=True),
    *_reduce_specs("min", F.amin, lambda x, a, k: np.min(x, axis=a, keepdims=k), distinct=True),
    *_reduce_specs("var", lambda x, a, k: F.var(x, a, keepdim=k),
                   lambda x, a, k: np.var(x, axis=a, keepdims=k, ddof=1)),
    *_reduce_specs("std", lambda x, a, k: F.std(x, a, keepdim=k),
                   lambda x, a, k: np.std(x, axis=a, keepdims=k, ddof=1)),
    *_reduce_specs("logsumexp", F.logsumexp, lambda x, a, k: np_logsumexp(x, a, k)),
    OpSpec("var_ddof1", lambda x: F.var(x, 1, ddof=1), lambda x: np.var(x, 1, ddof=1),
           [((3, 4),)]),
    OpSpec("softmax", lambda x: F.softmax(x, 1), lambda x: np_softmax(x, 1), [((3, 4),), ((2, 3, 2),)]),
    OpSpec("softmax_axis0", lambda x: F.softmax(x, 0), lambda x: np_softmax(x, 0), [((3, 4),)]),
    OpSpec("log_softmax", lambda x: F.log_softmax(x, -1), lambda x: np_log_softmax(x, -1),
           [((3, 4),), ((2, 3, 2),)]),
    # shape
    OpSpec("reshape", lambda x: x.reshape(4, 3), lambda x: x.reshape(4, 3), [((3, 4),)]),
    OpSpec("reshape_infer", lambda x: x.reshape(-1, 2), lambda x: x.reshape(-1, 2), [((3, 4),)]),
    OpSpec("transpose", lambda x: x.transpose(), lambda x: x.transpose(), [((2, 3, 4),)]),
    OpSpec("T", lambda x: x.T, lambda x: x.T, [((3, 4),)]),
    OpSpec("permute", lambda x: x.permute(2, 0, 1), lambda x: x.transpose(2, 0, 1), [((2, 3, 4),)]),
    OpSpec("swapaxes", lambda x: x.swapaxes(0, 2), lambda x: x.swapaxes(0, 2), [((2, 3, 4),)]),
    OpSpec("flatten", lambda x: x.flatten(1), lambda x: x.reshape(2, -1), [((2, 3, 4),)]),
    OpSpec("squeeze", lambda x: x.squeeze(1), lambda x: x.squeeze(1), [((3, 1, 4),)]),
    OpSpec("unsqueeze", lambda x: x.unsqueeze(-1), lambda x: x[..., None], [((3, 4),)]),
    OpSpec("expand", lambda x: x.expand(2, -1, 4), lambda x: np.broadcast_to(x, (2, 3, 4)),
           [((3, 1),)]),
    OpSpec("broadcast_to", lambda x: x.broadcast_to((2, 3, 4)),
           lambda x: np.broadcast_to(x, (2, 3, 4)), [((4,),), ((3, 1),)]),
    OpSpec("getitem_basic", lambda x: x[1:, ::2], lambda x: x[1:, ::2], [((3, 4),)]),
    OpSpec("getitem_int", lambda x: x[1, :, -1], lambda x: x[1, :, -1], [((2, 3, 4),)]),
    OpSpec("getitem_none_ellipsis", lambda x: x[None, ..., 1], lambda x: x[None, ..., 1],
           [((2, 3, 4),)]),
    OpSpec("getitem_array_repeated", lambda x: x[[0, 2, 0, 0]], lambda x: x[[0, 2, 0, 0]],
           [((3, 4),)]),
    OpSpec("getitem_2d_arrays", lambda x: x[[0, 1, 1], [2, 2, 0]],
           lambda x: x[[0, 1, 1], [2, 2, 0]], [((3, 4),)]),
    OpSpec("getitem_bool_mask", lambda x: x[x.detach() > 0], lambda x: x[x > 0], [((3, 4),)],
           away_from_zero=True),
    OpSpec("concatenate", lambda x, y: F.concatenate([x, y, x], axis=1),
           lambda x, y: np.concatenate([x, y, x], axis=1), [((2, 3), (2, 1))]),
    OpSpec("stack", lambda x, y: F.stack([x, y], axis=1), lambda x, y: np.stack([x, y], 1),
           [((2, 3), (2, 3))]),
    OpSpec("split", lambda x: F.tensor_split(x, [1, 3], axis=1)[1] * F.split(x, 1, axis=0)[0][:, :2],
           lambda x: np.split(x, [1, 3], axis=1)[1] * np.split(x, 2, axis=0)[0][:, :2],
           [((2, 4),)]),
    OpSpec("pad", lambda x: F.pad(x, ((1, 0), (2, 1)), value=0.5),
           lambda x: np.pad(x, ((1, 0), (2, 1)), constant_values=0.5), [((2, 3),)]),
]


def _on(array, like):
    """A constant (targets, indices) on the device of the tensor `like`."""
    return minigrad.tensor(array, device=like.device)


def _target(x, low=0.0, high=1.0):
    """A fixed target of x's shape and dtype, spread over [low, high]."""
    return _on(np.linspace(low, high, x.numel()).reshape(x.shape).astype(x.dtype), x)


def _seeded_dropout(x):
    """Training-mode dropout with the same mask at every call (finite differences need that)."""
    minigrad.manual_seed(3)
    return F.dropout(x, 0.5, training=True)


def _batch_norm(x, w, b):
    running_mean = minigrad.zeros(x.shape[1], dtype=x.dtype, device=x.device)
    running_var = minigrad.ones(x.shape[1], dtype=x.dtype, device=x.device)
    return F.batch_norm(x, running_mean, running_var, w, b, training=True)


# Second derivatives on cuda are the slowest checks (finite differences of a
# backward): a representative few layers run them there (conv, max-pool,
# unpool, bicubic resampling, batch norm, cross-entropy, attention), every one
# runs on cpu. The layer test files (test_conv.py, test_nn_loss.py, ...)
# likewise check second order on cpu only.
CUDA_SECOND_ORDER = "cuda_second_order"
_CLASSES = np.array([2, 0, 1])  # targets for a (3, C >= 3) batch of logits


# (mode, input shape, output size, align_corners, tags) for the interpolate entries
_INTERPOLATE_CONFIGS = [("nearest", (1, 2, 3, 2), (5, 3), None, set()),
                        ("nearest-exact", (1, 2, 4), 3, None, set()),
                        ("linear", (1, 2, 3), 5, False, set()),
                        ("bilinear", (1, 1, 3, 2), (4, 5), True, set()),
                        ("bicubic", (1, 1, 3, 4), (5, 3), False, {CUDA_SECOND_ORDER}),
                        ("trilinear", (1, 1, 2, 3, 2), (3, 2, 4), False, set()),
                        ("area", (1, 2, 5, 3), (2, 2), None, set())]


def _layer(name, op, shapes, **kw):
    return OpSpec(name, op, None, shapes, **kw)


LAYER_REGISTRY = [
    # convolution and pooling
    _layer("conv2d", lambda x, w, b: F.conv2d(x, w, b, padding=1),
           [((1, 2, 3, 3), (2, 2, 3, 3), (2,))], tags={CUDA_SECOND_ORDER}),
    _layer("conv2d_stride_groups", lambda x, w: F.conv2d(x, w, stride=2, groups=2),
           [((1, 4, 3, 3), (2, 2, 2, 2))]),
    _layer("conv_transpose2d", lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1),
           [((1, 2, 2, 2), (2, 1, 3, 3))]),
    _layer("max_pool2d", lambda x: F.max_pool2d(x, 2), [((2, 2, 4, 4),)], distinct=True,
           tags={CUDA_SECOND_ORDER}),
    _layer("max_pool2d_padded", lambda x: F.max_pool2d(x, 3, stride=2, padding=1),
           [((1, 2, 5, 5),)], distinct=True),
    _layer("avg_pool2d", lambda x: F.avg_pool2d(x, 3, stride=2, padding=1), [((1, 2, 5, 5),)]),
    _layer("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (2, 3)), [((1, 2, 5, 7),)]),
    # N-d convolution and pooling: one small config each (1-d and 3-d, the options 2-d lacks here)
    _layer("conv1d", lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1, dilation=2),
           [((2, 2, 6), (3, 2, 2), (3,))]),
    _layer("conv1d_same", lambda x, w: F.conv1d(x, w, padding="same"), [((1, 2, 5), (2, 2, 3))]),
    _layer("conv3d", lambda x, w, b: F.conv3d(x, w, b, padding=(1, 0, 1)),
           [((1, 2, 3, 2, 3), (2, 2, 2, 2, 2), (2,))], tags={CUDA_SECOND_ORDER}),
    _layer("conv_transpose1d", lambda x, w, b: F.conv_transpose1d(x, w, b, stride=2, output_padding=1),
           [((1, 2, 3), (2, 3, 2), (3,))]),
    _layer("conv_transpose3d", lambda x, w: F.conv_transpose3d(x, w, stride=(1, 2, 1), padding=1),
           [((1, 2, 2, 2, 2), (2, 1, 3, 2, 3))]),
    _layer("max_pool1d_ceil_dilation", lambda x: F.max_pool1d(x, 2, stride=2, dilation=2, ceil_mode=True),
           [((2, 2, 7),)], distinct=True),
    _layer("max_pool3d_indices", lambda x: F.max_pool3d(x, 2, stride=1, padding=1,
                                                        return_indices=True)[0],
           [((1, 1, 2, 3, 2),)], distinct=True),
    _layer("avg_pool1d_exclude_pad", lambda x: F.avg_pool1d(x, 3, stride=2, padding=1, ceil_mode=True,
                                                            count_include_pad=False),
           [((2, 2, 6),)]),
    _layer("avg_pool3d_divisor", lambda x: F.avg_pool3d(x, 2, padding=1, divisor_override=3),
           [((1, 2, 3, 2, 3),)]),
    _layer("max_unpool2d", lambda x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2,
                                                    output_size=(5, 5)),
           [((1, 2, 5, 5),)], distinct=True, tags={CUDA_SECOND_ORDER}),
    _layer("adaptive_max_pool2d", lambda x: F.adaptive_max_pool2d(x, (2, 3)), [((1, 2, 5, 7),)],
           distinct=True),
    _layer("lp_pool2d", lambda x: F.lp_pool2d(x, 2, 2, stride=(1, 2)), [((1, 2, 3, 4),)], low=0.3),
    # padding, resampling, sliding blocks, pixel shuffle
    *[_layer(f"pad_{mode}", lambda x, m=mode: F.pad(x, (2, -1, 1, 2), mode=m), [((1, 2, 3, 4),)])
      for mode in ("constant", "reflect", "replicate", "circular")],
    *[_layer(f"interpolate_{mode}", lambda x, m=mode, s=size, a=align: F.interpolate(
        x, size=s, mode=m, align_corners=a), [(shape,)], tags=tags)
      for mode, shape, size, align, tags in _INTERPOLATE_CONFIGS],
    *[_layer(f"interpolate_{mode}_antialias", lambda x, m=mode: F.interpolate(
        x, size=(2, 4), mode=m, antialias=True), [((1, 1, 5, 3),)]) for mode in ("bilinear", "bicubic")],
    _layer("unfold", lambda x: F.unfold(x, (2, 3), dilation=(1, 2), padding=1, stride=2),
           [((1, 2, 4, 5),)]),
    _layer("fold", lambda x: F.fold(x, (3, 4), 2, padding=(0, 1)), [((1, 8, 10),)]),
    _layer("pixel_shuffle", lambda x: F.pixel_shuffle(x, 2), [((1, 8, 2, 3),)]),
    _layer("pixel_unshuffle", lambda x: F.pixel_unshuffle(x, 2), [((1, 2, 4, 2),)]),
    # normalization
    _layer("batch_norm", _batch_norm, [((4, 3), (3,), (3,)), ((2, 2, 2, 2), (2,), (2,))],
           tags={CUDA_SECOND_ORDER}),
    _layer("layer_norm", lambda x, w, b: F.layer_norm(x, (4,), w, b), [((3, 4), (4,), (4,))]),
    _layer("group_norm", lambda x, w, b: F.group_norm(x, 2, w, b), [((1, 4, 2, 2), (4,), (4,))]),
    # losses (targets are constants on the input's device)
    _layer("cross_entropy", lambda x: F.cross_entropy(x, _on(_CLASSES, x)), [((3, 4),)],
           tags={CUDA_SECOND_ORDER}),
    _layer("cross_entropy_smoothing", lambda x: F.cross_entropy(
        x, _on(_CLASSES, x), label_smoothing=0.1, reduction="sum"), [((3, 4),)]),
    _layer("nll_loss", lambda x: F.nll_loss(x, _on(_CLASSES, x)), [((3, 4),)]),
    _layer("mse_loss", F.mse_loss, [((3, 4), (3, 4))]),
    _layer("l1_loss", F.l1_loss, [((3, 4), (3, 4))], distinct=True, second_order=False),
    _layer("smooth_l1_loss", lambda x: F.smooth_l1_loss(x, _target(x, -3.0, 3.0)), [((3, 4),)],
           second_order=False),
    _layer("huber_loss", lambda x: F.huber_loss(x, _target(x, -3.0, 3.0), delta=0.5), [((3, 4),)],
           second_order=False),
    _layer("binary_cross_entropy", lambda x: F.binary_cross_entropy(x, _target(x)), [((3, 4),)],
           low=0.1, high=0.9),
    _layer("bce_with_logits", lambda x: F.binary_cross_entropy_with_logits(x, _target(x)),
           [((3, 4),)]),
    # activations
    _layer("leaky_relu", lambda x: F.leaky_relu(x, 0.1), UNARY_SHAPES[:1], away_from_zero=True),
    _layer("elu", F.elu, UNARY_SHAPES[:1], away_from_zero=True),
    _layer("gelu", F.gelu, UNARY_SHAPES[:1]),
    _layer("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), UNARY_SHAPES[:1]),
    _layer("silu", F.silu, UNARY_SHAPES[:1]),
    _layer("softplus", lambda x: F.softplus(x, beta=2.0), UNARY_SHAPES[:1]),
    # attention, dropout, linear
    _layer("attention", F.scaled_dot_product_attention, [((1, 2, 3), (1, 4, 3), (1, 4, 2))],
           tags={CUDA_SECOND_ORDER}),
    _layer("attention_causal", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
           [((1, 3, 4), (1, 3, 4), (1, 3, 2))]),
    _layer("dropout_eval", lambda x: F.dropout(x, 0.5, training=False), UNARY_SHAPES[:1]),
    _layer("dropout_seeded", _seeded_dropout, UNARY_SHAPES[:1], tags={"random"}),
    _layer("linear", F.linear, [((3, 4), (2, 4), (2,)), ((2, 3, 4), (2, 4), (2,))]),
    _layer("embedding", lambda w: F.embedding(_on(np.array([[0, 2], [2, 1]]), w), w), [((3, 4),)]),
]


def sample_inputs(spec, shapes, device, dtype=np.float64, seed=0):
    """Random inputs in the spec's domain, as Tensors requiring grad."""
    rng = np.random.default_rng(seed)
    arrays = []
    for shape in shapes:
        x = rng.uniform(spec.low, spec.high, size=shape)
        if spec.away_from_zero:
            x = np.where(np.abs(x) < 0.2, np.sign(x + 1e-12) * 0.2 + x, x)
        if spec.distinct and x.size:
            # a random permutation of well-separated values: no ties anywhere
            x = (rng.permutation(x.size).reshape(shape) - x.size / 2) * 0.37 + 0.05
        arrays.append(x.astype(dtype))
    if spec.distinct and len(arrays) == 2:  # separate the two operands of maximum
        arrays[1] = arrays[1] + 0.11
    tensors = [minigrad.tensor(a, device=device, requires_grad=True) for a in arrays]
    return arrays, tensors
