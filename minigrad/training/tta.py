"""Test-time augmentation: average a model's logits over mirrored and shifted views.

A net trained on flipped and translated images is nearly, not exactly, invariant
to them: each view of a test image gives a slightly different guess, and their
average is a better one (an ensemble for the price of more forward passes).

    views                          weight (translate=t, translate_weight=w)
    x, flip(x)                     (1 - w) / 2 each
    shift(x, +t), flip of it       w / 4 each
    shift(x, -t), flip of it       w / 4 each

shift(x, s) moves the image s pixels down and right (s < 0: up and left), filling
the uncovered border as the random-translate augmentation did in training
(padding_mode 'constant': zeros, i.e. the mean colour after normalisation;
'reflect': mirrored about the border; 'replicate': the border pixel repeated). flip=False drops the mirrored
views (the weights of the others are then doubled); translate=0 drops the shifted ones.
airbench's "level 2" is flip=True, translate=1, translate_weight=0.5.
"""
from ..autograd import no_grad
from ..ops.padding import pad
from .metrics import accuracy

__all__ = ["shift", "tta_views", "tta_predict", "tta_accuracy"]


def shift(x, s, padding_mode="constant"):
    """x (N, C, H, W) moved s pixels down and right (up and left for s < 0), the border
    filled as F.pad's `mode` (constant: zeros)."""
    if s == 0:
        return x
    h, w = x.shape[-2:]
    t = abs(s)
    padded = pad(x, (t, t, t, t), mode=padding_mode)           # (N, C, H+2t, W+2t)
    start = t - s                                              # 0 for +t, 2t for -t
    return padded[:, :, start:start + h, start:start + w]       # (N, C, H, W)


def tta_views(x, flip=True, translate=0, translate_weight=0.5, padding_mode="constant"):
    """[(view, weight), ...] of the batch x (N, C, H, W); the weights add up to 1."""
    if translate < 0 or not 0.0 <= translate_weight <= 1.0:
        raise ValueError(f"tta_views: translate must be >= 0 (got {translate}) and "
                         f"translate_weight in [0, 1] (got {translate_weight})")
    groups = [[x]]
    if translate:
        groups.append([shift(x, translate, padding_mode), shift(x, -translate, padding_mode)])
    shares = [1.0] if translate == 0 else [1.0 - translate_weight, translate_weight]
    views = []
    for group, share in zip(groups, shares):
        members = group + [v.flip(3) for v in group] if flip else group
        views += [(v, share / len(members)) for v in members]
    return views


def tta_predict(model, x, flip=True, translate=0, translate_weight=0.5, padding_mode="constant"):
    """The weighted mean of model(view) over tta_views(x, ...): logits (N, classes).

    Runs under no_grad; the model's mode (train/eval) is the caller's to set."""
    with no_grad():
        total = None
        for view, weight in tta_views(x, flip, translate, translate_weight, padding_mode):
            logits = model(view) * weight
            total = logits if total is None else total + logits
    return total


def tta_accuracy(model, loader, flip=True, translate=0, translate_weight=0.5,
                 padding_mode="constant"):
    """Top-1 accuracy (a fraction) of tta_predict over the batches (x, y) of `loader`."""
    correct = count = 0
    for x, y in loader:
        logits = tta_predict(model, x, flip, translate, translate_weight, padding_mode)
        correct += float(accuracy(logits, y))  # the batch's count of correct predictions
        count += len(y)
    return correct / max(count, 1)
