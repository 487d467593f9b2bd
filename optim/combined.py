"""`Combined`: several update rules stepped as one optimizer, each over its own parameters.

Some recipes give different parameters different rules: Muon for the weight
matrices and conv kernels, SGD or AdamW for the biases, norms and the output
layer (Muon's orthogonalized step makes no sense for a vector). A training loop,
an lr schedule, a checkpoint or Lookahead expects ONE optimizer; `Combined`
is that one:

    opt = optim.Combined(optim.Muon(kernels, lr=0.24, flatten=True),
                         optim.SGD(others, lr=0.05, momentum=0.9))
    schedule = optim.lr_scheduler.OneCycleLR(opt, ...)   # scales every group's lr
    fit(model, loader, optimizer=optim.Lookahead(opt), scheduler=schedule, ...)

`param_groups` is the inner optimizers' groups in order, the same dicts (so a
schedule that changes a group's lr changes the inner rule's); `step()` checks
every gradient first, then steps each rule; `state_dict()` nests each rule's
own dict, and loading refuses a state before changing anything unless every
part of it fits.
"""
from .checks import check_grads, check_state_dict
from .optimizer import Optimizer


class Combined(Optimizer):
    """Step the given optimizers as one; they must not share a parameter."""

    def __init__(self, *optimizers):
        if not optimizers or not all(isinstance(o, Optimizer) for o in optimizers):
            raise TypeError("Combined takes optimizer instances, e.g. Combined(optim.Muon(kernels, "
                            f"lr=0.02), optim.AdamW(others)); got {[type(o).__name__ for o in optimizers]}")
        for o in optimizers:
            if o.needs_closure or o.needs_create_graph or o.hessian_refresh_every:
                raise ValueError(f"Combined: {type(o).__name__} needs a closure or second "
                                 "derivatives, which a combination of rules cannot drive; "
                                 "step it on its own")
        owner = {}
        for o in optimizers:
            for p in (p for g in o.param_groups for p in g["params"]):
                if id(p) in owner:
                    raise ValueError(f"Combined: a parameter of shape {tuple(p.shape)} is in both "
                                     f"{type(owner[id(p)]).__name__} and {type(o).__name__}; "
                                     "give each parameter to one rule")
                owner[id(p)] = o
        self.optimizers = list(optimizers)
        self.defaults = {}

    @property
    def param_groups(self):
        return [group for o in self.optimizers for group in o.param_groups]

    @property
    def state(self):
        """Every parameter's state, read from the rule that keeps it (a new dict)."""
        return {p: s for o in self.optimizers for p, s in o.state.items()}

    def add_param_group(self, group):
        raise TypeError("Combined.add_param_group: add the group to the rule that should "
                        "update it, e.g. combined.optimizers[0].add_param_group(group)")

    def step(self, closure=None):
        if closure is not None:
            raise ValueError("Combined.step: no closure (its rules take none); compute the "
                             "loss and call backward() before step()")
        check_grads(self)  # every gradient checked before any rule moves a weight
        for o in self.optimizers:
            o.step()

    def zero_grad(self, set_to_none=True):
        for o in self.optimizers:
            o.zero_grad(set_to_none)

    def state_dict(self):
        parts = [o.state_dict() for o in self.optimizers]
        return {"optimizer": "Combined", "optimizers": parts, "state": {},
                "param_groups": [g for part in parts for g in part["param_groups"]]}

    def load_state_dict(self, state_dict):
        check_state_dict(self, state_dict)
        parts = state_dict["optimizers"]
        if len(parts) != len(self.optimizers):
            raise ValueError(f"Combined.load_state_dict: the state holds {len(parts)} rules but "
                             f"this optimizer combines {len(self.optimizers)}")
        for o, part in zip(self.optimizers, parts):
            check_state_dict(o, part)  # all parts checked before any is loaded
        for o, part in zip(self.optimizers, parts):
            o.load_state_dict(part)

    def __repr__(self):
        inner = ",\n".join(repr(o) for o in self.optimizers)
        return f"Combined(\n{inner}\n)"
