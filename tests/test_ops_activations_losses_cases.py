"""The activations, losses, similarities and attention options where a registry of specs
(test_ops_activations_losses.py) does not reach: gradients at the kinks (PyTorch's choice),
second derivatives by hand, extreme inputs, rrelu's randomness, edge cases, the errors, and
the nn layers against PyTorch."""
import numpy as np
import pytest
from activation_loss_refs import COUNTS, LABELS, SELU, away, np_log_softmax, probabilities

import minigrad
import minigrad.functional as F
import minigrad.nn as nn


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
