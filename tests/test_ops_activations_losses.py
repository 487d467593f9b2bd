"""Issue 10, part B: the new activations, losses, similarities and attention options.

One registry drives the generic tests: each spec makes its inputs (NumPy arrays,
kept away from kinks so that finite differences are meaningful), says which are
differentiated, and gives the op as minigrad calls it, an independent NumPy
reference, and (optionally) the same op in PyTorch. Every spec is checked
forward against NumPy in float64 and float32 on each device, by gradcheck and
gradgradcheck in float64 on each device, and against PyTorch (forward and
backward) when it is installed. What a registry cannot cover (kinks, randomness,
edge cases, errors and the nn layers) is in test_ops_activations_losses_cases.py;
the NumPy references both use are in activation_loss_refs.py."""
import math
from dataclasses import dataclass

import numpy as np
import pytest
from activation_loss_refs import (
    COUNTS,
    LABELS,
    SELU,
    np_attention,
    np_cos,
    np_log_softmax,
    np_norm,
    np_softplus,
    probabilities,
    uniform,
)

import minigrad
import minigrad.functional as F


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
