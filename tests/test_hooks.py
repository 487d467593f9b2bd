"""Hooks: Tensor.register_hook and the Module forward/backward hooks, against true gradients."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
from minigrad import viz

# float64 throughout; two routes to one gradient differ by a few ulps at most.
TOL = dict(rtol=1e-12, atol=1e-12)


def leaf(values, device="cpu"):
    return mg.tensor(np.asarray(values, dtype=np.float64), device=device, requires_grad=True)


def close(a, b):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), **TOL)


# ------------------------------------------------------------------ tensor hooks
def test_leaf_hook_sees_its_whole_gradient_once(device):
    values = [0.5, -1.5, 2.0]
    plain = leaf(values, device)
    (plain * plain + plain.sin()).sum().backward()  # the true gradient, no hooks

    x = leaf(values, device)
    seen = []
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    (x * x + x.sin()).sum().backward()
    assert len(seen) == 1  # x is used three times; its hook sees the sum, once
    close(seen[0], plain.grad)
    close(x.grad, plain.grad)


def test_intermediate_hook_sees_its_gradient_and_can_replace_it(device):
    x = leaf([1.0, -2.0, 3.0], device)
    h = x.exp()
    y = (h * h).sum()
    true_dh = mg.grad(y, h, retain_graph=True)[0]  # 2 exp(x)
    close(true_dh, 2 * np.exp([1.0, -2.0, 3.0]))

    seen = []
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    h.register_hook(lambda g: g * 2.0)  # a replacement flows on to x
    y.backward()
    close(seen[0], true_dh)
    close(x.grad, 2.0 * true_dh.numpy() * np.exp([1.0, -2.0, 3.0]))


def test_replacement_on_a_leaf_changes_grad():
    x = leaf([1.0, 2.0])
    x.register_hook(lambda g: g * 2.0)
    (x ** 3).sum().backward()
    close(x.grad, 2.0 * 3.0 * np.array([1.0, 2.0]) ** 2)


def test_hooks_run_in_registration_order():
    x = leaf([1.0, 2.0])
    x.register_hook(lambda g: g + 1.0)
    x.register_hook(lambda g: g * 2.0)
    (x * 3.0).sum().backward()
    close(x.grad, [(3.0 + 1.0) * 2.0] * 2)  # (g + 1) * 2, not g * 2 + 1


def test_removed_hooks_do_not_run():
    x = leaf([1.0, 2.0])
    calls = []
    handle = x.register_hook(lambda g: calls.append(1) or g * 10.0)
    handle.remove()
    handle.remove()  # twice is harmless
    with x.register_hook(lambda g: calls.append(2)):
        pass  # a handle used as a context manager removes its hook at the end
    (x * 3.0).sum().backward()
    assert calls == []
    close(x.grad, [3.0, 3.0])


def test_hook_on_intermediate_outlives_the_python_object():
    x = leaf([1.0, 2.0])
    h = x * 3.0
    calls = []
    h.register_hook(lambda g: calls.append(g.numpy().copy()))
    y = (h * h).sum()
    del h  # the node that made h keeps its hooks
    y.backward()
    close(calls[0], 2.0 * 3.0 * np.array([1.0, 2.0]))


def test_hook_on_the_output_sees_the_seed_gradient():
    x = leaf([1.0, 2.0])
    y = (x * 2.0).sum()
    seen = []
    y.register_hook(lambda g: seen.append(g.item()) or g * 7.0)
    y.backward()
    assert seen == [1.0]
    close(x.grad, [14.0, 14.0])


def test_retained_grad_is_the_hooked_one():
    x = leaf([1.0, 2.0])
    h = x * 1.0
    h.retain_grad()
    h.register_hook(lambda g: g * 5.0)
    h.sum().backward()
    close(h.grad, [5.0, 5.0])  # as in PyTorch: retain_grad sees what the hooks made


def test_grad_returns_hooked_gradients_and_leaves_grad_alone():
    x = leaf([1.0, 2.0])
    h = x * 3.0
    h.register_hook(lambda g: g * 2.0)
    y = (h * h).sum()
    dh, = mg.grad(y, h, retain_graph=True)
    close(dh, 2.0 * 2.0 * np.array([3.0, 6.0]))
    x.register_hook(lambda g: g * 10.0)
    dx, = mg.grad(y, x)
    close(dx, 10.0 * 3.0 * dh.numpy())
    assert x.grad is None


def test_hooks_work_with_create_graph():
    x = leaf([1.0, -2.0])
    handle = x.register_hook(lambda g: g * 2.0)
    (x ** 3).sum().backward(create_graph=True)
    close(x.grad, 2.0 * 3.0 * np.array([1.0, -2.0]) ** 2)
    handle.remove()
    second, = mg.grad(x.grad.sum(), x)  # the doubled gradient was recorded: d/dx 6 x^2 = 12 x
    close(second, 12.0 * np.array([1.0, -2.0]))


def test_hook_errors_are_clear():
    with pytest.raises(RuntimeError, match="doesn't require gradient.*requires_grad=True"):
        mg.tensor([1.0]).register_hook(lambda g: g)
    with pytest.raises(TypeError, match="callable"):
        leaf([1.0]).register_hook(3)
    x = leaf([1.0, 2.0])
    x.register_hook(lambda g: g.sum())
    with pytest.raises(RuntimeError, match=r"shape \(\).*shape \(2,\).*return None or a Tensor"):
        (x * 2.0).sum().backward()
    y = leaf([1.0, 2.0])
    y.register_hook(lambda g: g.astype(mg.float32))
    with pytest.raises(RuntimeError, match="dtype float32.*dtype float64"):
        (y * 2.0).sum().backward()


def test_tensor_hooks_match_pytorch():
    torch = pytest.importorskip("torch")
    values = np.array([0.3, -1.2, 2.5])
    results = []
    for lib in ("minigrad", "torch"):
        if lib == "torch":
            x = torch.tensor(values, requires_grad=True)
        else:
            x = leaf(values)
        h = x * x
        h.register_hook(lambda g: g * 3.0)
        x.register_hook(lambda g: g + 1.0)
        (h.sin() + x).sum().backward()
        results.append(np.asarray(x.grad.detach() if lib == "torch" else x.grad.numpy()))
    close(results[0], results[1])


# ------------------------------------------------------------------ module hooks
def test_forward_hooks_fire_in_order_and_can_replace():
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
    events = []
    for name, module in [("seq", model), ("fc", model[0]), ("relu", model[1])]:
        module.register_forward_pre_hook(lambda m, args, n=name: events.append(f"pre {n}"))
        module.register_forward_hook(lambda m, args, out, n=name: events.append(f"post {n}"))
    model(mg.randn(2, 3))
    assert events == ["pre seq", "pre fc", "post fc", "pre relu", "post relu", "post seq"]

    fc = nn.Linear(3, 2).double()
    x = mg.tensor(np.random.randn(4, 3))
    expected = fc(x * 2.0).numpy() + 1.0
    pre = fc.register_forward_pre_hook(lambda m, args: (args[0] * 2.0,))
    post = fc.register_forward_hook(lambda m, args, out: out + 1.0)
    seen = []
    fc.register_forward_hook(lambda m, args, out: seen.append((args[0].numpy(), out.numpy())))
    close(fc(x), expected)
    close(seen[0][0], 2.0 * x.numpy())  # later hooks see the replaced args and output
    close(seen[0][1], expected)
    pre.remove()
    post.remove()
    close(fc(x), fc.forward(x))


def test_full_backward_hook_on_linear():
    fc = nn.Linear(3, 2).double()
    x = leaf(np.random.randn(4, 3))
    upstream = mg.tensor(np.random.randn(4, 2))
    calls = []
    fc.register_full_backward_hook(lambda m, gi, go: calls.append((m, gi, go)))
    (fc(x) * upstream).sum().backward()
    assert len(calls) == 1
    module, grad_input, grad_output = calls[0]
    assert module is fc and len(grad_input) == 1 and len(grad_output) == 1
    close(grad_output[0], upstream)
    close(grad_input[0], upstream.numpy() @ fc.weight.numpy())  # dL/dx = dL/dy W
    close(x.grad, grad_input[0])


def test_full_backward_hook_replaces_grad_input_only():
    fc = nn.Linear(3, 2).double()
    x = leaf(np.random.randn(4, 3))
    (fc(x) ** 2).sum().backward()
    true_x, true_w = x.grad.numpy(), fc.weight.grad.numpy()
    x.grad = None
    fc.zero_grad()
    handle = fc.register_full_backward_hook(lambda m, gi, go: (gi[0] * 2.0,))
    (fc(x) ** 2).sum().backward()
    close(x.grad, 2.0 * true_x)
    close(fc.weight.grad, true_w)  # parameters' gradients are not inputs: unchanged
    handle.remove()
    y = fc(x)
    assert "HookIdentity" not in viz.to_dot(y)  # a removed hook adds no nodes


def test_full_backward_hook_with_several_and_non_tensor_inputs():
    class Scale(nn.Module):
        def forward(self, a, b, factor):
            return a * b * factor

    module = Scale()
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    calls = []
    module.register_full_backward_hook(lambda m, gi, go: calls.append((gi, go)))
    module(a, b, 5.0).sum().backward()
    grad_input, grad_output = calls[0]
    assert len(grad_input) == 3 and grad_input[2] is None  # one entry per positional argument
    close(grad_input[0], 5.0 * b.numpy())
    close(grad_input[1], 5.0 * a.numpy())
    close(grad_output[0], [1.0, 1.0])


def test_full_backward_hook_when_no_input_needs_grad():
    fc = nn.Linear(3, 2).double()
    calls = []
    fc.register_full_backward_hook(lambda m, gi, go: calls.append((gi, go)))
    upstream = np.random.randn(5, 2)
    (fc(mg.tensor(np.random.randn(5, 3))) * mg.tensor(upstream)).sum().backward()
    grad_input, grad_output = calls[0]
    assert grad_input == (None,)  # as PyTorch: the hook fires on the outputs' gradients
    close(grad_output[0], upstream)


def test_backward_hook_keeps_gradients_exact():
    fc = nn.Linear(3, 2).double()
    fc.register_full_backward_hook(lambda m, gi, go: None)
    x = leaf(np.random.randn(2, 3))
    assert mg.gradcheck(lambda t: fc(t).tanh(), (x,))
    assert mg.gradgradcheck(lambda t: fc(t).tanh(), (x,))


def test_bad_backward_hook_result_is_a_clear_error():
    fc = nn.Linear(3, 2).double()
    fc.register_full_backward_hook(lambda m, gi, go: (gi[0].sum(),))
    with pytest.raises(RuntimeError, match=r"Linear backward hook.*shape \(\).*shape \(4, 3\)"):
        fc(leaf(np.random.randn(4, 3))).sum().backward()


def test_no_backward_wiring_under_no_grad():
    fc = nn.Linear(3, 2)
    calls = []
    fc.register_full_backward_hook(lambda m, gi, go: calls.append(1))
    with mg.no_grad():
        out = fc(mg.randn(2, 3, requires_grad=True))
    assert out.grad_fn is None and calls == []


def test_hook_on_a_parameter_edits_what_the_optimizer_sees():
    fc = nn.Linear(3, 2).double()
    x = mg.tensor(np.random.randn(4, 3))
    fc(x).sum().backward()
    true_w = fc.weight.grad.numpy()
    assert np.abs(true_w).max() > 0.5  # so the clipping below changes something
    fc.zero_grad()
    fc.weight.register_hook(lambda g: g.clip(-0.5, 0.5))  # per-parameter gradient clipping
    fc(x).sum().backward()
    close(fc.weight.grad, np.clip(true_w, -0.5, 0.5))


def test_grad_runs_only_the_paths_to_its_inputs():
    """As PyTorch: grad(z, x) computes no weight gradient and fires no hook of a
    tensor off every path to x (a logging hook must not see gradient penalties)."""
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    fired = []
    w.register_hook(lambda g: fired.append("w"))
    q = w * 2.0
    q.register_hook(lambda g: fired.append("q"))
    u = x * 3.0
    u.register_hook(lambda g: fired.append("u"))
    z = (u * q).sum()
    dx, = mg.grad(z, x)
    close(dx, 3.0 * 2.0 * np.array([3.0, 4.0]))
    assert fired == ["u"] and w.grad is None
