"""Weight averaging: SWA (equal average) and EMA, like `torch.optim.swa_utils`.

The weights at the end of training sit somewhere on the noisy path SGD
takes; an average of the weights along that path is often flatter and
better (Izmailov et al. 2018, "Averaging Weights Leads to Wider Optima").

    swa_model = AveragedModel(model)                                  # equal average
    ema_model = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.999))
    for epoch in range(epochs):
        train_one_epoch(model, opt)
        if epoch >= swa_start:
            swa_model.update_parameters(model)
    update_bn(train_loader, swa_model)   # BatchNorm statistics for the averaged weights
    evaluate(swa_model)                  # calls the averaged copy of the model

`optim` does not import `nn`: a model is anything with `parameters()`,
`buffers()` and `__call__` that `copy.deepcopy` can copy (every nn.Module).
Averaging functions work on raw arrays (NumPy or CuPy), like update rules.
"""
import copy
import itertools

import numpy as np

import minigrad
from minigrad import backend, no_grad


def get_ema_multi_avg_fn(decay=0.999):
    r"""In-place EMA over lists of arrays:  avg <- decay * avg + (1 - decay) * current."""
    _check_decay(decay)

    def ema_update(averaged, current, num_averaged):
        for avg, cur in zip(averaged, current):
            if avg.dtype.kind in "fc":
                avg += (1.0 - decay) * (cur - avg)   # lerp towards the current weights
            else:
                avg[...] = avg * decay + cur * (1.0 - decay)  # integer buffers: cast back
    return ema_update


def get_swa_multi_avg_fn():
    r"""In-place equal average over lists of arrays:  avg <- avg + (current - avg) / (n + 1)."""
    def swa_update(averaged, current, num_averaged):
        for avg, cur in zip(averaged, current):
            if avg.dtype.kind in "fc":
                avg += (cur - avg) * (1.0 / (num_averaged + 1))
            else:
                avg[...] = avg + (cur - avg) / (num_averaged + 1)
    return swa_update


def get_ema_avg_fn(decay=0.999):
    r"""EMA of one array, returned:  decay * avg + (1 - decay) * current."""
    _check_decay(decay)

    def ema_update(averaged, current, num_averaged):
        return decay * averaged + (1.0 - decay) * current
    return ema_update


def get_swa_avg_fn():
    r"""Equal average of one array, returned:  avg + (current - avg) / (n + 1)."""
    def swa_update(averaged, current, num_averaged):
        return averaged + (current - averaged) / (num_averaged + 1)
    return swa_update


def _check_decay(decay):
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"EMA decay must be in [0, 1], got {decay!r} (0.999 keeps ~1000 steps "
                         "of memory)")


class AveragedModel:
    r"""A copy of `model` whose weights are a running average of `model`'s.

    The first `update_parameters(model)` copies the weights; the n-th after
    that averages them in:

        SWA (default):   avg <- avg + (theta - avg) / (n + 1)      (equal weights: the mean)
        EMA:             avg <- decay * avg + (1 - decay) * theta  (multi_avg_fn=get_ema_multi_avg_fn(decay))

    `avg_fn(avg, current, n)` returns a new array per parameter;
    `multi_avg_fn(avg_list, current_list, n)` updates the lists in place (give
    one or neither). Buffers (BatchNorm statistics) are copied from `model`
    on every update, unless use_buffers=True, which averages them too.
    Calling an AveragedModel calls the averaged copy (`self.module`).
    Matches `torch.optim.swa_utils.AveragedModel`, including its state_dict
    keys ("module.<name>", "n_averaged").
    """

    def __init__(self, model, device=None, avg_fn=None, multi_avg_fn=None, use_buffers=False):
        if avg_fn is not None and multi_avg_fn is not None:
            raise ValueError("AveragedModel: give avg_fn (returns the new average) or "
                             "multi_avg_fn (updates lists in place), not both")
        for method in ("parameters", "buffers"):
            if not callable(getattr(model, method, None)):
                raise TypeError(f"AveragedModel needs a model with .parameters() and .buffers() "
                                f"(an nn.Module), got {type(model).__name__} without .{method}()")
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.avg_fn, self.multi_avg_fn = avg_fn, multi_avg_fn
        self.use_buffers = use_buffers
        self.n_averaged = 0

    def __call__(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    forward = __call__

    def update_parameters(self, model):
        """Fold `model`'s current weights into the average."""
        if self.use_buffers:
            mine = list(itertools.chain(self.module.parameters(), self.module.buffers()))
            theirs = list(itertools.chain(model.parameters(), model.buffers()))
        else:
            mine, theirs = list(self.module.parameters()), list(model.parameters())
        if len(mine) != len(theirs):
            raise ValueError(f"AveragedModel.update_parameters: the model has {len(theirs)} "
                             f"tensors to average but the averaged copy has {len(mine)}; pass "
                             "the model this AveragedModel was built from")
        with no_grad():
            averaged = [p.data for p in mine]
            current = [backend.to_device(q.data, p.device) for p, q in zip(mine, theirs)]
            for avg, cur in zip(averaged, current):
                if avg.shape != cur.shape:
                    raise ValueError(f"AveragedModel.update_parameters: shape {cur.shape} in "
                                     f"the model but {avg.shape} in the averaged copy")
            if self.n_averaged == 0:
                for avg, cur in zip(averaged, current):
                    avg[...] = cur
            elif self.avg_fn is not None:
                for avg, cur in zip(averaged, current):
                    new = self.avg_fn(avg, cur, self.n_averaged)
                    avg[...] = new.data if isinstance(new, minigrad.Tensor) else new
            else:
                (self.multi_avg_fn or get_swa_multi_avg_fn())(averaged, current, self.n_averaged)
            if not self.use_buffers:  # keep the buffers in sync with the source model
                for b_avg, b_model in zip(self.module.buffers(), model.buffers()):
                    b_avg.data[...] = backend.to_device(b_model.data, b_avg.device)
        self.n_averaged += 1

    # ------------------------------------------------- behave like the module
    def parameters(self, *args, **kwargs):
        return self.module.parameters(*args, **kwargs)

    def buffers(self, *args, **kwargs):
        return self.module.buffers(*args, **kwargs)

    def modules(self):
        return self.module.modules()

    @property
    def training(self):
        return getattr(self.module, "training", False)

    def train(self, mode=True):
        self.module.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def to(self, *args, **kwargs):
        self.module = self.module.to(*args, **kwargs)
        return self

    def state_dict(self):
        """{"module.<name>": tensor, ..., "n_averaged": int64 tensor}, as torch names them."""
        result = {f"module.{k}": v for k, v in self.module.state_dict().items()}
        result["n_averaged"] = minigrad.tensor(np.array(self.n_averaged, dtype=np.int64))
        return result

    def load_state_dict(self, state_dict, strict=True):
        inner = {k[len("module."):]: v for k, v in state_dict.items() if k.startswith("module.")}
        if "n_averaged" not in state_dict:
            raise KeyError("AveragedModel.load_state_dict: the state has no 'n_averaged' entry")
        self.module.load_state_dict(inner, strict=strict)
        value = state_dict["n_averaged"]
        self.n_averaged = int(value.item() if hasattr(value, "item") else value)

    def __repr__(self):
        return f"AveragedModel(n_averaged={self.n_averaged}, module={self.module!r})"


def update_bn(loader, model, device=None):
    r"""Recompute BatchNorm running statistics with one pass over `loader`.

    The running mean/variance were collected for the weights the model had
    while training, not for averaged weights. Every BatchNorm (any module
    with `running_mean`, `running_var` and `reset_running_stats()`) is reset
    and switched to momentum=None, i.e. the running statistics become the
    plain average over all batches; then momenta and train/eval mode are
    restored. A batch is a tensor, or a tuple/list whose first item is the
    input. Like `torch.optim.swa_utils.update_bn`.
    """
    momenta = {}
    for module in model.modules():
        if getattr(module, "running_mean", None) is not None and hasattr(module, "reset_running_stats"):
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None  # cumulative average over the batches of this pass
    with no_grad():
        for batch in loader:
            if isinstance(batch, (list, tuple)):
                batch = batch[0]
            if device is not None:
                batch = batch.to(device)
            model(batch)
    for module, momentum in momenta.items():
        module.momentum = momentum
    model.train(was_training)
