"""Input checks shared by the layers: a wrong input gets an error that names
the layer (as it prints), what it expected, what it got, and the fix."""
from minigrad.tensor import Tensor


def describe(layer):
    """How a layer is named in error messages (its repr, or a shorter form)."""
    return layer.describe() if hasattr(layer, "describe") else repr(layer)


def check_input(layer, x, ranks, layout, like=None):
    """x must be a Tensor with x.ndim in `ranks`; with `like` (a parameter),
    also on its device and of its dtype."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{describe(layer)}: expected a minigrad Tensor, got "
                        f"{type(x).__name__}; wrap the data with minigrad.tensor(...)")
    if x.ndim not in ranks:
        expected = " or ".join(f"{r}-D" for r in ranks)
        raise ValueError(f"{describe(layer)}: expected a {expected} input {layout}, got shape "
                         f"{x.shape}")
    if like is None:
        return
    if x.device != like.device:
        raise RuntimeError(f"{describe(layer)}: the input is on {x.device} but the layer's "
                           f"parameters are on {like.device}; call x.to('{like.device}') or "
                           f"model.to('{x.device}')")
    if x.dtype != like.dtype:
        raise TypeError(f"{describe(layer)}: the input has dtype {x.dtype} but the layer's "
                        f"parameters are {like.dtype}; convert the input with "
                        f"x.astype(minigrad.{like.dtype}) or the model with "
                        f"model.to(minigrad.{x.dtype})")


def check_size(layer, x, axis, expected, what):
    if x.shape[axis] != expected:
        raise ValueError(f"{describe(layer)}: expected input with {expected} {what}, got shape "
                         f"{x.shape}")
