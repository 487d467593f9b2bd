"""Issue 10, part B: the new activations, losses, similarities and attention options.

One registry drives the generic tests: each spec makes its inputs (NumPy arrays,
kept away from kinks so that finite differences are meaningful), says which are
differentiated, and gives the op as minigrad calls it, an independent NumPy
reference, and (optionally) the same op in PyTorch. Every spec is checked
forward against NumPy in float64 and float32 on each device, by gradcheck and
gradgradcheck in float64 on each device, and against PyTorch (forward and
backward) when it is installed. Hand-written tests below cover what a registry
cannot: kinks, randomness, edge cases, errors and the nn layers."""
import math
from dataclasses import dataclass

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import minigrad.nn as nn


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


@dataclass
class Spec:
    name: str
    make: callable             # () -> tuple of NumPy arrays (float64)
    ours: callable             # minigrad op on Tensors
    numpy: callable            # NumPy reference on arrays
    torch: callable = None     # (torch.nn.functional, *torch tensors) -> tensor
    grad: tuple = (0,)         # which inputs are differentiated
    float32_tol: float = 2e-5
    torch_rtol: float = 1e-9   # PyTorch's float64 kernels: some round a constant through float32


def _act(name, fn, reference, torch_fn, low=-4.0, high=4.0, kinks=(0.0,), shape=(3, 4), **kw):
    return Spec(name, lambda: (uniform(shape, low, high, kinks)(),), fn, reference, torch_fn, **kw)


def _margin_inputs():
    rng = np.random.default_rng(3)
    x1 = rng.normal(size=6)
    y = np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0])
    offset = rng.uniform(0.5, 1.5, 6) * rng.choice([-1.0, 1.0], 6)  # -y(x1-x2)+0.3 = y*offset+0.3
    return x1, x1 + offset, y


def _resample(make, away_from_kink):
    """The first of make(seed), seed = 0, 1, ... whose arrays satisfy away_from_kink."""
    def made():
        for seed in range(100):
            arrays = make(np.random.default_rng(seed))
            if away_from_kink(*arrays):
                return arrays
        raise AssertionError("no inputs away from the kink")
    return made


def _np_triplet(a, p, n, margin=1.0, norm=2.0, swap=False, eps=1e-6):
    d_pos, d_neg = np_norm(a - p + eps, norm, -1), np_norm(a - n + eps, norm, -1)
    if swap:
        d_neg = np.minimum(d_neg, np_norm(p - n + eps, norm, -1))
    return np.maximum(d_pos - d_neg + margin, 0).mean()


def _triplet_inputs(norm, swap):
    make = lambda rng: tuple(rng.normal(size=(4, 3)) for _ in range(3))  # noqa: E731
    def ok(a, p, n):
        d_pos, d_neg = np_norm(a - p, norm, -1), np_norm(a - n, norm, -1)
        if swap:
            d_neg = np.minimum(d_neg, np_norm(p - n, norm, -1))
        return np.abs(d_pos - d_neg + 1.0).min() > 0.1 and (d_pos - d_neg + 1.0 > 0).any()
    return _resample(make, ok)


def _np_cos_embedding(x1, x2, y, margin):
    cos = (x1 * x2).sum(-1) / np.sqrt(((x1 ** 2).sum(-1) + 1e-12) * ((x2 ** 2).sum(-1) + 1e-12))
    return np.where(y == 1, 1 - cos, np.maximum(cos - margin, 0)).mean()


def _cos_embedding_inputs():
    y = np.array([1.0, -1.0, -1.0, 1.0, -1.0])
    def make(rng):
        return rng.normal(size=(5, 3)), rng.normal(size=(5, 3)), y
    def ok(x1, x2, y):
        cos = np_cos(x1, x2, -1, 1e-8)
        return np.abs(cos - 0.1).min() > 0.05 and (cos[y == -1] > 0.1).any()
    return _resample(make, ok)


def np_stirling(t):
    """log(t!) ~ t log t - t + log(2 pi t) / 2, counted for t > 1 only (PyTorch's full=True)."""
    big = np.maximum(t, 1)
    return np.where(t > 1, big * np.log(big) - big + 0.5 * np.log(2 * np.pi * big), 0.0)


def _cross_entropy_soft_np(x, q, w, eps):
    c = x.shape[1]
    q = (1 - eps) * q + eps / c
    wcol = w.reshape((1, -1) + (1,) * (x.ndim - 2))
    return -(wcol * q * np_log_softmax(x, 1)).sum(axis=1).mean()


COUNTS = np.array([[0.0, 1.0, 2.0, 5.0], [3.0, 0.0, 1.0, 7.0], [2.0, 4.0, 0.0, 1.0]])
LABELS = np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 0.0, 0.0]])
W5 = np.array([0.5, 1.0, 2.0, 1.5, 0.25])

SPECS = [
    # ---- activations
    _act("hardtanh", lambda x: F.hardtanh(x, -1.5, 2.0), lambda x: np.clip(x, -1.5, 2.0),
         lambda f, x: f.hardtanh(x, -1.5, 2.0), kinks=(-1.5, 2.0)),
    _act("relu6", F.relu6, lambda x: np.clip(x, 0, 6), lambda f, x: f.relu6(x), -2, 8, (0.0, 6.0)),
    _act("hardsigmoid", F.hardsigmoid, lambda x: np.clip(x / 6 + 0.5, 0, 1),
         lambda f, x: f.hardsigmoid(x), -5, 5, (-3.0, 3.0), torch_rtol=1e-7),  # its 1/6: float32
    _act("hardswish", F.hardswish, lambda x: x * np.clip(x + 3, 0, 6) / 6,
         lambda f, x: f.hardswish(x), -5, 5, (-3.0, 3.0)),
    _act("threshold", lambda x: F.threshold(x, 0.5, -2.0), lambda x: np.where(x > 0.5, x, -2.0),
         lambda f, x: f.threshold(x, 0.5, -2.0), kinks=(0.5,)),
    _act("selu", F.selu, lambda x: SELU[1] * np.where(x > 0, x, SELU[0] * np.expm1(x)),
         lambda f, x: f.selu(x)),
    _act("celu", lambda x: F.celu(x, 0.7), lambda x: np.where(x > 0, x, 0.7 * np.expm1(x / 0.7)),
         lambda f, x: f.celu(x, 0.7), torch_rtol=1e-6),  # its 1/alpha in float32
    _act("mish", F.mish, lambda x: x * np.tanh(np_softplus(x)), lambda f, x: f.mish(x)),
    _act("softsign", F.softsign, lambda x: x / (1 + np.abs(x)), lambda f, x: f.softsign(x)),
    _act("logsigmoid", F.logsigmoid, lambda x: -np_softplus(-x), lambda f, x: f.logsigmoid(x),
         -30, 30),
    _act("softmin", lambda x: F.softmin(x, 0), lambda x: np.exp(np_log_softmax(-x, 0)),
         lambda f, x: f.softmin(x, 0)),
    _act("glu", lambda x: F.glu(x, 1), lambda x: x[:, :2] / (1 + np.exp(-x[:, 2:])),
         lambda f, x: f.glu(x, 1)),
    _act("glu_last", F.glu, lambda x: x[..., :3] / (1 + np.exp(-x[..., 3:])),
         lambda f, x: f.glu(x), shape=(2, 2, 6)),
    _act("rrelu_eval", F.rrelu, lambda x: np.where(x > 0, x, x * (1 / 8 + 1 / 3) / 2),
         lambda f, x: f.rrelu(x, training=False)),
    Spec("prelu_channels", lambda: (uniform((2, 3, 4), kinks=(0.0,))(), np.array([0.1, -0.2, 0.4])),
         F.prelu, lambda x, a: np.where(x > 0, x, a[:, None] * x), lambda f, x, a: f.prelu(x, a),
         grad=(0, 1)),
    Spec("prelu_shared", lambda: (uniform((5,), kinks=(0.0,))(), np.array([0.3])),
         F.prelu, lambda x, a: np.where(x > 0, x, a * x), lambda f, x, a: f.prelu(x, a), grad=(0, 1)),
    # ---- losses
    Spec("cross_entropy_probs", lambda: (uniform((4, 5))(), probabilities((4, 5), 1, 1), W5),
         lambda x, q, w: F.cross_entropy(x, q, weight=w, label_smoothing=0.1),
         lambda x, q, w: _cross_entropy_soft_np(x, q, w, 0.1),
         lambda f, x, q, w: f.cross_entropy(x, q, weight=w, label_smoothing=0.1), grad=(0, 1)),
    Spec("cross_entropy_probs_2d", lambda: (uniform((2, 3, 4))(), probabilities((2, 3, 4), 1, 2)),
         lambda x, q: F.cross_entropy(x, q), lambda x, q: _cross_entropy_soft_np(x, q, np.ones(3), 0),
         lambda f, x, q: f.cross_entropy(x, q), grad=(0, 1)),
    Spec("kl_div_batchmean", lambda: (np_log_softmax(uniform((3, 4))(), 1), probabilities((3, 4), 1, 4)),
         lambda x, t: F.kl_div(x, t, reduction="batchmean"),
         lambda x, t: (t * (np.log(t) - x)).sum() / 3,
         lambda f, x, t: f.kl_div(x, t, reduction="batchmean"), grad=(0, 1)),
    Spec("kl_div_log_target", lambda: (uniform((3, 4))(), np_log_softmax(uniform((3, 4), seed=5)(), 1)),
         lambda x, t: F.kl_div(x, t, reduction="sum", log_target=True),
         lambda x, t: (np.exp(t) * (t - x)).sum(),
         lambda f, x, t: f.kl_div(x, t, reduction="sum", log_target=True), grad=(0, 1)),
    Spec("poisson_nll", lambda: (uniform((3, 4), -1, 1)(), COUNTS),
         F.poisson_nll_loss, lambda x, t: (np.exp(x) - t * x).mean(),
         lambda f, x, t: f.poisson_nll_loss(x, t), grad=(0, 1)),
    Spec("poisson_nll_rate_full", lambda: (uniform((3, 4), 0.5, 3)(), COUNTS),
         lambda x, t: F.poisson_nll_loss(x, t, log_input=False, full=True, reduction="sum"),
         lambda x, t: (x - t * np.log(x + 1e-8) + np_stirling(t)).sum(),
         lambda f, x, t: f.poisson_nll_loss(x, t, log_input=False, full=True, reduction="sum")),
    Spec("multilabel_soft_margin", lambda: (uniform((3, 4))(), LABELS, W5[:4]),
         lambda x, y, w: F.multilabel_soft_margin_loss(x, y, w),
         lambda x, y, w: (w * (y * np_softplus(-x) + (1 - y) * np_softplus(x))).mean(),
         lambda f, x, y, w: f.multilabel_soft_margin_loss(x, y, w)),
    Spec("margin_ranking", _margin_inputs,
         lambda a, b, y: F.margin_ranking_loss(a, b, y, 0.3, reduction="sum"),
         lambda a, b, y: np.maximum(-y * (a - b) + 0.3, 0).sum(),
         lambda f, a, b, y: f.margin_ranking_loss(a, b, y, 0.3, reduction="sum"), grad=(0, 1)),
    Spec("triplet_margin", _triplet_inputs(2.0, False), F.triplet_margin_loss, _np_triplet,
         lambda f, a, p, n: f.triplet_margin_loss(a, p, n), grad=(0, 1, 2)),
    Spec("triplet_margin_p1_swap", _triplet_inputs(1.0, True),
         lambda a, p, n: F.triplet_margin_loss(a, p, n, p=1, swap=True),
         lambda a, p, n: _np_triplet(a, p, n, norm=1.0, swap=True),
         lambda f, a, p, n: f.triplet_margin_loss(a, p, n, p=1, swap=True), grad=(0, 1, 2)),
    Spec("cosine_embedding", _cos_embedding_inputs(),
         lambda a, b, y: F.cosine_embedding_loss(a, b, y, 0.1),
         lambda a, b, y: _np_cos_embedding(a, b, y, 0.1),
         lambda f, a, b, y: f.cosine_embedding_loss(a, b, y, 0.1), grad=(0, 1)),
    # ---- similarities and distances
    Spec("normalize", lambda: (uniform((3, 4))(),), F.normalize, lambda x: x / np_norm(x, 2, 1, True),
         lambda f, x: f.normalize(x)),
    Spec("normalize_p3_dim0", lambda: (uniform((3, 4), kinks=(0.0,))(),),
         lambda x: F.normalize(x, p=3, dim=0), lambda x: x / np_norm(x, 3, 0, True),
         lambda f, x: f.normalize(x, p=3, dim=0)),
    Spec("normalize_inf", lambda: (uniform((3, 4), kinks=(0.0,))(),),
         lambda x: F.normalize(x, p=math.inf, dim=-1), lambda x: x / np_norm(x, math.inf, -1, True),
         lambda f, x: f.normalize(x, p=math.inf, dim=-1)),
    Spec("cosine_similarity_broadcast", lambda: (uniform((3, 4))(), uniform((1, 4), seed=1)()),
         F.cosine_similarity, lambda a, b: np_cos(a, b, 1, 1e-8),
         lambda f, a, b: f.cosine_similarity(a, b), grad=(0, 1)),
    Spec("pairwise_distance", lambda: (uniform((3, 4))(), uniform((3, 4), seed=1)()),
         F.pairwise_distance, lambda a, b: np_norm(a - b + 1e-6, 2, -1),
         lambda f, a, b: f.pairwise_distance(a, b), grad=(0, 1)),
    Spec("pairwise_distance_p1_5", lambda: (uniform((3, 4))(), uniform((3, 4), seed=1)()),
         lambda a, b: F.pairwise_distance(a, b, p=1.5, keepdim=True),
         lambda a, b: np_norm(a - b + 1e-6, 1.5, -1, True),
         lambda f, a, b: f.pairwise_distance(a, b, p=1.5, keepdim=True), grad=(0, 1)),
    # ---- attention: grouped-query heads, with and without a causal mask and a scale
    Spec("sdpa_gqa", lambda: tuple(uniform(s, -1, 1, seed=i)() for i, s in
                                   enumerate([(1, 4, 2, 3), (1, 2, 3, 3), (1, 2, 3, 2)])),
         lambda q, k, v: F.scaled_dot_product_attention(q, k, v, enable_gqa=True),
         np_attention, lambda f, q, k, v: f.scaled_dot_product_attention(q, k, v, enable_gqa=True),
         grad=(0, 1, 2)),
    Spec("sdpa_gqa_causal_scale", lambda: tuple(uniform(s, -1, 1, seed=i)() for i, s in
                                                enumerate([(4, 3, 2), (2, 4, 2), (2, 4, 2)])),
         lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3,
                                                        enable_gqa=True),
         lambda q, k, v: np_attention(q, k, v, causal=True, scale=0.3),
         lambda f, q, k, v: f.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3,
                                                           enable_gqa=True), grad=(0, 1, 2)),
]
IDS = [s.name for s in SPECS]


def tensors(spec, device, dtype=np.float64, grad=True):
    return [minigrad.tensor(a.astype(dtype), device=device, requires_grad=grad and i in spec.grad)
            for i, a in enumerate(spec.make())]


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_forward_matches_numpy(spec, device):
    arrays = spec.make()
    expected = spec.numpy(*arrays)
    for dtype, tol in ((np.float64, 1e-10), (np.float32, spec.float32_tol)):
        y = spec.ours(*tensors(spec, device, dtype, grad=False))
        assert y.dtype == dtype and y.device == minigrad.backend.normalize_device(device)
        assert y.shape == np.shape(expected)
        np.testing.assert_allclose(y.numpy(), expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_gradcheck_and_gradgradcheck(spec, device):
    inputs = tensors(spec, device)
    assert minigrad.gradcheck(spec.ours, inputs)
    assert minigrad.gradgradcheck(spec.ours, inputs)


@pytest.mark.parametrize("spec", [s for s in SPECS if s.torch], ids=[s.name for s in SPECS if s.torch])
def test_matches_torch_forward_and_backward(spec):
    torch = pytest.importorskip("torch")
    arrays = spec.make()
    ours = tensors(spec, "cpu")
    theirs = [torch.tensor(a, requires_grad=i in spec.grad) for i, a in enumerate(arrays)]
    y, y_t = spec.ours(*ours), spec.torch(torch.nn.functional, *theirs)
    upstream = np.random.default_rng(9).normal(size=y.shape)
    y.backward(minigrad.tensor(upstream))
    y_t.backward(torch.tensor(upstream))
    np.testing.assert_allclose(y.numpy(), y_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    for i in spec.grad:
        np.testing.assert_allclose(ours[i].grad.numpy(), theirs[i].grad.numpy(), rtol=spec.torch_rtol,
                                   atol=1e-12, err_msg=f"gradient of input {i}")


# ----------------------------------------------------------------- kinks (PyTorch's choice)
def test_gradients_at_the_kinks_follow_pytorch():
    """The gradient at each kink is PyTorch's (observed with torch 2.x): hardtanh, relu6,
    hardsigmoid and threshold exclude the kink; hardswish gives 0 at -3 and 1 at 3;
    selu and celu take the negative piece at 0."""
    at = np.array([-3.0, 0.0, 3.0, 6.0, -1.0, 1.0])
    expected = {
        F.relu6: [0, 0, 1, 0, 0, 1],
        F.hardtanh: [0, 1, 0, 0, 0, 0],
        F.hardsigmoid: [0, 1 / 6, 0, 0, 1 / 6, 1 / 6],
        F.hardswish: [0, 0.5, 1, 1, 1 / 6, 5 / 6],
        (lambda x: F.threshold(x, 1.0, -2.0)): [0, 0, 1, 1, 0, 0],
        F.selu: [SELU[0] * SELU[1] * np.exp(-3), SELU[0] * SELU[1]] + [SELU[1]] * 2
                + [SELU[0] * SELU[1] * np.exp(-1), SELU[1]],
    }
    for fn, grad in expected.items():
        x = minigrad.tensor(at, requires_grad=True)
        fn(x).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), grad, rtol=1e-12, atol=1e-15)


def test_second_derivatives_by_hand():
    """hardswish'' = 1/3 on (-3, 3); mish'' and logsigmoid'' = -s(1 - s) from their closed forms."""
    x0 = np.array([-2.5, -0.7, 0.4, 1.9])
    s = 1 / (1 + np.exp(-x0))
    t = np.tanh(np.log1p(np.exp(x0)))
    dt = (1 - t ** 2) * s  # d tanh(softplus(x)) / dx
    mish2 = 2 * dt + x0 * (-2 * t * dt * s + (1 - t ** 2) * s * (1 - s))
    for fn, second in ((F.hardswish, np.full(4, 1 / 3)), (F.mish, mish2),
                       (F.logsigmoid, -s * (1 - s)), (F.softsign, -2 * np.sign(x0) / (1 + np.abs(x0)) ** 3)):
        x = minigrad.tensor(x0, requires_grad=True)
        (gx,) = minigrad.grad(fn(x).sum(), x, create_graph=True)
        (ggx,) = minigrad.grad(gx.sum(), x)
        np.testing.assert_allclose(ggx.numpy(), second, rtol=1e-10, atol=1e-12)


def test_no_overflow_at_extreme_inputs():
    x = minigrad.tensor(np.array([-1000.0, -50.0, 50.0, 1000.0]), requires_grad=True)
    for fn in (F.selu, lambda t: F.celu(t, 0.5), F.mish, F.logsigmoid, F.softsign, F.hardswish):
        y = fn(x)
        (gx,) = minigrad.grad(y.sum(), x, create_graph=True)
        (ggx,) = minigrad.grad(gx.sum(), x)
        assert np.isfinite(y.numpy()).all() and np.isfinite(gx.numpy()).all()
        assert np.isfinite(ggx.numpy()).all()
    np.testing.assert_allclose(F.logsigmoid(x).numpy(), [-1000.0, -50.0, -np.exp(-50.0), 0.0],
                               rtol=1e-12)


# ----------------------------------------------------------------------- rrelu (random)
def test_rrelu_training_draws_one_slope_per_negative_element(device):
    lower, upper = 0.1, 0.3
    x0 = np.random.default_rng(7).uniform(-2, 2, (200,))  # not seed 0: minigrad's own stream
    x0 = np.where(np.abs(x0) < 0.05, 0.5, x0)
    x = minigrad.tensor(x0, requires_grad=True, device=device)
    y = F.rrelu(x, lower, upper, training=True)
    y.backward(minigrad.ones_like(y))
    slopes = y.numpy() / x0
    negative = x0 < 0
    np.testing.assert_array_equal(slopes[~negative], 1.0)
    assert ((slopes[negative] >= lower) & (slopes[negative] <= upper)).all()
    assert slopes[negative].std() > 0.03  # drawn per element, not one shared slope
    np.testing.assert_allclose(x.grad.numpy(), slopes, rtol=1e-12)  # dy/dx = the slope used
    minigrad.manual_seed(5)
    first = F.rrelu(x, lower, upper, training=True).numpy()
    minigrad.manual_seed(5)
    np.testing.assert_array_equal(F.rrelu(x, lower, upper, training=True).numpy(), first)


def test_prelu_tensor_method_and_module_parameter():
    x = minigrad.tensor(np.array([[-2.0, 1.0], [3.0, -4.0]]))
    np.testing.assert_allclose(x.prelu(minigrad.tensor(np.array([0.5, 0.25]))).numpy(),
                               [[-1.0, 1.0], [3.0, -1.0]])
    layer = nn.PReLU(2, init=0.1)
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    np.testing.assert_allclose(layer.weight.numpy(), [0.1, 0.1])
    assert repr(layer) == "PReLU(num_parameters=2)"


def test_rrelu_module_is_random_in_training_and_the_mean_slope_in_eval():
    x = minigrad.tensor(-np.ones(50))
    layer = nn.RReLU(0.1, 0.3)
    assert layer(x).numpy().std() > 0.01
    layer.eval()
    np.testing.assert_allclose(layer(x).numpy(), -0.2)


# ------------------------------------------------------------------------ edge cases
def test_normalize_and_cosine_of_a_zero_vector_stay_finite():
    """A zero row normalises to zero with a finite gradient 1 / eps (PyTorch's values)."""
    x = minigrad.tensor(np.zeros((1, 3)), requires_grad=True)
    y = F.normalize(x)
    y.sum().backward()
    np.testing.assert_array_equal(y.numpy(), 0.0)
    np.testing.assert_allclose(x.grad.numpy(), 1e12, rtol=1e-12)
    x.grad = None
    c = F.cosine_similarity(x, minigrad.tensor(np.ones((1, 3))))
    c.sum().backward()
    np.testing.assert_array_equal(c.numpy(), 0.0)
    np.testing.assert_allclose(x.grad.numpy(), 1 / (1e-8 * np.sqrt(3)), rtol=1e-12)


def test_cross_entropy_probability_targets_options():
    x0 = np.random.default_rng(0).normal(size=(4, 3))
    q0 = probabilities((4, 3), 1, 1)
    x, q = minigrad.tensor(x0), minigrad.tensor(q0)
    per_sample = -(q0 * np_log_softmax(x0, 1)).sum(1)
    np.testing.assert_allclose(F.cross_entropy(x, q, reduction="none").numpy(), per_sample)
    np.testing.assert_allclose(F.cross_entropy(x, q, reduction="sum").numpy(), per_sample.sum())
    # one-hot probabilities give the class-index loss; a single sample (C,) works too
    one_hot = np.eye(3)[[2, 0, 1, 1]]
    np.testing.assert_allclose(F.cross_entropy(x, minigrad.tensor(one_hot)).numpy(),
                               F.cross_entropy(x, minigrad.tensor([2, 0, 1, 1])).numpy(), rtol=1e-12)
    np.testing.assert_allclose(F.cross_entropy(x[0], q[0]).numpy(), per_sample[0], rtol=1e-12)
    loss = nn.CrossEntropyLoss(weight=minigrad.tensor([1.0, 2.0, 0.5]), reduction="sum")(x, q)
    np.testing.assert_allclose(loss.numpy(), -(q0 * [1.0, 2.0, 0.5] * np_log_softmax(x0, 1)).sum())


def test_kl_div_reductions_and_zero_targets():
    x0 = np_log_softmax(np.random.default_rng(0).normal(size=(2, 3)), 1)
    t0 = np.array([[0.0, 0.4, 0.6], [0.5, 0.5, 0.0]])  # 0 log 0 = 0: no nan
    pointwise = np.where(t0 > 0, t0 * np.log(np.where(t0 > 0, t0, 1)), 0) - t0 * x0
    x, t = minigrad.tensor(x0, requires_grad=True), minigrad.tensor(t0)
    for reduction, expected in (("none", pointwise), ("sum", pointwise.sum()),
                                ("mean", pointwise.mean()), ("batchmean", pointwise.sum() / 2)):
        np.testing.assert_allclose(F.kl_div(x, t, reduction=reduction).numpy(), expected,
                                   rtol=1e-12)
    F.kl_div(x, t, reduction="batchmean").backward()
    np.testing.assert_allclose(x.grad.numpy(), -t0 / 2)
    np.testing.assert_allclose(nn.KLDivLoss(reduction="batchmean")(x, t).numpy(), pointwise.sum() / 2)


def test_sdpa_gqa_equals_repeated_heads_and_sums_their_gradients():
    rng = np.random.default_rng(0)
    q0, k0, v0 = rng.normal(size=(1, 6, 3, 4)), rng.normal(size=(1, 2, 5, 4)), rng.normal(size=(1, 2, 5, 4))
    k, v = minigrad.tensor(k0, requires_grad=True), minigrad.tensor(v0, requires_grad=True)
    out = F.scaled_dot_product_attention(minigrad.tensor(q0), k, v, enable_gqa=True)
    k3, v3 = (minigrad.tensor(np.repeat(a, 3, axis=1), requires_grad=True) for a in (k0, v0))
    out3 = F.scaled_dot_product_attention(minigrad.tensor(q0), k3, v3)
    np.testing.assert_allclose(out.numpy(), out3.numpy(), rtol=1e-12)
    g = rng.normal(size=out.shape)
    out.backward(minigrad.tensor(g))
    out3.backward(minigrad.tensor(g))
    np.testing.assert_allclose(k.grad.numpy(), k3.grad.numpy().reshape(1, 2, 3, 5, 4).sum(2),
                               rtol=1e-10)


def test_sdpa_dropout_p_one_drops_everything():
    q = minigrad.randn(2, 3, 4)
    np.testing.assert_array_equal(F.scaled_dot_product_attention(q, q, q, dropout_p=1.0).numpy(), 0)


# ---------------------------------------------------------------------------- errors
@pytest.mark.parametrize("call, error, match", [
    (lambda: F.glu(minigrad.randn(2, 3)), ValueError, "glu: the size of dim -1 must be even"),
    (lambda: F.prelu(minigrad.randn(2, 3), minigrad.ones(2)), ValueError,
     r"prelu: weight must hold 1 value or one per channel \(3"),
    (lambda: F.hardtanh(minigrad.randn(2), 1.0, -1.0), ValueError, "hardtanh: min_val"),
    (lambda: F.celu(minigrad.randn(2), 0.0), ValueError, "celu: alpha must be non-zero"),
    (lambda: F.rrelu(minigrad.randn(2), 0.5, 0.1, training=True), ValueError, "rrelu: need"),
    (lambda: F.kl_div(minigrad.randn(2), minigrad.rand(2), reduction="avg"), ValueError,
     "kl_div: reduction must be"),
    (lambda: F.cross_entropy(minigrad.randn(2, 3), minigrad.rand(2, 3), weight=minigrad.ones(2)),
     ValueError, r"cross_entropy: weight must have shape \(3,\)"),
    (lambda: F.cross_entropy(minigrad.randn(2, 3), minigrad.rand(2, 3), ignore_index=0), ValueError,
     "cross_entropy: ignore_index works with class-index targets only"),
    (lambda: F.multilabel_soft_margin_loss(minigrad.randn(2, 3), minigrad.ones(3, 2)), ValueError,
     "multilabel_soft_margin_loss: input"),
    (lambda: F.triplet_margin_loss(minigrad.randn(2, 3), minigrad.randn(2, 3), minigrad.randn(3, 3)),
     ValueError, "triplet_margin_loss: anchor, positive and negative"),
    (lambda: F.cosine_similarity(minigrad.randn(2, 3), minigrad.randn(4, 3)), ValueError,
     r"cosine_similarity: shapes \(2, 3\) and \(4, 3\)"),
    (lambda: F.normalize(minigrad.randn(2, 3), p=0), ValueError, "vector_norm: ord must be positive"),
    (lambda: F.scaled_dot_product_attention(minigrad.randn(1, 3, 2, 4), minigrad.randn(1, 2, 2, 4),
                                            minigrad.randn(1, 2, 2, 4), enable_gqa=True),
     ValueError, r"query heads \(3\) must be a multiple of the key/value heads \(key 2"),
    (lambda: F.scaled_dot_product_attention(minigrad.randn(2, 4), minigrad.randn(2, 4),
                                            minigrad.randn(2, 4), dropout_p=1.5),
     ValueError, "dropout_p must be in"),
])
def test_bad_arguments_are_named(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ------------------------------------------------------------------ nn layers vs PyTorch
LAYERS = [  # (our layer, PyTorch's class name and arguments, input shape)
    (lambda: nn.Hardtanh(-0.5, 2.0), ("Hardtanh", (-0.5, 2.0)), (3, 4)),
    (nn.ReLU6, ("ReLU6", ()), (3, 4)), (nn.Hardsigmoid, ("Hardsigmoid", ()), (3, 4)),
    (nn.Hardswish, ("Hardswish", ()), (3, 4)), (nn.SELU, ("SELU", ()), (3, 4)),
    (lambda: nn.CELU(0.5), ("CELU", (0.5,)), (3, 4)), (nn.Mish, ("Mish", ()), (3, 4)),
    (nn.Softsign, ("Softsign", ()), (3, 4)), (nn.LogSigmoid, ("LogSigmoid", ()), (3, 4)),
    (lambda: nn.Softmin(1), ("Softmin", (1,)), (3, 4)), (lambda: nn.GLU(1), ("GLU", (1,)), (3, 4)),
    (lambda: nn.Threshold(0.2, -1.0), ("Threshold", (0.2, -1.0)), (3, 4)),
    (lambda: nn.PReLU(3, 0.1), ("PReLU", (3, 0.1)), (2, 3, 4)), (nn.PReLU, ("PReLU", ()), (5,)),
]


@pytest.mark.parametrize("make, torch_layer, shape", LAYERS, ids=[t[0] for _, t, _ in LAYERS])
def test_layers_match_torch(make, torch_layer, shape):
    torch = pytest.importorskip("torch")
    name, args = torch_layer
    ours, theirs = make().to(dtype=minigrad.float64), getattr(torch.nn, name)(*args).double()
    state = {k: v.detach().numpy() + 0.05 for k, v in theirs.state_dict().items()}  # not the default
    theirs.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
    ours.load_state_dict({k: minigrad.tensor(v) for k, v in state.items()})
    x0 = away(np.random.default_rng(0).uniform(-4, 4, shape), (0.0, 0.2, -3.0, 3.0, -0.5, 2.0))
    x, x_t = minigrad.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    y, y_t = ours(x), theirs(x_t)
    g = np.random.default_rng(1).normal(size=y.shape)
    y.backward(minigrad.tensor(g))
    y_t.backward(torch.tensor(g))
    np.testing.assert_allclose(y.numpy(), y_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), x_t.grad.numpy(), rtol=1e-6, atol=1e-12)
    for (key, p), (key_t, p_t) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert key == key_t
        np.testing.assert_allclose(p.grad.numpy(), p_t.grad.numpy(), rtol=1e-10)


LOSS_LAYERS = [  # (our layer, PyTorch's layer, how many inputs)
    (lambda: nn.MarginRankingLoss(0.2), lambda t: t.nn.MarginRankingLoss(0.2), 3),
    (lambda: nn.TripletMarginLoss(0.5, p=1.5), lambda t: t.nn.TripletMarginLoss(0.5, p=1.5), 3),
    (lambda: nn.CosineEmbeddingLoss(0.1, reduction="sum"),
     lambda t: t.nn.CosineEmbeddingLoss(0.1, reduction="sum"), 3),
    (lambda: nn.PoissonNLLLoss(full=True), lambda t: t.nn.PoissonNLLLoss(full=True), 2),
    (lambda: nn.MultiLabelSoftMarginLoss(weight=minigrad.tensor([1.0, 2.0, 0.5, 1.0])),
     lambda t: t.nn.MultiLabelSoftMarginLoss(weight=t.tensor([1.0, 2.0, 0.5, 1.0], dtype=t.float64)), 2),
    (lambda: nn.CosineSimilarity(dim=0), lambda t: t.nn.CosineSimilarity(dim=0), 2),
    (lambda: nn.PairwiseDistance(p=3.0, keepdim=True),
     lambda t: t.nn.PairwiseDistance(p=3.0, keepdim=True), 2),
]


@pytest.mark.parametrize("make, make_torch, arity", LOSS_LAYERS,
                         ids=["MarginRanking", "TripletMargin", "CosineEmbedding", "PoissonNLL",
                              "MultiLabelSoftMargin", "CosineSimilarity", "PairwiseDistance"])
def test_loss_and_distance_layers_match_torch(make, make_torch, arity):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    arrays = [rng.normal(size=(3, 4)) for _ in range(arity)]
    name = type(make()).__name__
    if name in ("MarginRankingLoss", "CosineEmbeddingLoss"):
        arrays[-1] = np.array([1.0, -1.0, 1.0]) if name == "CosineEmbeddingLoss" else \
            np.sign(rng.normal(size=(3, 4)))
    elif name == "PoissonNLLLoss":
        arrays[1] = COUNTS
    elif name == "MultiLabelSoftMarginLoss":
        arrays[1] = LABELS
    ours = [minigrad.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, y_t = make()(*ours), make_torch(torch)(*theirs)
    np.testing.assert_allclose(y.numpy(), y_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    y.sum().backward()
    y_t.sum().backward()
    np.testing.assert_allclose(ours[0].grad.numpy(), theirs[0].grad.numpy(), rtol=1e-8, atol=1e-12)
