"""RNN, LSTM, GRU and their cells: PyTorch's state dict loads as it is and gives
PyTorch's outputs, final states and gradients (every parameter, the input and the
initial state) for multi-layer, bidirectional, batch_first and unbatched inputs, and
LSTM's proj_size; gradcheck through time; the cuda run equals the cpu run; errors are named."""
import numpy as np
import pytest

import minigrad
import minigrad.nn as nn

IN, H = 3, 4
CASES = [
    ("RNN", {}), ("RNN", {"nonlinearity": "relu", "bias": False}),
    ("LSTM", {}), ("LSTM", {"num_layers": 2, "bidirectional": True, "batch_first": True}),
    ("GRU", {}), ("GRU", {"num_layers": 2, "bidirectional": True}),
    ("LSTM", {"proj_size": 2}), ("LSTM", {"proj_size": 3, "num_layers": 2, "bidirectional": True}),
]


def _pair(torch, mode, kw):
    torch.manual_seed(0)
    theirs = getattr(torch.nn, mode)(IN, H, **kw).double()
    ours = getattr(nn, mode)(IN, H, dtype=minigrad.float64, **kw)
    state = {k: minigrad.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()}
    assert set(state) == set(ours.state_dict())  # PyTorch's names (and no others)
    ours.load_state_dict(state)
    return ours, theirs


def _flat(states):
    return list(states) if isinstance(states, tuple) else [states]


@pytest.mark.parametrize("mode, kw", CASES, ids=[f"{m}-{sorted(k)}" for m, k in CASES])
def test_matches_torch_outputs_states_and_gradients(mode, kw):
    torch = pytest.importorskip("torch")
    ours, theirs = _pair(torch, mode, kw)
    rng = np.random.default_rng(1)
    layers = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    x0 = rng.normal(size=(2, 5, IN) if kw.get("batch_first") else (5, 2, IN))
    sizes = [kw.get("proj_size") or H, H] if mode == "LSTM" else [H]  # h has proj_size features
    h0 = [rng.normal(size=(layers, 2, n)) for n in sizes]
    x, x_t = minigrad.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    hx = [minigrad.tensor(h, requires_grad=True) for h in h0]
    hx_t = [torch.tensor(h, requires_grad=True) for h in h0]
    y, states = ours(x, tuple(hx) if mode == "LSTM" else hx[0])
    y_t, states_t = theirs(x_t, tuple(hx_t) if mode == "LSTM" else hx_t[0])
    np.testing.assert_allclose(y.numpy(), y_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    for s, s_t in zip(_flat(states), _flat(states_t)):
        np.testing.assert_allclose(s.numpy(), s_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rng.normal(size=y.shape)
    loss = (y * minigrad.tensor(g)).sum() + sum((s * s).sum() for s in _flat(states))
    loss_t = (y_t * torch.tensor(g)).sum() + sum((s * s).sum() for s in _flat(states_t))
    loss.backward()
    loss_t.backward()
    for ours_t, theirs_t in [(x, x_t)] + list(zip(hx, hx_t)):
        np.testing.assert_allclose(ours_t.grad.numpy(), theirs_t.grad.numpy(), rtol=1e-9, atol=1e-12)
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), theirs.get_parameter(name).grad.numpy(),
                                   rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_unbatched_input_and_cells_match_torch(mode):
    torch = pytest.importorskip("torch")
    ours, theirs = _pair(torch, mode, {})
    x0 = np.random.default_rng(2).normal(size=(4, IN))
    y, states = ours(minigrad.tensor(x0))
    y_t, states_t = theirs(torch.tensor(x0))
    np.testing.assert_allclose(y.numpy(), y_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert _flat(states)[0].shape == (1, H)
    torch.manual_seed(3)
    cell_t = getattr(torch.nn, mode + "Cell")(IN, H).double()
    cell = getattr(nn, mode + "Cell")(IN, H, dtype=minigrad.float64)
    cell.load_state_dict({k: minigrad.tensor(v.detach().numpy()) for k, v in cell_t.state_dict().items()})
    out, out_t = cell(minigrad.tensor(x0)), cell_t(torch.tensor(x0))  # x0 as a batch of 4
    for s, s_t in zip(_flat(out), _flat(out_t)):
        np.testing.assert_allclose(s.numpy(), s_t.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_lstm_proj_size_shapes_and_state_dict_order_match_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = _pair(torch, "LSTM", {"proj_size": 2, "num_layers": 2, "bidirectional": True})
    assert list(ours.state_dict()) == list(theirs.state_dict())  # weight_hr_l{k} last, as PyTorch
    for name, p in ours.named_parameters():
        assert p.shape == tuple(theirs.get_parameter(name).shape), name
    y, (h, c) = ours(minigrad.randn(5, 3, IN, dtype=minigrad.float64))
    assert (y.shape, h.shape, c.shape) == ((5, 3, 2 * 2), (4, 3, 2), (4, 3, H))


def test_lstm_proj_size_gradcheck():
    layer = nn.LSTM(2, 3, proj_size=2, num_layers=2, dtype=minigrad.float64)
    x = minigrad.tensor(np.random.default_rng(6).normal(size=(3, 1, 2)), requires_grad=True)
    assert minigrad.gradcheck(lambda t: layer(t)[0], (x,))
    # the projection itself: gradcheck perturbs the parameter the layer reads
    assert minigrad.gradcheck(lambda w: layer(x)[0], (layer.weight_hr_l0,))


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_gradcheck_through_time(mode):
    layer = getattr(nn, mode)(2, 2, num_layers=2, bidirectional=True, dtype=minigrad.float64)
    x = minigrad.tensor(np.random.default_rng(4).normal(size=(3, 1, 2)), requires_grad=True)
    assert minigrad.gradcheck(lambda t: layer(t)[0], (x,))


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_cuda_run_equals_cpu_run(mode, device):
    layer = getattr(nn, mode)(IN, H, num_layers=2, batch_first=True, dtype=minigrad.float64)
    x0 = np.random.default_rng(5).normal(size=(2, 4, IN))
    y_cpu = layer(minigrad.tensor(x0))[0].numpy()
    layer.to(device)
    x = minigrad.tensor(x0, device=device, requires_grad=True)
    y = layer(x)[0]
    y.sum().backward()
    assert x.grad.device == minigrad.backend.normalize_device(device)
    np.testing.assert_allclose(y.numpy(), y_cpu, rtol=1e-12, atol=1e-14)


def test_dropout_only_between_layers_and_only_in_training():
    layer = nn.GRU(IN, H, num_layers=2, dropout=0.5)
    x = minigrad.randn(5, 2, IN)
    layer.eval()
    np.testing.assert_array_equal(layer(x)[0].numpy(), layer(x)[0].numpy())
    layer.train()
    assert np.abs(layer(x)[0].numpy() - layer(x)[0].numpy()).max() > 1e-4
    single = nn.GRU(IN, H, dropout=0.5)  # one layer: nothing between layers, so no dropout
    np.testing.assert_array_equal(single(x)[0].numpy(), single(x)[0].numpy())


def test_bad_shapes_and_options_are_named():
    with pytest.raises(ValueError, match=r"LSTM: expected input \(L, N, 3\)"):
        nn.LSTM(IN, H)(minigrad.randn(5, 2, 4))
    with pytest.raises(ValueError, match=r"GRU: expected hidden state of shape \(2, 2, 4\)"):
        nn.GRU(IN, H, num_layers=2)(minigrad.randn(5, 2, IN), minigrad.randn(1, 2, H))
    with pytest.raises(ValueError, match="RNN: nonlinearity must be 'tanh' or 'relu'"):
        nn.RNN(IN, H, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="GRU: proj_size is only supported by LSTM"):
        nn.GRU(IN, H, proj_size=2)
    with pytest.raises(ValueError, match=r"LSTM: proj_size must be an integer in \[0, hidden_size\)"):
        nn.LSTM(IN, H, proj_size=H)
    with pytest.raises(ValueError, match=r"LSTM: expected hidden state of shape \(1, 2, 2\)"):
        nn.LSTM(IN, H, proj_size=2)(minigrad.randn(5, 2, IN), (minigrad.randn(1, 2, H),) * 2)
    assert repr(nn.LSTM(IN, H, num_layers=2, bidirectional=True)) == \
        "LSTM(3, 4, num_layers=2, bidirectional=True)"
