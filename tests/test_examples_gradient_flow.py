"""The gradient-flow lesson (examples/gradient_flow.py) shows the physics it claims.

One --smoke run (depth 12, as the real run: the effects depend on depth, not on the
number of steps) feeds every test. The margins come from theory, checked against the
smoke run's figures (quoted in each test): the per-layer gain of a stack is
sqrt(fan_out Var(w)) * rms(f'), so its gradients vanish or explode geometrically; the
measured figures sit far inside each bound. All of them come from float32 products of
a few hundred terms, which change by ~1e-6 relative with the BLAS kernel or thread
count: nothing here is near a margin."""
import math
import os

import gradient_flow
import numpy as np
import pytest

import minigrad

PLOTS = ["activations_init.png", "activations_trained.png", "grad_norms.png", "loss.png"]


def assert_png(path):
    assert os.path.isfile(path) and os.path.getsize(path) > 1000, path
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def flow():
    return gradient_flow.main(["--smoke", "--no-plots"])  # the plots: the last tests


def at_init(flow, name):
    return flow["results"][name]["init"]


def per_layer_gain(grad_norms):
    """The geometric mean of ||dL/dW_l|| / ||dL/dW_(l+1)|| over the hidden layers 2..D
    (the first layer has another fan-in, the head another role): the factor by which
    backprop scales the gradient per layer, going toward the input."""
    hidden = grad_norms[1:-1]
    return (hidden[0] / hidden[-1]) ** (1 / (len(hidden) - 1))


def test_help_exits_cleanly(capsys):
    with pytest.raises(SystemExit) as exit_info:
        gradient_flow.main(["--help"])
    assert exit_info.value.code == 0
    assert "--smoke" in capsys.readouterr().out


def test_every_configuration_ran_at_the_asked_depth(flow):
    depth = flow["args"].depth
    assert set(flow["results"]) == set(gradient_flow.CONFIGS)
    for name, r in flow["results"].items():
        assert len(r["init"]["grad_norms"]) == depth + 1, name  # the blocks and the head
        assert len(r["init"]["activations"]) == depth, name
        assert np.all(np.isfinite(r["init"]["grad_norms"])) and np.all(r["init"]["grad_norms"] > 0)


def test_sigmoid_gradients_shrink_about_4x_per_layer(flow):
    """sigmoid' <= 1/4, and Xavier makes sqrt(fan_out Var(w)) = 1: the gain is at most
    ~1/4 (measured 0.24), so over 12 layers the first layer's gradient is ~1e-8 of
    the head's (measured 2.8e-8); bounds: gain in [0.15, 0.3], ratio < 1e-5."""
    norms = at_init(flow, "sigmoid-xavier")["grad_norms"]
    assert 0.15 < per_layer_gain(norms) < 0.3
    assert gradient_flow.ratio(norms) < 1e-5


def test_tanh_xavier_and_relu_he_keep_every_layer_within_10x(flow):
    """tanh'(0) = 1 with Xavier, and ReLU's half-zeroing with He's 2/fan_in, give a gain
    of ~1 (measured 1.02 and 0.91; max/min over the layers 2.7 and 2.5)."""
    for name in ("tanh-xavier", "relu-he", "cnn-he"):  # cnn-he: measured max/min 6.3
        norms = at_init(flow, name)["grad_norms"]
        assert 0.7 < per_layer_gain(norms) < 1.4, name
        assert gradient_flow.spread(norms) < 10, name


def test_naive_init_saturates_sigmoid_and_explodes_relu(flow):
    """w ~ N(0, 1) on 64 inputs: sigmoid's pre-activations have std ~5, so most outputs
    sit within 0.05 of 0 or 1 (measured 56%; Xavier: 0%); ReLU's signal grows by
    sqrt(64/2) ~ 5.7 per layer, 5.7^11 ~ 2e8 over the stack (measured 1.6e8), every
    layer's gradient is ~1e8 times He's (measured >= 1.3e8), and the first SGD step
    diverges."""
    def saturated(name):
        values = np.concatenate(at_init(flow, name)["activations"][1:])
        return np.mean((values < 0.05) | (values > 0.95))
    assert saturated("sigmoid-naive") > 0.4
    assert saturated("sigmoid-xavier") < 0.05

    acts = at_init(flow, "relu-naive")["activations"]
    assert acts[-1].std() / acts[0].std() > 1e6
    he = at_init(flow, "relu-he")["grad_norms"]
    assert at_init(flow, "relu-naive")["grad_norms"].min() > 1e6 * he.max()
    relu_naive = flow["results"]["relu-naive"]
    assert relu_naive["diverged_at"] is not None and relu_naive["diverged_at"] <= 2
    assert relu_naive["final"] is None and not math.isfinite(relu_naive["losses"][-1])


def test_batch_norm_makes_the_weights_scale_irrelevant(flow):
    """BN(c W h) = BN(W h): N(0, 1) weights give the same forward pass as He's (the same
    random draws, scaled), and dL/dW scales as 1/c: the gradients are He's divided by
    1/sqrt(2/fan_in) (sqrt(72) for the first layer's 144 inputs, sqrt(32) after), up to
    BN's eps (1e-5 against He's variances ~1: a ~1e-5 relative change per layer, which
    moves a value near ReLU's kink by up to ~1e-4 after 12 layers: atol 1e-3 on values ~1)."""
    naive, he = at_init(flow, "relu-naive-bn"), at_init(flow, "relu-he-bn")
    for a, b in zip(naive["activations"], he["activations"]):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)
    expected = np.array([math.sqrt(144 / 2)] + [math.sqrt(64 / 2)] * 11 + [1.0])  # the head: the same
    np.testing.assert_allclose(he["grad_norms"] / naive["grad_norms"], expected, rtol=1e-3)


def test_batch_norm_keeps_activations_standard_and_gradients_within_a_small_growth(flow):
    """After BN + ReLU each unit is ReLU(z) with z standardized over the batch: the std
    of ReLU(N(0, 1)) is sqrt(1/2 - 1/(2 pi)) = 0.58 (measured 0.57-0.61 at every layer).
    The gradient still grows toward the input by ~sqrt(pi / (pi - 1)) = 1.21 per layer
    (a known property of BN at init; measured 1.24 for the MLP, 1.12 for the CNN): far
    from the 1/4 of sigmoid or the 0.41 of the CNN's default init (measured 0.38)."""
    for name in ("relu-he-bn", "cnn-default-bn"):
        for a in at_init(flow, name)["activations"]:
            assert 0.45 < a.std() < 0.75, name
        assert 0.8 < per_layer_gain(at_init(flow, name)["grad_norms"]) < 1.5, name
    cnn = at_init(flow, "cnn-default")["grad_norms"]
    assert 0.25 < per_layer_gain(cnn) < 0.55  # U(+-1/sqrt(fan_in)) and ReLU: 1/sqrt(6) = 0.41
    with_bn = at_init(flow, "cnn-default-bn")["grad_norms"]
    assert gradient_flow.spread(cnn) > 1e3 * gradient_flow.spread(with_bn)


def test_residual_connections_carry_the_gradient_past_the_sigmoid(flow):
    """h + W sigmoid(h) / sqrt(D): the identity in the Jacobian keeps the gain ~1
    (measured 1.00 against 0.24 without; first/last 0.18 against 2.8e-8)."""
    plain, residual = at_init(flow, "sigmoid-xavier"), at_init(flow, "sigmoid-xavier-residual")
    assert 0.7 < per_layer_gain(residual["grad_norms"]) < 1.4
    assert gradient_flow.spread(residual["grad_norms"]) < 1e-4 * gradient_flow.spread(plain["grad_norms"])
    relu = at_init(flow, "relu-he-residual")["grad_norms"]  # measured max/min 3.8
    assert gradient_flow.spread(relu) < 10


def test_grad_norms_are_the_norms_of_each_layers_weight_gradient():
    """The snapshot's norms, and the activations the forward hooks record, against ones
    computed here, by hand, on a 3-block MLP."""
    minigrad.manual_seed(0)
    model = gradient_flow.DeepNet("mlp", "tanh", "xavier", False, False, depth=3, width=8, size=4)
    x = minigrad.tensor(np.random.default_rng(0).normal(size=(5, 1, 4, 4)).astype(np.float32))
    activations, hooks = gradient_flow.record_outputs(model)
    gradient_flow.F.cross_entropy(model(x), minigrad.tensor(np.array([0, 1, 2, 3, 0]))).backward()
    for hook in hooks:
        hook.remove()
    model(x)  # not recorded any more
    assert len(activations) == 3
    got = gradient_flow.snapshot(model, activations)["grad_norms"]
    layers = [block[0] for block in model.blocks] + [model.head]
    expected = [np.sqrt(np.sum(layer.weight.grad.numpy().astype(np.float64) ** 2)) for layer in layers]
    np.testing.assert_allclose(got, expected, rtol=1e-5)  # float32 vs float64 sums of <= 128 squares
    h = np.tanh(x.numpy().reshape(5, 16) @ layers[0].weight.numpy().T + layers[0].bias.numpy())
    got = activations[0]
    np.testing.assert_allclose(got, h.ravel(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", ["relu-he-bn", "sigmoid-xavier-residual", "cnn-default-bn"])
def test_grad_norms_match_torch(name):
    """The same networks built in PyTorch from our weights give the same per-layer
    gradient norms (float64 on both sides: the sums differ by rounding only)."""
    torch = pytest.importorskip("torch")
    kind, activation, init, batch_norm, residual = gradient_flow.CONFIGS[name]
    depth, width = 4, 8
    minigrad.manual_seed(0)
    model = gradient_flow.DeepNet(kind, activation, init, batch_norm, residual, depth, width, size=8)
    model.to(minigrad.float64)
    images, labels = gradient_flow.stripes(16, size=8)
    loss = gradient_flow.F.cross_entropy(model(minigrad.tensor(images.astype(np.float64))),
                                         minigrad.tensor(labels))
    loss.backward()
    ours = gradient_flow.snapshot(model, [])["grad_norms"]

    tnn = torch.nn
    act = {"sigmoid": tnn.Sigmoid, "relu": tnn.ReLU}[activation]
    blocks = []
    for i in range(depth):
        weight = (tnn.Linear(64 if i == 0 else width, width, bias=not batch_norm) if kind == "mlp"
                  else tnn.Conv2d(1 if i == 0 else width, width, 3, padding=1, bias=not batch_norm))
        norm = [(tnn.BatchNorm1d if kind == "mlp" else tnn.BatchNorm2d)(width)] if batch_norm else []
        pre_activation = residual and i > 0
        blocks.append(tnn.Sequential(*norm, act(), weight) if pre_activation
                      else tnn.Sequential(weight, *norm, act()))
    torch_model = tnn.Module()
    torch_model.blocks, torch_model.head = tnn.ModuleList(blocks), tnn.Linear(model.head.in_features, 4)
    torch_model.double().load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    x = torch.tensor(images.astype(np.float64))
    h = x.reshape(16, -1) if kind == "mlp" else x
    for i, block in enumerate(torch_model.blocks):
        h = h + block(h) / depth ** 0.5 if residual and i > 0 else block(h)
    if kind == "cnn":
        h = torch.nn.functional.avg_pool2d(h, 4).reshape(16, -1)
    torch.nn.functional.cross_entropy(torch_model.head(h), torch.tensor(labels)).backward()
    layers = [b[-1 if residual and i > 0 else 0] for i, b in enumerate(torch_model.blocks)]
    theirs = [float(layer.weight.grad.norm()) for layer in layers + [torch_model.head]]
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)


def test_smoke_writes_to_its_own_folder_and_says_synthetic_and_diverged(tmp_path, monkeypatch, capsys):
    from matplotlib.figure import Figure
    titles, savefig = [], Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda figure, *a, **k: (
        titles.append(figure._suptitle.get_text()), savefig(figure, *a, **k)))
    monkeypatch.chdir(tmp_path)
    plots = gradient_flow.main(["--smoke", "--only", "relu-naive,relu-he"])["plots"]
    lines = capsys.readouterr().out.splitlines()
    assert "SYNTHETIC" in lines[0] and "--smoke" in lines[0]
    assert len(titles) == 4 and all("SYNTHETIC" in t and "--smoke" in t for t in titles), titles
    row = next(line for line in lines if line.startswith("relu-naive "))
    assert "diverged at step" in row
    assert sorted(os.listdir(os.path.join("runs", "gradient_flow-smoke"))) == PLOTS
    for path in plots:
        assert_png(path)
    assert not os.path.exists(os.path.join("runs", "gradient_flow"))


def test_an_unknown_configuration_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        gradient_flow.main(["--smoke", "--only", "relu-he,gelu"])
    assert exit_info.value.code == 2
    assert "gelu" in capsys.readouterr().err
