"""Optional oracles: the modern rules against the reference implementations
optimizers.md names (torch_optimizer, pytorch_optimizer, lion-pytorch,
torch-adopt, madgrad, optax). Each case skips when its library is not
installed, so the suite passes with NumPy alone; the plain-NumPy reference
tests in test_optim_modern_*.py always run.

30 steps in float64 on the shared problem (tests/optim_modern_problem.py),
same gradients on both sides, max |difference| <= 1e-12.
"""
import numpy as np
import pytest
from optim_modern_problem import gradient, initial_params, run_minigrad

import minigrad.optim as optim

STEPS = 30


def run_torch(make, steps=STEPS, init=None):
    """Run a torch.optim-style optimizer from the reference library."""
    torch = pytest.importorskip("torch")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # float64 scalar state (torch_optimizer.NovoGrad)
    try:
        params = [torch.tensor(x.copy(), requires_grad=True)
                  for x in (initial_params() if init is None else init)]
        opt = make(params)
        for _ in range(steps):
            for i, p in enumerate(params):
                # a fresh gradient each time: some references modify p.grad in place
                p.grad = torch.tensor(gradient(p.detach().numpy().copy(), i))
            opt.step()
        return [p.detach().numpy() for p in params]
    finally:
        torch.set_default_dtype(previous)


def run_optax(make, steps=STEPS, init=None):
    jnp = pytest.importorskip("jax.numpy")
    import jax
    jax.config.update("jax_enable_x64", True)
    optax = pytest.importorskip("optax")
    params = [jnp.asarray(x) for x in (initial_params() if init is None else init)]
    tx = make(optax)
    opt_state = tx.init(params)
    for _ in range(steps):
        grads = [jnp.asarray(gradient(np.asarray(p).copy(), i)) for i, p in enumerate(params)]
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
    return [np.asarray(p) for p in params]


def to(name):
    return getattr(pytest.importorskip("torch_optimizer"), name)


def po(name):
    return getattr(pytest.importorskip("pytorch_optimizer"), name)


CASES = [
    # (id, our class, our kwargs, reference runner)
    ("Lion", optim.Lion, dict(lr=1e-2, betas=(0.9, 0.99)),
     lambda: run_torch(lambda p: pytest.importorskip("lion_pytorch").Lion(p, lr=1e-2, betas=(0.9, 0.99)))),
    ("Lion-wd", optim.Lion, dict(lr=3e-3, betas=(0.95, 0.98), weight_decay=0.5),
     lambda: run_torch(lambda p: pytest.importorskip("lion_pytorch").Lion(
         p, lr=3e-3, betas=(0.95, 0.98), weight_decay=0.5))),
    ("Lion-optax", optim.Lion, dict(lr=3e-3, betas=(0.95, 0.98), weight_decay=0.5),
     lambda: run_optax(lambda o: o.lion(3e-3, b1=0.95, b2=0.98, weight_decay=0.5))),
    ("Signum", optim.Signum, dict(lr=1e-2, momentum=0.8, weight_decay=0.1),
     lambda: run_torch(lambda p: po("SignSGD")(p, lr=1e-2, momentum=0.8, weight_decay=0.1,
                                               weight_decouple=True, foreach=False))),
    ("signSGD-L2", optim.Signum, dict(lr=1e-2, momentum=0.0, weight_decay=0.1,
                                      decoupled_weight_decay=False),
     lambda: run_torch(lambda p: po("SignSGD")(p, lr=1e-2, momentum=0.0, weight_decay=0.1,
                                               weight_decouple=False, foreach=False))),
    ("QHM", optim.QHM, dict(lr=0.05, momentum=0.9, nu=0.7, weight_decay=0.1),
     lambda: run_torch(lambda p: to("QHM")(p, lr=0.05, momentum=0.9, nu=0.7, weight_decay=0.1))),
    ("QHM-decoupled", optim.QHM, dict(lr=0.05, momentum=0.5, nu=0.3, weight_decay=0.1,
                                      decoupled_weight_decay=True),
     lambda: run_torch(lambda p: to("QHM")(p, lr=0.05, momentum=0.5, nu=0.3, weight_decay=0.1,
                                           weight_decay_type="direct"))),
    ("QHAdam", optim.QHAdam, dict(lr=1e-2, betas=(0.9, 0.99), nus=(0.7, 0.8), weight_decay=0.1),
     lambda: run_torch(lambda p: to("QHAdam")(p, lr=1e-2, betas=(0.9, 0.99), nus=(0.7, 0.8),
                                              weight_decay=0.1))),
    ("QHAdam-decoupled", optim.QHAdam, dict(lr=1e-2, nus=(0.7, 1.0), weight_decay=0.1,
                                            decoupled_weight_decay=True),
     lambda: run_torch(lambda p: to("QHAdam")(p, lr=1e-2, betas=(0.995, 0.999), nus=(0.7, 1.0),
                                              weight_decay=0.1, decouple_weight_decay=True))),
    ("AggMo", optim.AggMo, dict(lr=1e-2, betas=(0.0, 0.5, 0.9), weight_decay=0.1),
     lambda: run_torch(lambda p: to("AggMo")(p, lr=1e-2, betas=(0.0, 0.5, 0.9), weight_decay=0.1))),
    ("AdaBelief", optim.AdaBelief, dict(lr=1e-2, weight_decay=0.1),
     lambda: run_torch(lambda p: to("AdaBelief")(p, lr=1e-2, eps=1e-16, weight_decay=0.1,
                                                 weight_decouple=True, rectify=False))),
    ("AdaBelief-L2", optim.AdaBelief, dict(lr=1e-2, betas=(0.8, 0.9), eps=1e-8, weight_decay=0.1,
                                           decoupled_weight_decay=False),
     lambda: run_torch(lambda p: to("AdaBelief")(p, lr=1e-2, betas=(0.8, 0.9), eps=1e-8,
                                                 weight_decay=0.1, weight_decouple=False,
                                                 rectify=False))),
    ("AdaBelief-optax", optim.AdaBelief, dict(lr=1e-2),
     lambda: run_optax(lambda o: o.adabelief(1e-2, eps=1e-16, eps_root=1e-16))),
    ("Yogi", optim.Yogi, dict(lr=1e-2, weight_decay=0.1),
     lambda: run_torch(lambda p: to("Yogi")(p, lr=1e-2, weight_decay=0.1))),
    ("Yogi-optax", optim.Yogi, dict(lr=1e-2, betas=(0.9, 0.99)),
     lambda: run_optax(lambda o: o.yogi(1e-2, b1=0.9, b2=0.99))),
    ("DiffGrad", optim.DiffGrad, dict(lr=1e-2, weight_decay=0.1),
     lambda: run_torch(lambda p: to("DiffGrad")(p, lr=1e-2, weight_decay=0.1))),
    ("AdaBound", optim.AdaBound, dict(lr=1e-2, final_lr=0.05, gamma=0.05, weight_decay=0.1),
     lambda: run_torch(lambda p: to("AdaBound")(p, lr=1e-2, final_lr=0.05, gamma=0.05,
                                                weight_decay=0.1))),
    ("AMSBound", optim.AdaBound, dict(lr=1e-2, final_lr=0.05, gamma=0.05, amsbound=True),
     lambda: run_torch(lambda p: to("AdaBound")(p, lr=1e-2, final_lr=0.05, gamma=0.05,
                                                amsbound=True))),
    ("AdaMod", optim.AdaMod, dict(lr=1e-2, beta3=0.9, weight_decay=0.1),
     lambda: run_torch(lambda p: to("AdaMod")(p, lr=1e-2, beta3=0.9, weight_decay=0.1))),
    ("ADOPT", optim.ADOPT, dict(lr=1e-2, weight_decay=0.1),
     lambda: run_torch(lambda p: pytest.importorskip("adopt").ADOPT(p, lr=1e-2, weight_decay=0.1))),
    ("ADOPT-decoupled", optim.ADOPT, dict(lr=1e-2, betas=(0.8, 0.99), weight_decay=0.1,
                                          decoupled_weight_decay=True),
     lambda: run_torch(lambda p: pytest.importorskip("adopt").ADOPT(
         p, lr=1e-2, betas=(0.8, 0.99), weight_decay=0.1, decouple=True))),
    ("ADOPT-optax", optim.ADOPT, dict(lr=1e-2),
     lambda: run_optax(lambda o: o.contrib.adopt(1e-2))),
    ("AdEMAMix", optim.AdEMAMix, dict(lr=1e-2, alpha=5.0, weight_decay=0.1),
     lambda: run_torch(lambda p: po("AdEMAMix")(p, lr=1e-2, alpha=5.0, weight_decay=0.1,
                                                weight_decouple=True, foreach=False))),
    ("AdEMAMix-warmup", optim.AdEMAMix, dict(lr=1e-2, alpha=8.0, T_alpha_beta3=20),
     lambda: run_torch(lambda p: po("AdEMAMix")(p, lr=1e-2, alpha=8.0, t_alpha_beta3=20,
                                                foreach=False))),
    ("AdEMAMix-optax", optim.AdEMAMix, dict(lr=1e-2, weight_decay=0.1),
     lambda: run_optax(lambda o: o.contrib.ademamix(1e-2, weight_decay=0.1))),
    ("Adan", optim.Adan, dict(lr=1e-2, weight_decay=0.1),
     lambda: run_torch(lambda p: po("Adan")(p, lr=1e-2, weight_decay=0.1, foreach=False))),
    ("Adan-no-prox", optim.Adan, dict(lr=1e-2, betas=(0.9, 0.8, 0.95), weight_decay=0.1,
                                      no_prox=True),
     lambda: run_torch(lambda p: po("Adan")(p, lr=1e-2, betas=(0.9, 0.8, 0.95), weight_decay=0.1,
                                            weight_decouple=True, foreach=False))),
    ("AdamP", optim.AdamP, dict(lr=1e-2, weight_decay=0.1),
     lambda: run_torch(lambda p: to("AdamP")(p, lr=1e-2, weight_decay=0.1))),
    ("AdamP-nesterov", optim.AdamP, dict(lr=1e-2, weight_decay=0.1, nesterov=True, delta=0.2),
     lambda: run_torch(lambda p: to("AdamP")(p, lr=1e-2, weight_decay=0.1, nesterov=True,
                                             delta=0.2))),
    ("SGDP", optim.SGDP, dict(lr=1e-2, momentum=0.9, weight_decay=0.1),
     lambda: run_torch(lambda p: to("SGDP")(p, lr=1e-2, momentum=0.9, weight_decay=0.1))),
    ("SGDP-nesterov", optim.SGDP, dict(lr=1e-2, momentum=0.5, nesterov=True, weight_decay=0.1),
     lambda: run_torch(lambda p: to("SGDP")(p, lr=1e-2, momentum=0.5, nesterov=True,
                                            weight_decay=0.1))),
    ("LAMB-optax", optim.LAMB, dict(lr=1e-2, weight_decay=0.1),
     lambda: run_optax(lambda o: o.lamb(1e-2, weight_decay=0.1))),
    ("LARS-optax", optim.LARS, dict(lr=0.5, weight_decay=0.1, trust_coefficient=0.02),
     lambda: run_optax(lambda o: o.lars(0.5, weight_decay=0.1, trust_coefficient=0.02))),
    ("LARS-nesterov-optax", optim.LARS, dict(lr=0.5, momentum=0.8, nesterov=True, eps=1e-3),
     lambda: run_optax(lambda o: o.lars(0.5, momentum=0.8, nesterov=True, eps=1e-3))),
    ("NovoGrad", optim.NovoGrad, dict(lr=1e-2, weight_decay=0.1),
     lambda: run_torch(lambda p: to("NovoGrad")(p, lr=1e-2, betas=(0.95, 0.98), weight_decay=0.1))),
    ("NovoGrad-averaging", optim.NovoGrad, dict(lr=1e-2, grad_averaging=True),
     lambda: run_torch(lambda p: to("NovoGrad")(p, lr=1e-2, betas=(0.95, 0.98),
                                                grad_averaging=True))),
    ("NovoGrad-optax", optim.NovoGrad, dict(lr=1e-2, betas=(0.9, 0.25), eps=1e-6, weight_decay=0.1),
     lambda: run_optax(lambda o: o.novograd(1e-2, b1=0.9, b2=0.25, eps=1e-6, weight_decay=0.1))),
    ("MADGRAD", optim.MADGRAD, dict(lr=1e-2, weight_decay=0.1),
     lambda: run_torch(lambda p: pytest.importorskip("madgrad").MADGRAD(p, lr=1e-2,
                                                                      weight_decay=0.1))),
    ("MADGRAD-no-momentum-decoupled", optim.MADGRAD,
     dict(lr=1e-2, momentum=0.0, weight_decay=0.1, decouple_decay=True),
     lambda: run_torch(lambda p: pytest.importorskip("madgrad").MADGRAD(
         p, lr=1e-2, momentum=0.0, weight_decay=0.1, decouple_decay=True))),
]


@pytest.mark.parametrize("name, cls, kwargs, reference", CASES, ids=[c[0] for c in CASES])
def test_matches_reference_library(name, cls, kwargs, reference):
    expected = reference()
    ours, _ = run_minigrad(cls, kwargs, STEPS)
    for a, b in zip(ours, expected):
        np.testing.assert_allclose(a, b, atol=1e-12, rtol=0)


def test_adan_global_clipping_matches_pytorch_optimizer():
    """pytorch_optimizer sums the squared global norm in float32 (so does the
    official code unless torch's default dtype is float64): 1e-9, not 1e-12."""
    kwargs = dict(lr=1e-2, betas=(0.9, 0.8, 0.95), weight_decay=0.1, max_grad_norm=2.0)
    expected = run_torch(lambda p: po("Adan")(p, foreach=False, **kwargs))
    ours, _ = run_minigrad(optim.Adan, kwargs, STEPS)
    for a, b in zip(ours, expected):
        np.testing.assert_allclose(a, b, atol=1e-9, rtol=0)


# Shapes whose first eigenbases are unique: a d x d statistic of rank >= d - 1
# (a 1-D tensor with precondition_1d, or a 4 x 6 matrix, would have repeated
# zero eigenvalues, whose eigenvectors every library picks differently).
SOAP_SHAPES = [(4, 4), (5, 4), (2, 3, 4), (6,)]


@pytest.mark.parametrize("kwargs", [
    dict(lr=1e-2, eps=1e-4, weight_decay=0.1, precondition_frequency=100),
    dict(lr=1e-2, eps=1e-4, betas=(0.9, 0.99), shampoo_beta=0.8, precondition_frequency=100,
         correct_bias=False),
])
def test_soap_matches_pytorch_optimizer(kwargs):
    """Before the first basis refresh SOAP agrees to rounding. eps = 1e-4, not
    1e-8: on the first update g is diagonal in its own eigenbasis, and the
    off-diagonal entries are rounding noise (~1e-16) that m / (sqrt(v) + eps)
    amplifies by 1/eps, differently for each LAPACK."""
    SOAP = po("SOAP")
    init = [np.random.default_rng(1).normal(size=s) for s in SOAP_SHAPES]
    expected = run_torch(lambda p: SOAP(p, **kwargs), steps=12, init=init)
    ours, _ = run_minigrad(optim.SOAP, kwargs, 12, init=init)
    for a, b in zip(ours, expected):
        np.testing.assert_allclose(a, b, atol=1e-12, rtol=0)


def test_soap_refresh_matches_pytorch_optimizer_to_float32():
    """pytorch_optimizer runs the refresh's QR in float32: agreement to 1e-5."""
    SOAP = po("SOAP")
    init = [np.random.default_rng(1).normal(size=s) for s in SOAP_SHAPES]
    kwargs = dict(lr=1e-2, eps=1e-3, precondition_frequency=3)
    expected = run_torch(lambda p: SOAP(p, **kwargs), steps=12, init=init)
    ours, _ = run_minigrad(optim.SOAP, kwargs, 12, init=init)
    for a, b in zip(ours, expected):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
