"""Optimizer misuse gets a clear error, at the moment of the mistake, naming
what is wrong (index, shapes, hyperparameter, rule) and before anything changes."""
import numpy as np
import pytest

import minigrad
import minigrad.optim as optim


def tensor(*shape, value=1.0):
    return minigrad.Tensor(np.full(shape, value), requires_grad=True)


def set_grads(params, grads):
    for p, g in zip(params, grads):
        p.grad = minigrad.Tensor(np.asarray(g, dtype=np.float64))


# --------------------------------------------------------- duplicated parameters
def test_the_same_parameter_twice_is_refused_naming_its_index_and_shape():
    w, b = tensor(2, 3), tensor(3)
    with pytest.raises(ValueError, match=r"index 2 \(shape \(2, 3\)\).*index 0"):
        optim.SGD([w, b, w], lr=0.1)


# --------------------------------------------------------- hyperparameter types
@pytest.mark.parametrize("make, match", [
    (lambda ps: optim.SGD(ps, lr="0.1"), r"SGD: hyperparameter lr = '0.1' \(a str\).*a real number"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=None),
     r"SGD: hyperparameter momentum = None \(a NoneType\).*a real number"),
    (lambda ps: optim.Adam(ps, amsgrad="yes"), r"Adam: hyperparameter amsgrad = 'yes'.*True or False"),
    (lambda ps: optim.Adam(ps, betas=0.9), r"Adam: hyperparameter betas = 0.9 .*tuple of numbers"),
    (lambda ps: optim.Adam(ps, betas=(0.9, "0.999")),
     r"Adam: hyperparameter betas = \(0.9, '0.999'\).*item 1"),
    (lambda ps: optim.SGD([{"params": ps, "lr": [0.1]}], lr=0.1),
     r"SGD: hyperparameter lr = \[0.1\] \(a list\)"),
])
def test_a_hyperparameter_of_the_wrong_type_is_a_type_error_naming_it(make, match):
    with pytest.raises(TypeError, match=match):
        make([tensor(2)])


def test_betas_of_the_wrong_length_name_the_rule_and_the_value():
    with pytest.raises(ValueError, match=r"Adam: hyperparameter betas = \(0.9,\) must have 2 values"):
        optim.Adam([tensor(2)], betas=(0.9,))


def test_optional_hyperparameters_still_accept_none():
    optim.ADOPT([tensor(2)], clip_exponent=None)
    optim.Adafactor([tensor(2, 2)], eps=(None, 1e-3))
    optim.Prodigy([tensor(2)], beta3=None)


# --------------------------------------------------------- gradient shapes
def test_a_gradient_of_the_wrong_shape_fails_before_any_parameter_moves():
    w, b = tensor(2, 2), tensor(3)
    opt = optim.Adam([w, b], lr=0.1)
    set_grads([w, b], [np.ones((2, 2)), np.ones((1, 3))])  # b's gradient: (1, 3), not (3,)
    with pytest.raises(ValueError, match=r"gradient of parameter 1 has shape \(1, 3\) but the "
                                         r"parameter has shape \(3,\)"):
        opt.step()
    np.testing.assert_array_equal(w.numpy(), 1.0)  # all-or-nothing: w was not stepped either
    assert opt.state == {}


@pytest.mark.parametrize("make", [
    lambda ps: optim.LBFGS(ps),
    lambda ps: optim.SAM(ps, optim.SGD, lr=0.1),
])
def test_closure_rules_check_gradient_shapes_too(make):
    w = tensor(3)
    opt = make([w])

    def closure():
        w.grad = minigrad.Tensor(np.ones((3, 1)))
        return minigrad.Tensor(np.array(0.0))

    with pytest.raises(ValueError, match=r"parameter 0 has shape \(3, 1\)"):
        w.grad = minigrad.Tensor(np.ones((3, 1)))
        opt.step(closure)
    np.testing.assert_array_equal(w.numpy(), 1.0)


# --------------------------------------------------------- loading a foreign state
def _stepped(opt, params):
    set_grads(params, [np.full(p.shape, 0.5) for p in params])
    opt.step()
    return opt.state_dict()


def test_a_state_from_another_rule_fails_at_load_naming_both_rules():
    w = tensor(2, 3)
    saved = _stepped(optim.SGD([w], lr=0.1, momentum=0.9), [w])
    adam = optim.Adam([tensor(2, 3)])
    with pytest.raises(ValueError, match="saved by a SGD optimizer; a Adam"):
        adam.load_state_dict(saved)
    assert adam.state == {}


def test_a_state_with_other_buffers_fails_at_load_naming_the_keys():
    """The same, for a dict that does not record its rule (saved elsewhere)."""
    w = tensor(2, 3)
    saved = _stepped(optim.SGD([w], lr=0.1, momentum=0.9), [w])
    del saved["optimizer"]
    with pytest.raises(ValueError, match=r"parameter 0 \(shape \(2, 3\)\): missing state keys "
                                         r"\['exp_avg', 'exp_avg_sq', 'step'\], unexpected "
                                         r"state keys \['momentum_buffer'\]"):
        optim.Adam([tensor(2, 3)]).load_state_dict(saved)


def test_a_state_from_a_model_with_other_shapes_fails_at_load_naming_index_and_shapes():
    a, b = tensor(2, 3), tensor(4)
    saved = _stepped(optim.Adam([a, b]), [a, b])
    opt = optim.Adam([tensor(3, 2), tensor(4)])
    with pytest.raises(ValueError, match=r"parameter 0 has shape \(3, 2\), its state\['exp_avg'\] "
                                         r"should have shape \(3, 2\) but the saved one has \(2, 3\)"):
        opt.load_state_dict(saved)
    assert opt.state == {}


def test_a_state_with_another_number_of_parameters_fails_at_load():
    a, b = tensor(2), tensor(2)
    saved = _stepped(optim.Adam([a, b]), [a, b])
    with pytest.raises(ValueError, match="saved group 0 has 2 parameters but this optimizer's "
                                         "group 0 has 1"):
        optim.Adam([tensor(2)]).load_state_dict(saved)


def test_matching_states_still_load_lists_and_lazily_made_buffers_included():
    for make in (lambda ps: optim.Shampoo(ps), lambda ps: optim.SOAP(ps),
                 lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), lambda ps: optim.AggMo(ps)):
        w = tensor(2, 3)
        saved = _stepped(make([w]), [w])
        saved = _stepped(make([w]), [w]) if not saved["state"] else saved
        make([tensor(2, 3)]).load_state_dict(saved)


# --------------------------------------------------------- capabilities
def test_capability_attributes():
    w = [tensor(2, 2)]
    assert optim.Optimizer.needs_closure is False and optim.Optimizer.takes_batch_size is False
    assert optim.Optimizer.needs_create_graph is False
    assert optim.Optimizer.hessian_refresh_every is None
    assert optim.LBFGS(w).needs_closure and optim.SAM(w, optim.SGD, lr=0.1).needs_closure
    assert optim.ASAM(w, optim.SGD, lr=0.1).needs_closure and not optim.Adam(w).needs_closure
    assert optim.AdaHessian(w).needs_create_graph and optim.SophiaH(w).needs_create_graph
    sophia = optim.SophiaG(w, hessian_refresh_every=4, batch_size=32)
    assert sophia.hessian_refresh_every == 4 and sophia.takes_batch_size
    assert optim.SophiaG(w).hessian_refresh_every == 10
    assert optim.SophiaG(w).param_groups[0]["batch_size"] == 5120
    assert sophia.state_dict()["param_groups"][0]["batch_size"] == 32
    wrapped = optim.Lookahead(optim.SophiaG(w, hessian_refresh_every=3))
    assert wrapped.hessian_refresh_every == 3 and wrapped.takes_batch_size
    assert not wrapped.needs_closure and optim.Lookahead(optim.LBFGS(w)).needs_closure
    assert optim.Lookahead(optim.Adam(w)).hessian_refresh_every is None


def test_sophiag_batch_size_in_the_constructor_equals_step_bs():
    runs = []
    for make, kwargs in ((lambda ps: optim.SophiaG(ps, batch_size=7), {}),
                         (lambda ps: optim.SophiaG(ps), {"bs": 7})):
        w = tensor(3)
        opt = make([w])
        for i in range(3):
            set_grads([w], [np.array([0.3, -0.2, 0.1]) * (i + 1)])
            opt.step(**kwargs)
            if i == 0:
                opt.update_hessian()  # h != 0, so the batch size matters
        runs.append(w.numpy().copy())
    np.testing.assert_array_equal(runs[0], runs[1])  # elementwise, same operations: exact


def test_lookahead_of_sophiag_refreshes_the_inner_hessian():
    w = tensor(3)
    opt = optim.Lookahead(optim.SophiaG([w]), k=2)
    set_grads([w], [np.array([1.0, 2.0, 3.0])])
    opt.update_hessian()
    np.testing.assert_allclose(opt.optimizer.state[w]["hessian"], 0.01 * np.array([1.0, 4.0, 9.0]),
                               rtol=1e-12)
    labels = opt.sample_labels(minigrad.Tensor(np.zeros((4, 3))))
    assert labels.shape == (4,)
