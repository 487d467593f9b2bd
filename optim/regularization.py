r"""Weight penalties added to the loss: L1, L2 and elastic net.

They are ordinary differentiable functions of the parameters (built from
Tensor ops), so the gradient of the penalty flows into `.grad` with the rest
of the loss:

    loss = loss_fn(model(x), y) + lam * l1_penalty(model.parameters())
    loss.backward(); opt.step()

Coupled vs decoupled weight decay
---------------------------------
Adding (lam/2) * ||w||^2 to the loss adds lam * w to the gradient. That is
exactly what `SGD(weight_decay=lam)` and `Adam(weight_decay=lam)` do without
touching the loss ("coupled" decay, or L2 regularization: the decay goes
*through the gradient*):

    g <- grad(loss) + lam * w

For plain SGD this is the same as shrinking the weights, w <- w - lr*lam*w,
so "L2 regularization" and "weight decay" are one thing. For adaptive rules
they are not: Adam divides the gradient by sqrt(v) per coordinate, so the
lam * w term is divided too, and weights whose gradients are large (large v)
are barely decayed while rarely-updated ones are decayed hard. AdamW
(Loshchilov & Hutter 2019) "decouples" the decay: it is applied to the
weights directly, outside the adaptive step,

    w <- w - lr * lam * w - lr * adam_step(grad(loss))

so every weight shrinks at the same relative rate. Adding `l2_penalty` to
the loss always gives the coupled form; use AdamW's `weight_decay` for the
decoupled one.

L1 (lam * ||w||_1) pushes weights to exactly zero (sparsity); its gradient
is lam * sign(w), with sign(0) = 0 (the subgradient PyTorch uses).
"""
from numbers import Real

from minigrad import Tensor


def _as_list(params, name):
    """Parameters as a list of Tensors (a single Tensor, or an iterable of
    Tensors or of (name, Tensor) pairs as named_parameters() gives)."""
    if isinstance(params, Tensor):
        return [params]
    params = [p[1] if isinstance(p, tuple) else p for p in params]
    if not params:
        raise ValueError(f"{name}: got no parameters (if you passed model.parameters() twice, "
                         "the generator was used up the first time: pass list(model.parameters()))")
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"{name}: parameters must be Tensors, got {type(p).__name__}")
    return params


def l1_penalty(params):
    r"""sum_i |w_i| over every entry of every parameter (a 0-d Tensor).

    d/dw = sign(w) (0 at w = 0)."""
    params = _as_list(params, "l1_penalty")
    total = params[0].abs().sum()
    for p in params[1:]:
        total = total + p.abs().sum()
    return total


def l2_penalty(params):
    r"""sum_i w_i^2 over every entry of every parameter (a 0-d Tensor),
    without a factor 1/2.

    d/dw = 2 w, so the gradient of (lam/2) * l2_penalty(params) is lam * w:
    adding (lam/2) * l2_penalty to the loss is what SGD(weight_decay=lam)
    does."""
    params = _as_list(params, "l2_penalty")
    total = (params[0] * params[0]).sum()
    for p in params[1:]:
        total = total + (p * p).sum()
    return total


def elastic_net_penalty(params, l1_ratio=0.5):
    r"""The elastic-net penalty (Zou & Hastie 2005), as scikit-learn and
    glmnet write it:

        l1_ratio * ||w||_1 + (1 - l1_ratio) / 2 * ||w||_2^2

    so `lam * elastic_net_penalty(params, r)` is sklearn's ElasticNet penalty
    with alpha = lam, l1_ratio = r. l1_ratio = 1 is the lasso (L1),
    l1_ratio = 0 is ridge with gradient lam * w (= weight_decay lam).

    d/dw = l1_ratio * sign(w) + (1 - l1_ratio) * w."""
    if not isinstance(l1_ratio, Real) or not 0.0 <= l1_ratio <= 1.0:
        raise ValueError(f"elastic_net_penalty: l1_ratio must be in [0, 1] (1 = L1 only, "
                         f"0 = L2 only), got {l1_ratio!r}")
    params = _as_list(params, "elastic_net_penalty")
    l1_ratio = float(l1_ratio)
    return l1_ratio * l1_penalty(params) + (1.0 - l1_ratio) / 2.0 * l2_penalty(params)
