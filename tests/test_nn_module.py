"""nn.Module and the containers: registration, traversal, train/eval,
to(device/dtype) in place, zero_grad/apply/requires_grad_, state dicts and
their errors, repr, and the mistakes a learner makes."""
import numpy as np
import pytest

import minigrad
import minigrad.nn as nn
import minigrad.optim as optim


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4)
        self.scale = nn.Parameter(minigrad.ones(4))
        self.register_buffer("steps", minigrad.zeros(1))
        self.register_buffer("cache", minigrad.zeros(2), persistent=False)
        self.note = "not registered"

    def forward(self, x):
        return self.fc(x) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(4, 2))


def test_parameters_buffers_and_modules_are_registered_in_order():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "block.scale", "block.fc.weight", "block.fc.bias", "block.bn.weight", "block.bn.bias",
        "head.1.weight", "head.1.bias"]
    assert [n for n, _ in net.named_buffers()] == [
        "block.steps", "block.cache", "block.bn.running_mean", "block.bn.running_var",
        "block.bn.num_batches_tracked"]
    assert [n for n, _ in net.named_modules()] == ["", "block", "block.fc", "block.bn", "head",
                                                   "head.0", "head.1"]
    assert [n for n, _ in net.named_children()] == ["block", "head"]
    assert len(list(net.parameters(recurse=False))) == 0
    assert net.block.note == "not registered" and "note" not in net.block._parameters
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())


def test_state_dict_uses_pytorch_key_names_and_skips_non_persistent_buffers():
    net = Net()
    keys = list(net.state_dict())
    assert keys == ["block.scale", "block.steps", "block.fc.weight", "block.fc.bias",
                    "block.bn.weight", "block.bn.bias", "block.bn.running_mean",
                    "block.bn.running_var", "block.bn.num_batches_tracked", "head.1.weight",
                    "head.1.bias"]
    sd = net.state_dict()
    assert sd["block.fc.weight"].shape == (4, 3) and sd["block.bn.num_batches_tracked"].shape == ()
    assert not sd["head.1.bias"].requires_grad  # detached, but sharing memory:
    sd["head.1.bias"].data[0] = 42.0
    assert net.head[1].bias.numpy()[0] == 42.0
    assert net.state_dict(keep_vars=True)["head.1.bias"] is net.head[1].bias


def test_shared_parameters_are_listed_once():
    net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    net[1].weight = net[0].weight
    assert len(list(net.parameters())) == 3
    assert "1.weight" in net.state_dict()  # the state dict names it under both, as PyTorch


def test_load_state_dict_round_trip_in_place(device):
    a, b = Net(), Net().to(device)  # a cpu state loads into a cuda model, onto its device
    params_before = list(b.parameters())
    b.load_state_dict(a.state_dict())
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        np.testing.assert_array_equal(pa.numpy(), pb.numpy(), err_msg=name)
    assert all(p is q for p, q in zip(params_before, b.parameters()))  # same objects
    assert all(p.device == minigrad.backend.normalize_device(device) for p in b.parameters())
    # values may be NumPy arrays too, and are cast to the parameter's dtype
    b.load_state_dict({k: v.numpy().astype(np.float64) for k, v in a.state_dict().items()})
    assert b.block.fc.weight.dtype == np.float32


def test_load_state_dict_errors_name_the_keys_and_shapes():
    net, sd = Net(), Net().state_dict()
    sd.pop("head.1.bias")
    sd["head.2.weight"] = minigrad.zeros(1)
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "head.1.bias"'):
        net.load_state_dict(sd)
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\) in state_dict: "head.2.weight"'):
        net.load_state_dict(sd)
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["head.1.bias"] and result.unexpected_keys == ["head.2.weight"]
    bad = Net().state_dict()
    bad["block.fc.weight"] = minigrad.zeros(3, 4)
    before = net.block.fc.bias.numpy().copy()
    with pytest.raises(RuntimeError, match=r"size mismatch for block.fc.weight: copying a tensor "
                                           r"of shape \(3, 4\).*current model is \(4, 3\)"):
        net.load_state_dict(bad, strict=False)
    np.testing.assert_array_equal(net.block.fc.bias.numpy(), before)  # nothing was copied


def test_train_eval_flags_reach_every_submodule():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.block.train()
    assert net.block.bn.training and not net.training and not net.head.training
    with pytest.raises(ValueError, match="mode must be True or False"):
        net.train("yes")


def test_to_dtype_moves_in_place_and_keeps_the_optimizer_working(device):
    net = Net()
    opt = optim.SGD(net.parameters(), lr=0.1)
    weight = net.block.fc.weight
    x = minigrad.randn(5, 3)
    net.block(x).sum().backward()
    assert net.to(minigrad.float64) is net
    assert net.block.fc.weight is weight and weight.dtype == np.float64
    assert weight.grad.dtype == np.float64
    assert net.block.bn.running_mean.dtype == np.float64
    assert net.block.bn.num_batches_tracked.dtype == np.int64  # only floating tensors change
    net.to(device)
    assert weight.device == minigrad.backend.normalize_device(device)
    before = weight.numpy().copy()
    opt.step()
    np.testing.assert_allclose(weight.numpy(), before - 0.1 * weight.grad.numpy())
    net.float()
    assert all(p.dtype == np.float32 for p in net.parameters())


def test_zero_grad_apply_requires_grad(device):
    net = Net().to(device)
    net.block(minigrad.randn(2, 3, device=device)).sum().backward()
    net.zero_grad(set_to_none=False)
    assert (net.block.fc.weight.grad.numpy() == 0).all()
    net.zero_grad()
    assert net.block.fc.weight.grad is None
    visited = []
    assert net.apply(lambda m: visited.append(type(m).__name__)) is net
    assert visited == ["Linear", "BatchNorm1d", "Block", "ReLU", "Linear", "Sequential", "Net"]

    def zero_linear(m):
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.weight)
    net.apply(zero_linear)
    assert (net.head[1].weight.numpy() == 0).all()
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_repr_is_a_tree_like_pytorch():
    assert repr(Net()) == (
        "Net(\n"
        "  (block): Block(\n"
        "    (fc): Linear(in_features=3, out_features=4, bias=True)\n"
        "    (bn): BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
        "  )\n"
        "  (head): Sequential(\n"
        "    (0): ReLU()\n"
        "    (1): Linear(in_features=4, out_features=2, bias=True)\n"
        "  )\n"
        ")")
    assert repr(nn.Parameter([1.0])).startswith("Parameter containing:\ntensor(")


def test_parameter_dtype_and_sharing():
    assert nn.Parameter(np.zeros(3)).dtype == np.float32  # float32 by default
    assert nn.Parameter(np.zeros(3), dtype=np.float64).dtype == np.float64
    t = minigrad.zeros(2, dtype=np.float64)
    p = nn.Parameter(t)
    assert p.dtype == np.float64 and p.data is t.data and p.is_leaf
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients"):
        nn.Parameter(np.arange(3))


def test_assignment_rules_and_learner_mistakes():
    class Forgot(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match=r"call super\(\).__init__\(\) first in Forgot.__init__"):
        Forgot()
    with pytest.raises(NotImplementedError, match="Module has no forward"):
        nn.Module()(1)
    layer = nn.Linear(2, 2)
    with pytest.raises(TypeError, match=r"cannot assign a Tensor to the parameter 'weight'.*"
                                        r"nn.Parameter"):
        layer.weight = minigrad.zeros(2, 2)
    layer.bias = None
    assert "bias" not in layer.state_dict()
    with pytest.raises(TypeError, match="'0' is a function, not a Module"):
        nn.Sequential(minigrad.functional.relu)
    with pytest.raises(KeyError, match="attribute 'in_features' already exists"):
        layer.register_buffer("in_features", minigrad.zeros(1))
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'wieght'"):
        _ = layer.wieght
    del layer.weight
    assert "weight" not in dict(layer.named_parameters())


def test_sequential_indexing_slicing_and_editing():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3 and list(seq) == layers and seq[-1] is layers[2]
    x = minigrad.randn(4, 2)
    np.testing.assert_allclose(seq(x).numpy(), layers[2](layers[1](layers[0](x))).numpy())
    head = seq[1:]
    assert isinstance(head, nn.Sequential) and list(head.state_dict()) == ["2.weight", "2.bias"]
    seq.append(nn.Sigmoid())
    assert len(seq) == 4 and isinstance(seq[3], nn.Sigmoid)
    del seq[1]
    assert [n for n, _ in seq.named_children()] == ["0", "1", "2"]
    with pytest.raises(IndexError, match="index 5 is out of range for 3 modules"):
        seq[5]
    named = nn.Sequential({"conv": nn.Identity(), "act": nn.ReLU()})
    assert [n for n, _ in named.named_children()] == ["conv", "act"]


def test_module_list_and_module_dict_register_their_modules():
    blocks = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    blocks.append(nn.Linear(2, 1))
    blocks += [nn.ReLU()]
    assert len(blocks) == 5 and len(list(blocks.parameters())) == 8
    assert list(blocks.state_dict())[:2] == ["0.weight", "0.bias"]
    assert isinstance(blocks[1:3], nn.ModuleList) and len(blocks[1:3]) == 2
    blocks.insert(0, nn.Tanh())
    assert isinstance(blocks[0], nn.Tanh) and "5" in dict(blocks.named_children())
    heads = nn.ModuleDict({"a": nn.Linear(2, 2), "b": nn.Linear(2, 3)})
    heads["c"] = nn.Identity()
    assert list(heads) == ["a", "b", "c"] and "b" in heads and len(heads) == 3
    assert list(heads.state_dict()) == ["a.weight", "a.bias", "b.weight", "b.bias"]
    assert heads.pop("a") is not None and list(heads.keys()) == ["b", "c"]
