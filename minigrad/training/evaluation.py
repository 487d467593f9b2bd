"""`evaluate` and `predict`: the model on a loader, in eval mode, without a graph
(fit's validation pass, and what a script reports after training), and the small
helpers the training loop shares with them."""
import numpy as np

from .. import backend
from ..autograd import no_grad
from .metrics import metric_functions

__all__ = ["evaluate", "predict"]


def evaluate(model, loader, *, loss_fn, metrics=("accuracy",), device=None):
    """{"loss": mean over the samples, metric name: sum over the samples / their number}
    of `model` on `loader`, in eval mode and without building a graph. The sums stay on
    the device until the end: one read in all. A model in training mode is put back in it."""
    metrics = metric_functions(metrics)
    sums, seen = dict.fromkeys(["loss", *metrics], 0.0), 0
    for output, y in eval_batches(model, loader, device):
        n = y.shape[0]
        sums["loss"] = sums["loss"] + loss_fn(output, y).data.astype(np.float64) * n
        for name, metric in metrics.items():
            sums[name] = sums[name] + as_array(metric(output, y)).astype(np.float64)
        seen += n
    if seen == 0:
        raise ValueError("evaluate: the loader yielded no batch; give it at least one sample")
    names = list(sums)
    return {k: float(v) / seen for k, v in zip(names, read_scalars([sums[k] for k in names]))}


def predict(model, loader, *, device=None):
    """(outputs, targets): the model's outputs and the loader's targets over all its
    batches, concatenated, as host NumPy arrays (in eval mode, without a graph; the batches
    stay on the device until the end: two reads in all). E.g. the confusion matrix of a
    classifier with K classes (rows: true class, columns: predicted):

        outputs, y = predict(model, test_loader)
        np.bincount(y * K + outputs.argmax(axis=1), minlength=K * K).reshape(K, K)"""
    outputs, targets = [], []
    for output, y in eval_batches(model, loader, device):
        outputs.append(output.data)
        targets.append(y.data)
    if not outputs:
        raise ValueError("predict: the loader yielded no batch; give it at least one sample")
    xp = backend.array_module(outputs[0])
    return backend.to_numpy(xp.concatenate(outputs)), backend.to_numpy(xp.concatenate(targets))


def eval_batches(model, loader, device):
    """(output, y) for each batch of `loader`, in eval mode and under no_grad; a model
    that was in training mode is put back in it at the end."""
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        with no_grad():
            for batch in loader:
                x, y = to_device(batch, device)
                yield model(x), y
    finally:
        if was_training:
            model.train()


# ----------------------------------------------------------------- helpers
def to_device(batch, device):
    """A loader's (x, y) batch, moved to `device` when one is given."""
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        raise TypeError(f"fit/evaluate: each batch must be a pair (inputs, targets), got a "
                        f"{type(batch).__name__}{f' of {len(batch)}' if hasattr(batch, '__len__') else ''}; "
                        "wrap the data in a TensorDataset(x, y) or yield (x, y) from the loader")
    if device is None:
        return tuple(batch)
    return tuple(t.to(device) for t in batch)


def as_array(value):
    """A metric's value: a Tensor's array, or the array itself."""
    return value.data if hasattr(value, "grad_fn") else value


def read_scalars(values):
    """0-d arrays (on one device) as host floats, read in one transfer."""
    arrays = [v for v in values if backend.is_array(v)]
    if not arrays:
        return np.asarray(values, dtype=np.float64)
    xp = backend.array_module(arrays[0])
    stacked = xp.stack([xp.asarray(v, dtype=xp.float64) for v in values])
    return backend.to_numpy(stacked)
