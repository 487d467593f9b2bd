"""Losses: forward against NumPy references written here, gradcheck and
gradgradcheck for each, stability at extreme logits, PyTorch as an optional
oracle for every loss and option, and the errors for bad targets."""
import itertools
import math

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import minigrad.nn as nn

RNG = np.random.default_rng(0)


def on(device, array, grad=False):
    """A tensor on `device`: the input and its targets live where the model does."""
    return minigrad.tensor(array, device=device, requires_grad=grad)


# ------------------------------------------------------------ NumPy references
def np_cross_entropy(x, y, weight=None, ignore_index=-100, reduction="mean", smoothing=0.0,
                     log_probs=False):
    """One sample at a time, classes moved last: a plain reading of the definition."""
    num_classes = x.shape[1]
    rows = np.moveaxis(x, 1, -1).reshape(-1, num_classes)
    w = np.ones(num_classes) if weight is None else weight
    losses, total_weight = [], 0.0
    for row, t in zip(rows, y.reshape(-1)):
        if t == ignore_index:
            losses.append(0.0)
            continue
        logp = row if log_probs else row - row.max() - np.log(np.exp(row - row.max()).sum())
        losses.append((1 - smoothing) * w[t] * -logp[t] + smoothing / num_classes * -(w * logp).sum())
        total_weight += w[t]
    losses = np.array(losses).reshape(y.shape)
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.sum() / total_weight


def np_reduce(loss, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction](loss)


def np_bce(p, y, weight=1.0):
    return -weight * (y * np.maximum(np.log(p), -100) + (1 - y) * np.maximum(np.log(1 - p), -100))


def np_bce_logits(x, y, weight=1.0, pos_weight=1.0):
    sigmoid = 1 / (1 + np.exp(-x))
    return -weight * (pos_weight * y * np.log(sigmoid) + (1 - y) * np.log(1 - sigmoid))


def np_smooth_l1(d, beta):
    a = np.abs(d)
    return np.where(a < beta, 0.5 * d * d / beta, a - 0.5 * beta)


def np_huber(d, delta):
    a = np.abs(d)
    return np.where(a < delta, 0.5 * d * d, delta * (a - 0.5 * delta))


# ------------------------------------------------------------------- cross-entropy
CE_CASES = list(itertools.product([None, "weight"], [False, True], ["mean", "sum", "none"],
                                  [0.0, 0.2], [(5, 4), (2, 3, 2, 2)]))


def _ce_inputs(shape, ignore):
    x = RNG.normal(size=shape)
    y = RNG.integers(0, shape[1], (shape[0],) + shape[2:])
    if ignore:
        y.reshape(-1)[1] = -100
    weight = RNG.uniform(0.5, 2.0, shape[1])
    return x, y, weight


@pytest.mark.parametrize("weighted, ignore, reduction, smoothing, shape", CE_CASES)
def test_cross_entropy_forward_matches_numpy(weighted, ignore, reduction, smoothing, shape, device):
    x, y, weight = _ce_inputs(shape, ignore)
    weight = weight if weighted else None
    ours = F.cross_entropy(on(device, x), on(device, y), weight=weight, reduction=reduction,
                           label_smoothing=smoothing)
    np.testing.assert_allclose(ours.numpy(), np_cross_entropy(x, y, weight, -100, reduction,
                                                              smoothing), rtol=1e-12)


@pytest.mark.parametrize("reduction, smoothing", [("mean", 0.0), ("sum", 0.1), ("none", 0.3)])
def test_cross_entropy_gradcheck_and_gradgradcheck(reduction, smoothing, device):
    x, y, weight = _ce_inputs((2, 3, 2), ignore=True)
    y, weight = on(device, y), on(device, weight)

    def fn(x):
        return F.cross_entropy(x, y, weight=weight, reduction=reduction, label_smoothing=smoothing)
    inputs = (on(device, x, grad=True),)
    assert minigrad.gradcheck(fn, inputs)
    if device == "cpu":  # cuda: second order in op_registry's few
        assert minigrad.gradgradcheck(fn, inputs)


def test_cross_entropy_gradient_is_softmax_minus_onehot():
    x = RNG.normal(size=(4, 5))
    y = np.array([0, 4, 2, 2])
    xt = minigrad.tensor(x, requires_grad=True)
    F.cross_entropy(xt, y).backward()
    softmax = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(xt.grad.numpy(), (softmax - np.eye(5)[y]) / 4, rtol=1e-12)


def test_cross_entropy_is_stable_at_huge_logits(device):
    x = minigrad.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 3.0]], requires_grad=True, device=device)
    loss = F.cross_entropy(x, on(device, [1, 1]))
    loss.backward()
    assert loss.dtype == np.float32
    np.testing.assert_allclose(loss.item(), 1e4, rtol=1e-6)  # (2e4 + 0) / 2
    np.testing.assert_allclose(x.grad.numpy(), [[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]], atol=1e-7)
    x64 = on(device, np.array([[1e4, -1e4, 2.0]]), grad=True)
    target = on(device, [2])
    assert minigrad.gradgradcheck(lambda x: F.cross_entropy(x, target, label_smoothing=0.1), (x64,))


def test_cross_entropy_single_sample_and_all_ignored():
    x = RNG.normal(size=4)
    single = F.cross_entropy(minigrad.tensor(x), 2, reduction="none")
    assert single.shape == ()
    np.testing.assert_allclose(single.item(), np_cross_entropy(x[None], np.array([2]), reduction="sum"))
    ignored = F.cross_entropy(minigrad.tensor(x[None]), [-100])
    assert math.isnan(ignored.item())  # 0 / 0, as in PyTorch


@pytest.mark.parametrize("weighted, ignore, reduction", itertools.product(
    [False, True], [False, True], ["mean", "sum", "none"]))
def test_nll_loss_forward_gradcheck(weighted, ignore, reduction, device):
    x, y, weight = _ce_inputs((4, 3), ignore)
    logp = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    weight = weight if weighted else None
    target = on(device, y)
    ours = F.nll_loss(on(device, logp), target, weight=weight, reduction=reduction)
    np.testing.assert_allclose(ours.numpy(), np_cross_entropy(logp, y, weight, -100, reduction,
                                                              log_probs=True), rtol=1e-12)
    inputs = (on(device, logp, grad=True),)
    fn = lambda p: F.nll_loss(p, target, weight=weight, reduction=reduction)  # noqa: E731
    assert minigrad.gradcheck(fn, inputs)
    if device == "cpu":  # cuda: second order in op_registry's few
        assert minigrad.gradgradcheck(fn, inputs)


# ------------------------------------------------------------ regression and binary
def _pair(shape=(3, 4)):
    return RNG.normal(size=shape), RNG.normal(size=shape)


POINTWISE = {  # name -> (our call, NumPy elementwise loss)
    "mse": (lambda a, b, r: F.mse_loss(a, b, r), lambda a, b: (a - b) ** 2),
    "l1": (lambda a, b, r: F.l1_loss(a, b, r), lambda a, b: np.abs(a - b)),
    "smooth_l1": (lambda a, b, r: F.smooth_l1_loss(a, b, r, beta=0.7),
                  lambda a, b: np_smooth_l1(a - b, 0.7)),
    "smooth_l1_beta0": (lambda a, b, r: F.smooth_l1_loss(a, b, r, beta=0.0),
                        lambda a, b: np.abs(a - b)),
    "huber": (lambda a, b, r: F.huber_loss(a, b, r, delta=0.6), lambda a, b: np_huber(a - b, 0.6)),
}


@pytest.mark.parametrize("name, reduction", itertools.product(POINTWISE, ["mean", "sum", "none"]))
def test_regression_losses(name, reduction, device):
    ours, reference = POINTWISE[name]
    a, b = _pair()
    b = np.where(np.abs(np.abs(a - b) - 0.65) < 0.06, b + 0.2, b)  # away from the beta/delta kinks
    result = ours(on(device, a), on(device, b), reduction)
    np.testing.assert_allclose(result.numpy(), np_reduce(reference(a, b), reduction), rtol=1e-12)
    inputs = (on(device, a, grad=True), on(device, b, grad=True))
    fn = lambda x, y: ours(x, y, reduction)  # noqa: E731
    assert minigrad.gradcheck(fn, inputs)
    if device == "cpu":  # cuda: second order in op_registry's few
        assert minigrad.gradgradcheck(fn, inputs)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy(reduction, device):
    p = RNG.uniform(0.05, 0.95, (3, 4))
    y = RNG.uniform(0, 1, (3, 4))
    weight = RNG.uniform(0.5, 2, (4,))
    result = F.binary_cross_entropy(on(device, p), on(device, y), on(device, weight), reduction)
    np.testing.assert_allclose(result.numpy(), np_reduce(np_bce(p, y, weight), reduction),
                               rtol=1e-12)
    inputs = (on(device, p, grad=True), on(device, y, grad=True))
    fn = lambda a, b: F.binary_cross_entropy(a, b, on(device, weight), reduction)  # noqa: E731
    assert minigrad.gradcheck(fn, inputs)
    if device == "cpu":  # cuda: second order in op_registry's few
        assert minigrad.gradgradcheck(fn, inputs)


def test_binary_cross_entropy_clamps_log_at_minus_100():
    p = minigrad.tensor([0.0, 1.0, 0.0], requires_grad=True)
    loss = F.binary_cross_entropy(p, minigrad.tensor([1.0, 0.0, 0.0]), reduction="none")
    np.testing.assert_array_equal(loss.numpy(), [100.0, 100.0, 0.0])
    loss.sum().backward()
    assert np.isfinite(p.grad.numpy()).all()  # (x - y) / max(x (1 - x), 1e-12)
    np.testing.assert_allclose(p.grad.numpy(), [-1e12, 1e12, 0.0], rtol=1e-6)


@pytest.mark.parametrize("reduction, with_pos_weight", itertools.product(["mean", "sum", "none"],
                                                                         [False, True]))
def test_binary_cross_entropy_with_logits(reduction, with_pos_weight, device):
    x = RNG.normal(0, 3, (3, 4))
    y = RNG.uniform(0, 1, (3, 4))
    weight = RNG.uniform(0.5, 2, (3, 1))
    pos_weight = RNG.uniform(0.5, 3, (4,)) if with_pos_weight else None
    result = F.binary_cross_entropy_with_logits(on(device, x), on(device, y), weight,
                                                reduction, pos_weight)
    expected = np_bce_logits(x, y, weight, 1.0 if pos_weight is None else pos_weight)
    np.testing.assert_allclose(result.numpy(), np_reduce(expected, reduction), rtol=1e-10)
    inputs = (on(device, x, grad=True), on(device, y, grad=True))
    fn = lambda a, b: F.binary_cross_entropy_with_logits(a, b, weight, reduction, pos_weight)  # noqa
    assert minigrad.gradcheck(fn, inputs)
    if device == "cpu":  # cuda: second order in op_registry's few
        assert minigrad.gradgradcheck(fn, inputs)


def test_binary_cross_entropy_with_logits_is_stable(device):
    x = on(device, [-1e4, -100.0, 100.0, 1e4], grad=True)
    y = on(device, [1.0, 0.0, 1.0, 0.0])
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    np.testing.assert_allclose(loss.numpy(), [1e4, 0.0, 0.0, 1e4], atol=1e-30)
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [-1.0, 0.0, 0.0, 1.0])  # sigmoid(x) - y


# ------------------------------------------------------------------- PyTorch oracle
TORCH_CASES = (
    [("cross_entropy", dict(weight=w, ignore_index=i, reduction=r, label_smoothing=s), shape)
     for w, i, r, s, shape in itertools.product([False, True], [-100, 1], ["mean", "sum", "none"],
                                                [0.0, 0.25], [(6, 5), (2, 4, 3)])]
    + [("nll_loss", dict(weight=w, reduction=r), (6, 5)) for w in (False, True)
       for r in ("mean", "sum", "none")]
    + [(name, dict(reduction=r), (3, 4)) for name in ("mse_loss", "l1_loss", "smooth_l1_loss",
                                                      "huber_loss", "binary_cross_entropy")
       for r in ("mean", "sum", "none")]
    + [("smooth_l1_loss", dict(beta=0.3), (3, 4)), ("huber_loss", dict(delta=2.5), (3, 4)),
       ("binary_cross_entropy", dict(weight=True), (3, 4))]
    + [("binary_cross_entropy_with_logits", dict(weight=w, pos_weight=pw, reduction=r), (3, 4))
       for w in (False, True) for pw in (False, True) for r in ("mean", "sum", "none")])


@pytest.mark.parametrize("name, options, shape", TORCH_CASES)
def test_losses_match_torch(name, options, shape):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    classification = name in ("cross_entropy", "nll_loss")
    x = rng.normal(0, 2, shape).astype(np.float32)
    if name == "binary_cross_entropy":
        x = rng.uniform(0.01, 0.99, shape).astype(np.float32)
    if classification:
        y = rng.integers(0, shape[1], (shape[0],) + shape[2:])
        y.reshape(-1)[0] = 1
    else:
        y = rng.uniform(0, 1, shape).astype(np.float32)
    y_t = torch.tensor(y)
    ours_opts, torch_opts = dict(options), dict(options)
    for key, size in (("weight", shape[1] if classification else shape[-1]),
                      ("pos_weight", shape[-1])):
        if options.get(key):
            value = rng.uniform(0.5, 2.0, size).astype(np.float32)
            ours_opts[key], torch_opts[key] = value, torch.tensor(value)
        else:
            ours_opts.pop(key, None), torch_opts.pop(key, None)
    ours_x = minigrad.tensor(x, requires_grad=True)
    ours_y = y if classification else minigrad.tensor(y, requires_grad=True)
    ours = getattr(F, name)(ours_x, ours_y, **ours_opts)
    theirs_x = torch.tensor(x, requires_grad=True)
    y_t.requires_grad_(not classification)
    theirs = getattr(torch.nn.functional, name)(theirs_x, y_t, **torch_opts)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=2e-5, atol=1e-6)
    g = rng.normal(size=theirs.shape).astype(np.float32)
    ours.backward(minigrad.tensor(g))
    theirs.backward(torch.tensor(g))
    np.testing.assert_allclose(ours_x.grad.numpy(), theirs_x.grad.numpy(), rtol=2e-5, atol=1e-6)
    if not classification:  # the target's gradient too
        np.testing.assert_allclose(ours_y.grad.numpy(), y_t.grad.numpy(), rtol=2e-5, atol=1e-6)


# --------------------------------------------------------------------- modules, errors
def test_loss_modules_match_functions_and_keep_weight_as_buffer(device):
    x, y, weight = _ce_inputs((4, 3), ignore=False)
    criterion = nn.CrossEntropyLoss(weight=weight, label_smoothing=0.1).to(device)
    assert criterion.weight.device == minigrad.backend.normalize_device(device)  # moved with .to
    x, y = on(device, x), on(device, y)
    expected = F.cross_entropy(x, y, weight=on(device, weight), label_smoothing=0.1)
    np.testing.assert_allclose(criterion(x, y).item(), expected.item())
    assert list(criterion.state_dict()) == ["weight"]
    with_pos_weight = nn.BCEWithLogitsLoss(pos_weight=np.full(3, 2.0)).to(device)
    assert list(with_pos_weight.state_dict()) == ["pos_weight"]
    logits, labels = on(device, np.array([[0.5, -1.0, 2.0]])), on(device, np.array([[1.0, 0.0, 1.0]]))
    np.testing.assert_allclose(with_pos_weight(logits, labels).item(), F.binary_cross_entropy_with_logits(
        logits, labels, pos_weight=on(device, np.full(3, 2.0))).item())
    a, b = _pair()
    ta, tb = on(device, a), on(device, b)
    pairs = [(nn.MSELoss(reduction="sum"), F.mse_loss(ta, tb, "sum")),
             (nn.L1Loss(), F.l1_loss(ta, tb)),
             (nn.SmoothL1Loss(beta=0.5), F.smooth_l1_loss(ta, tb, beta=0.5)),
             (nn.HuberLoss(delta=0.5), F.huber_loss(ta, tb, delta=0.5))]
    for module, value in pairs:
        np.testing.assert_allclose(module(ta, tb).item(), value.item())
    p = on(device, RNG.uniform(0.1, 0.9, (3, 4)))
    np.testing.assert_allclose(nn.BCELoss()(p, tb.sigmoid()).item(),
                               F.binary_cross_entropy(p, tb.sigmoid()).item())
    logp = x.log_softmax(axis=1)
    np.testing.assert_allclose(nn.NLLLoss()(logp, y).item(), F.nll_loss(logp, y).item())
    assert repr(nn.MSELoss(reduction="sum")) == "MSELoss(reduction='sum')"


def test_bad_targets_and_options_get_clear_errors():
    x = minigrad.tensor(RNG.normal(size=(4, 3)))
    with pytest.raises(TypeError, match="cross_entropy: target must hold integer class indices"):
        F.cross_entropy(x, minigrad.tensor([0.0, 1.0, 2.0, 0.0]))
    with pytest.raises(IndexError, match=r"class indices in \[0, 3\).*got values from 0 to 3"):
        F.cross_entropy(x, [0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"needs a target of shape \(4,\).*got \(3,\)"):
        F.cross_entropy(x, [0, 1, 2])
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        F.cross_entropy(x, [0, 1, 2, 0], weight=np.ones(4))
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none'"):
        F.mse_loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match="binary_cross_entropy: all input values must be probabilities"):
        F.binary_cross_entropy(x, x)
    with pytest.raises(ValueError, match="huber_loss: delta must be positive"):
        F.huber_loss(x, x, delta=0)
    with pytest.warns(UserWarning, match=r"mse_loss: target shape \(4, 1\) differs from input shape \(4,\)"):
        F.mse_loss(minigrad.tensor(np.zeros(4)), minigrad.tensor(np.zeros((4, 1))))
