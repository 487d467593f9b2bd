"""SGDW: SGD with (Nesterov) momentum and decoupled weight decay (Loshchilov & Hutter, 2019)."""
from .sgd import SGD


class SGDW(SGD):
    r"""SGD whose weight decay shrinks the weights directly, outside the momentum.

        theta <- theta * (1 - lr * weight_decay)          (decoupled decay)
        b <- g                                 on the first step
        b <- momentum * b + (1 - dampening) * g   afterwards
        g <- g + momentum * b   if nesterov   else   g <- b
        theta <- theta - lr * g

    SGD's weight_decay instead adds weight_decay * theta to the gradient, which then
    goes through the momentum buffer: its pull on the weights is amplified by up to
    1 / (1 - momentum) and mixed with the loss's own gradient history. Decoupled, the
    decay is the same fraction lr * weight_decay of the weights at every step, whatever
    the momentum, and the two can be tuned apart. `SGD(..., weight_decay=wd)` and
    `SGDW(..., weight_decay=wd / (1 - momentum))` shrink the weights by about the same
    amount per step once the momentum buffer is in its steady state.
    """

    weight_decay_form = "decoupled"
