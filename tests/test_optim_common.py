"""Contracts every optimizer exported by `optim` must keep.

Rules are discovered from `optim` (every `Optimizer` subclass it exports)
and each one is run through:
  * the loss goes down on a small convex least-squares problem;
  * saving mid-run (state_dict -> minigrad.save/load -> load_state_dict into
    a fresh optimizer on fresh parameters) and resuming gives exactly, bit
    for bit, the parameters of an uninterrupted run;
  * float32 parameters stay float32, and so does every floating array of
    their state;
  * a parameter whose grad is None is skipped: its value and its state
    do not change;
  * maximize=True on the negated loss follows the minimizing run exactly.

A rule that needs more than `Rule(params)` and `step()` gets ONE line in
SPECIAL below. Keys (all optional):
  make        callable(params) -> optimizer (wrappers, required arguments, lr)
  closure     True: the gradient is computed, then step(closure) is called
              (closure = zero_grad, loss, backward, return loss)
  create_graph True: the closure calls loss.backward(create_graph=True)
  matrix_only True: only the 2-D weight is optimized (the bias stays fixed)
  steps       steps for the loss-decrease check (default 30)
"""
import copy
import inspect

import numpy as np
import pytest

import minigrad
import minigrad.optim as optim

SPECIAL = {
    "LBFGS": dict(closure=True),
    "Muon": dict(matrix_only=True, make=lambda params: optim.Muon(params, lr=0.02)),
    "AdaHessian": dict(create_graph=True),
    "SophiaH": dict(create_graph=True),
    "Lookahead": dict(make=lambda params: optim.Lookahead(optim.SGD(params, lr=0.1), k=2)),
    "Combined": dict(make=lambda params, **hyper: optim.Combined(
        optim.SGD(params[:1], lr=0.1, momentum=0.9, **hyper), optim.Adam(params[1:], lr=0.05, **hyper))),
    "Ranger": dict(make=lambda params: optim.Ranger(params, lr=0.01, k=2)),
    "SAM": dict(closure=True, make=lambda params: optim.SAM(params, optim.SGD, lr=0.1)),
    "ASAM": dict(closure=True, make=lambda params: optim.ASAM(params, optim.SGD, rho=0.5, lr=0.1)),
    "LARS": dict(make=lambda params: optim.LARS(params, lr=0.1)),  # lr=1 diverges on the bias
    # refreshes inside the resume window (steps 4-6), with momentum buffers to carry over
    "Shampoo": dict(make=lambda params: optim.Shampoo(params, update_freq=2, momentum=0.5)),
    "SOAP": dict(make=lambda params: optim.SOAP(params, precondition_frequency=2)),
}

RULES = sorted(name for name, obj in vars(optim).items()
               if isinstance(obj, type) and issubclass(obj, optim.Optimizer)
               and obj is not optim.Optimizer)
WRAPPERS = {"Lookahead", "Ranger", "SAM", "ASAM", "Combined"}


def test_every_rule_and_wrapper_is_covered():
    """The contracts below run on every exported rule, wrappers included."""
    assert WRAPPERS <= set(RULES)
    assert len(RULES) >= 45, RULES

_rng = np.random.RandomState(0)
X = _rng.randn(8, 4)
Y = X @ _rng.randn(4, 3) + 0.1 * _rng.randn(8, 3)
W0, B0 = 0.1 * _rng.randn(3, 4), np.zeros(3)


class Problem:
    """Least squares mean((X W^T + b - Y)^2) plus an unused (2, 2) parameter."""

    def __init__(self, name, dtype=np.float64, maximize=False, **hyper):
        self.spec, self.sign = SPECIAL.get(name, {}), -1.0 if maximize else 1.0
        self.x, self.y = (minigrad.Tensor(a.astype(dtype)) for a in (X, Y))
        self.w = minigrad.Tensor(W0.astype(dtype), requires_grad=True)
        self.b = minigrad.Tensor(B0.astype(dtype), requires_grad=True)
        self.unused = minigrad.Tensor(np.ones((2, 2), dtype), requires_grad=True)
        self.params = [self.w, self.unused] if self.spec.get("matrix_only") else \
            [self.w, self.b, self.unused]
        make = self.spec.get("make", getattr(optim, name))
        if maximize:
            hyper["maximize"] = True
        self.opt = make(self.params, **hyper)

    def loss(self):
        err = self.x @ self.w.transpose() + self.b - self.y
        return self.sign * (err * err).mean()

    def closure(self):
        self.opt.zero_grad()
        loss = self.loss()
        loss.backward(create_graph=self.spec.get("create_graph", False))
        return loss

    def step(self):
        if self.spec.get("closure"):
            self.closure()  # SAM-style rules want the gradient at the current point first
            self.opt.step(self.closure)
        else:
            self.closure()
            self.opt.step()

    def values(self):
        return [p.numpy().copy() for p in self.params]


@pytest.mark.parametrize("name", RULES)
def test_loss_decreases(name):
    problem = Problem(name)
    before = float(problem.loss())
    for _ in range(problem.spec.get("steps", 30)):
        problem.step()
    after = float(problem.loss())
    assert np.isfinite(after) and after < before, f"{name}: loss {before} -> {after}"


@pytest.mark.parametrize("name", RULES)
def test_resume_from_state_dict_continues_bit_for_bit(name, tmp_path):
    minigrad.manual_seed(0)  # rules that draw random numbers draw the same ones
    straight = Problem(name)
    for k in range(6):
        if k == 3:
            minigrad.manual_seed(1)  # the global RNG is not optimizer state: same draws after
        straight.step()

    minigrad.manual_seed(0)
    first = Problem(name)
    for _ in range(3):
        first.step()
    minigrad.save(first.opt.state_dict(), tmp_path / "opt.state")  # through the file format
    saved = minigrad.load(tmp_path / "opt.state")
    values = first.values()

    second = Problem(name)  # fresh parameters and optimizer, set to the saved point
    for p, v in zip(second.params, values):
        p.data[...] = v
    second.opt.load_state_dict(saved)
    minigrad.manual_seed(1)
    for _ in range(3):
        second.step()
    # Exact: both runs are in this process with the same shapes, so even the rules with
    # matmuls (Shampoo, SOAP, Muon, LBFGS) go through the same BLAS kernels in the same order.
    for a, b in zip(straight.values(), second.values()):
        np.testing.assert_array_equal(a, b, err_msg=f"{name}: resumed run differs")


MAXIMIZING = [name for name in RULES if "make" not in SPECIAL.get(name, {})
              and "maximize" in inspect.signature(getattr(optim, name)).parameters]


@pytest.mark.parametrize("name", MAXIMIZING)
def test_maximize_follows_the_minimizing_run(name):
    """The container negates the gradient for maximize=True, before weight decay
    and the rule's equations. Exact: the gradient of -loss is -g bit for bit
    (IEEE rounding is symmetric under negation, in BLAS sums too), and -(-g) is g."""
    # with weight decay where the rule has it: maximize must come before the decay
    takes = inspect.signature(getattr(optim, name)).parameters
    hyper = {"weight_decay": 0.01} if "weight_decay" in takes else {}
    down, up = Problem(name, **hyper), Problem(name, maximize=True, **hyper)
    for _ in range(5):
        down.step()
        up.step()
    for a, b in zip(down.values(), up.values()):
        np.testing.assert_array_equal(a, b, err_msg=f"{name}: maximize differs")


def _float_arrays(value):
    """Every floating array inside nested state (dicts, lists, tuples)."""
    if isinstance(value, minigrad.Tensor):
        value = value.data
    if hasattr(value, "dtype") and hasattr(value, "shape"):
        return [value] if value.dtype.kind == "f" else []
    if isinstance(value, dict):
        return [a for v in value.values() for a in _float_arrays(v)]
    if isinstance(value, (list, tuple)):
        return [a for v in value for a in _float_arrays(v)]
    return []


@pytest.mark.parametrize("name", RULES)
def test_float32_stays_float32(name):
    problem = Problem(name, dtype=np.float32)
    for _ in range(3):
        problem.step()
    for p in problem.params:
        assert p.dtype == minigrad.float32, f"{name}: a parameter became {p.dtype}"
    arrays = _float_arrays(list(problem.opt.state.values()))  # none for plain SGD
    bad = {str(a.dtype) for a in arrays if a.dtype != np.float32}
    assert not bad, f"{name}: state arrays of dtype {bad} for float32 parameters"


def _assert_same_state(a, b, name):
    """Nested state values equal, arrays exactly (nothing was computed on them)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{name}: state keys changed"
        for key in a:
            _assert_same_state(a[key], b[key], f"{name}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{name}: a state list changed length"
        for x, y in zip(a, b):
            _assert_same_state(x, y, name)
    elif hasattr(a, "shape"):
        np.testing.assert_array_equal(a, b, err_msg=f"{name}: a state array changed")
    else:
        assert a == b, f"{name}: {a!r} became {b!r}"


@pytest.mark.parametrize("name", RULES)
def test_params_without_grad_are_skipped(name):
    """`unused` never gets a gradient: its value, and its state if a rule made one
    eagerly (Adagrad, the wrappers' slow weights), stay as they were after a
    first step, through three more steps of the others."""
    problem = Problem(name)
    problem.step()
    state_before = copy.deepcopy(problem.opt.state.get(problem.unused))
    for _ in range(3):
        problem.step()
    np.testing.assert_array_equal(problem.unused.numpy(), 1.0)
    state_after = problem.opt.state.get(problem.unused)
    assert (state_before is None) == (state_after is None), f"{name}: state created for it"
    if state_before is not None:
        _assert_same_state(state_before, state_after, name)
