"""EarlyStopping on metric sequences worked out by hand, with a duck-typed
model whose weights change every epoch."""
import math
import pickle

import numpy as np
import pytest

import minigrad
from minigrad.optim import EarlyStopping


class TinyModel:
    """Anything with state_dict()/load_state_dict() (optim never imports nn)."""

    def __init__(self):
        self.w = minigrad.zeros(3)
        self.b = minigrad.zeros(1)

    def state_dict(self):
        return {"w": self.w, "b": self.b}  # live tensors, as nn.Module returns

    def load_state_dict(self, state):
        self.w.data[...] = state["w"].data
        self.b.data[...] = state["b"].data

    def train_one_epoch(self):
        self.w.data += 1.0  # in place: a copy that shares memory would change too
        self.b.data -= 1.0


def run(stopper, metrics, model=None):
    """The epoch at which step() first asked to stop (None if never)."""
    for epoch, m in enumerate(metrics):
        if model is not None:
            model.train_one_epoch()
        if stopper.step(m, model):
            return epoch
    return None


def test_min_mode_patience():
    s = EarlyStopping(patience=2)
    # best 1.0 at 0, 0.8 at 2; then two epochs without improvement -> stop at 4
    assert run(s, [1.0, 1.1, 0.8, 0.9, 0.85, 0.1]) == 4
    assert (s.best, s.best_epoch, s.stopped_epoch, s.num_bad_epochs) == (0.8, 2, 4, 2)


def test_max_mode_and_min_delta():
    s = EarlyStopping(patience=3, min_delta=0.05, mode="max")
    # 0.5 -> 0.54 is not enough (needs > 0.55), 0.6 is; then 3 small gains don't count
    assert run(s, [0.5, 0.54, 0.6, 0.62, 0.64, 0.649, 0.9]) == 5
    assert (s.best, s.best_epoch) == (0.6, 2)


def test_patience_zero_stops_at_the_first_bad_epoch():
    s = EarlyStopping(patience=0)
    assert run(s, [3.0, 2.0, 1.0, 1.0]) == 3


def test_never_stops_while_improving():
    s = EarlyStopping(patience=1)
    assert run(s, [5.0, 4.0, 3.0, 2.0, 1.0]) is None and s.best_epoch == 4


def test_nan_counts_as_no_improvement():
    s = EarlyStopping(patience=2)
    assert run(s, [1.0, math.nan, math.nan]) == 2 and s.best == 1.0


def test_best_weights_are_copied_and_restored():
    model = TinyModel()
    s = EarlyStopping(patience=2, restore_best_weights=True)
    # weights after epoch k are w = k + 1; the best metric is at epoch 1
    assert run(s, [0.5, 0.3, 0.4, 0.35], model) == 3
    np.testing.assert_array_equal(model.w.numpy(), [2.0, 2.0, 2.0])  # restored on stop
    np.testing.assert_array_equal(model.b.numpy(), [-2.0])
    model.train_one_epoch()
    s.restore(model)  # again, on demand; the kept copy was not changed by training
    np.testing.assert_array_equal(model.w.numpy(), [2.0, 2.0, 2.0])


def test_without_restore_the_model_is_left_alone():
    model = TinyModel()
    s = EarlyStopping(patience=1, restore_best_weights=False)
    assert run(s, [0.5, 0.6], model) == 1
    np.testing.assert_array_equal(model.w.numpy(), [2.0, 2.0, 2.0])
    with pytest.raises(RuntimeError, match="no weights were kept"):
        s.restore(model)


def test_state_dict_resumes():
    metrics = [1.0, 0.9, 0.95, 0.97, 0.85, 0.9, 0.91, 0.92]
    full = EarlyStopping(patience=3)
    stop_full = run(full, metrics)
    first = EarlyStopping(patience=3)
    run(first, metrics[:4], TinyModel())
    resumed = EarlyStopping(patience=3)
    resumed.load_state_dict(pickle.loads(pickle.dumps(first.state_dict())))
    stop = run(resumed, metrics[4:])
    assert stop + 4 == stop_full == 7
    assert (resumed.best, resumed.best_epoch) == (full.best, full.best_epoch) == (0.85, 4)


def test_accepts_tensor_metrics():
    s = EarlyStopping(patience=1)
    s.step(minigrad.tensor(2.0))
    assert s.step(minigrad.tensor([3.0])) is True


@pytest.mark.parametrize("kwargs,match", [
    (dict(patience=-1), r"EarlyStopping: patience must be a non-negative integer"),
    (dict(patience=2.5), r"patience must be a non-negative integer"),
    (dict(min_delta=-0.1), r"EarlyStopping: min_delta must be >= 0"),
    (dict(mode="lowest"), r"mode must be 'min'"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EarlyStopping(**kwargs)


def test_bad_metric():
    with pytest.raises(TypeError, match="EarlyStopping.step needs the monitored value"):
        EarlyStopping().step("0.5")
