"""minigrad.save / minigrad.load: round trips of model and optimizer state
dicts, every supported value type, atomic writes, clear errors, and a
PyTorch-shaped state dict loading into the same architecture."""
import json
import math
import os
import zipfile

import numpy as np
import pytest

import minigrad
import minigrad.nn as nn
import minigrad.optim as optim


def make_model():
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8, 3))


def train_steps(model, opt, steps, seed, device="cpu"):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x = minigrad.tensor(rng.normal(size=(4, 1, 4, 4)).astype(np.float32), device=device)
        y = minigrad.tensor(rng.integers(0, 3, 4), device=device)
        opt.zero_grad()
        nn.CrossEntropyLoss()(model(x), y).backward()
        opt.step()


def test_model_state_dict_round_trip(tmp_path, device):
    model = make_model().to(device)
    train_steps(model, optim.SGD(model.parameters(), lr=0.1), 1, 0, device)
    path = tmp_path / "model.mg"
    minigrad.save(model.state_dict(), path)
    assert os.listdir(tmp_path) == ["model.mg"]  # no temporary file left behind
    loaded = minigrad.load(path)
    assert list(loaded) == list(model.state_dict())
    for key, value in model.state_dict().items():
        assert isinstance(loaded[key], minigrad.Tensor)
        assert loaded[key].dtype == value.dtype and loaded[key].device == value.device
        np.testing.assert_array_equal(loaded[key].numpy(), value.numpy())
    fresh = make_model()
    fresh.load_state_dict(minigrad.load(path, map_location="cpu"))
    x = minigrad.randn(2, 1, 4, 4)
    model.eval(), fresh.eval()
    np.testing.assert_array_equal(fresh(x).numpy(), model.to("cpu")(x).numpy())


def test_optimizer_state_round_trip_resumes_the_same_trajectory(tmp_path, device):
    minigrad.manual_seed(0)
    model = make_model().to(device)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    train_steps(model, opt, 2, 1, device)
    minigrad.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 2},
                  tmp_path / "checkpoint")
    train_steps(model, opt, 2, 2, device)  # the uninterrupted run

    checkpoint = minigrad.load(tmp_path / "checkpoint")
    assert checkpoint["epoch"] == 2
    state = checkpoint["optimizer"]["state"]
    assert sorted(state) == list(range(6))
    # (an optimizer's state dict holds host copies; loading moves them to the parameters)
    assert isinstance(state[0]["momentum_buffer"], np.ndarray)
    resumed = make_model().to(device)
    resumed.load_state_dict(checkpoint["model"])
    resumed_opt = optim.SGD(resumed.parameters(), lr=0.5)
    resumed_opt.load_state_dict(checkpoint["optimizer"])
    assert resumed_opt.param_groups[0]["lr"] == 0.05 and resumed_opt.param_groups[0]["nesterov"]
    train_steps(resumed, resumed_opt, 2, 2, device)
    for (name, a), b in zip(model.state_dict().items(), resumed.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)  # bit for bit


def saved_on_both(tmp_path, device):
    """A checkpoint holding a tensor from the CPU and one (and a raw array) from `device`."""
    path = tmp_path / "both"
    minigrad.save({"host": minigrad.arange(3.0), "dev": minigrad.arange(4.0, device=device),
                   "raw": minigrad.arange(2.0, device=device).data}, path)
    return path


def placed(loaded):
    return {key: value.device if isinstance(value, minigrad.Tensor)
            else minigrad.backend.device_of_array(value) for key, value in loaded.items()}


def test_map_location_by_device_dict_and_function(tmp_path, device):
    """As in torch.load: None puts each tensor back where it was saved, a device
    puts all of them there, a dict moves the devices it names, and a function
    (array, saved device) -> array decides each one (None: the default)."""
    path = saved_on_both(tmp_path, device)
    here = minigrad.tensor(0.0, device=device).device  # ('cuda' -> 'cuda:0')
    assert placed(minigrad.load(path)) == {"host": "cpu", "dev": here, "raw": here}
    assert placed(minigrad.load(path, map_location=device)) == {"host": here, "dev": here,
                                                                "raw": here}
    assert placed(minigrad.load(path, map_location="cpu")) == {"host": "cpu", "dev": "cpu",
                                                               "raw": "cpu"}
    swap = {"cpu": device, here: "cpu"}  # (a key may be written 'cuda' or 'cuda:0')
    expected = {"host": here, "dev": "cpu", "raw": "cpu"}
    assert placed(minigrad.load(path, map_location=swap)) == expected
    seen = []
    loaded = minigrad.load(path, map_location=lambda array, saved: seen.append(saved))
    assert placed(loaded) == {"host": "cpu", "dev": here, "raw": here} and len(seen) == 3
    to_host = minigrad.load(path, map_location=lambda array, saved: array)  # torch's idiom
    assert placed(to_host) == {"host": "cpu", "dev": "cpu", "raw": "cpu"}
    for result in (loaded, to_host, minigrad.load(path, map_location=swap)):
        np.testing.assert_array_equal(result["dev"].numpy(), [0.0, 1.0, 2.0, 3.0])
        np.testing.assert_array_equal(minigrad.backend.to_numpy(result["raw"]), [0.0, 1.0])


def test_every_supported_value_type_round_trips(tmp_path):
    obj = {
        "tensors": [minigrad.tensor([1.5, 2.5], dtype=np.float64, requires_grad=True),
                    minigrad.tensor(np.arange(6).reshape(2, 3)), minigrad.tensor([True, False])],
        "arrays": (np.float16([1, 2]), np.zeros((0, 3), np.int32)),
        "scalars": [np.float32(0.1), np.int64(7), np.bool_(True)],
        "python": {"int": 3, "float": 0.1, "nan": math.nan, "inf": -math.inf, "str": "héllo",
                   "none": None, "bool": False, "empty": [], "nested": {"a": ((1, 2), [3])}},
        0: "int key", 7: {"deep": [{"deeper": np.ones(2)}]},
    }
    minigrad.save(obj, tmp_path / "all.npz")
    back = minigrad.load(tmp_path / "all.npz")
    a, b, c = back["tensors"]
    assert a.dtype == np.float64 and a.requires_grad and a.is_leaf
    assert b.dtype == np.int64 and b.shape == (2, 3) and c.dtype == np.bool_
    assert isinstance(back["arrays"], tuple) and back["arrays"][0].dtype == np.float16
    assert back["arrays"][1].shape == (0, 3) and back["arrays"][1].dtype == np.int32
    s = back["scalars"]
    assert type(s[0]) is np.float32 and s[0] == np.float32(0.1) and type(s[1]) is np.int64
    assert type(s[2]) is np.bool_
    p = back["python"]
    assert p["int"] == 3 and type(p["int"]) is int and p["float"] == 0.1 and math.isnan(p["nan"])
    assert p["inf"] == -math.inf and p["str"] == "héllo" and p["none"] is None
    assert p["bool"] is False and p["empty"] == [] and p["nested"] == {"a": ((1, 2), [3])}
    assert back[0] == "int key" and list(back) == list(obj)
    np.testing.assert_array_equal(back[7]["deep"][0]["deeper"], np.ones(2))


def test_no_pickle_inside_the_file(tmp_path):
    minigrad.save({"w": minigrad.ones(2), "step": 3}, tmp_path / "f")
    with zipfile.ZipFile(tmp_path / "f") as archive:
        names = archive.namelist()
        structure = json.loads(bytes(np.load(tmp_path / "f")["__structure__"]).decode())
    assert sorted(names) == ["__structure__.npy", "a0.npy"]
    assert structure["format"] == "minigrad.save" and structure["version"] == 1
    with pytest.raises(TypeError, match=r"obj\['x'\] is an array of Python objects"):
        minigrad.save({"x": np.array([{}], dtype=object)}, tmp_path / "g")


def test_a_failure_mid_write_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    minigrad.save({"version": 1, "w": minigrad.zeros(3)}, path)
    original = path.read_bytes()

    def crash(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")  # some bytes reach the temporary file
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        minigrad.save({"version": 2, "w": minigrad.ones(3)}, path)
    assert path.read_bytes() == original
    assert os.listdir(tmp_path) == ["model.npz"]  # the temporary file was removed
    monkeypatch.undo()
    assert minigrad.load(path)["version"] == 1


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="minigrad.load: no such file"):
        minigrad.load(tmp_path / "missing.npz")
    minigrad.save({"w": minigrad.ones(100)}, tmp_path / "good")
    data = (tmp_path / "good").read_bytes()
    (tmp_path / "truncated").write_bytes(data[:len(data) // 2])
    (tmp_path / "garbage").write_bytes(b"definitely not a checkpoint")
    np.savez(tmp_path / "plain.npz", x=np.ones(2))
    for name, says in [("truncated", "is truncated or corrupt"),
                       ("garbage", "is not a minigrad checkpoint.*a text file"),
                       ("plain.npz", "is not a minigrad checkpoint.*NumPy .npz archive")]:
        with pytest.raises(minigrad.CheckpointError, match=f"{name}.*{says}"):  # a ValueError
            minigrad.load(tmp_path / name)  # (tests/test_checkpoint_errors.py has every kind)
    with pytest.raises(TypeError, match=r"cannot save obj\['model'\] of type Sequential.*"
                                        r"state_dict\(\)"):
        minigrad.save({"model": make_model()}, tmp_path / "x")
    with pytest.raises(TypeError, match="dict keys must be str or int, got tuple"):
        minigrad.save({(1, 2): 3}, tmp_path / "x")
    with pytest.raises(FileNotFoundError, match="the directory .* does not exist"):
        minigrad.save({}, tmp_path / "no" / "such" / "dir.npz")


def test_pytorch_state_dict_loads(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2),
                                 torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8, 3))
    theirs.train()
    theirs(torch.randn(4, 1, 4, 4))  # non-trivial running statistics
    theirs.eval()
    # A PyTorch state dict as plain arrays (what torch.save + numpy() gives), saved with minigrad.
    minigrad.save({k: v.numpy() for k, v in theirs.state_dict().items()}, tmp_path / "torch.npz")
    ours = make_model()
    ours.load_state_dict(minigrad.load(tmp_path / "torch.npz"))
    assert ours[1].num_batches_tracked.item() == 1
    x = np.random.default_rng(0).normal(size=(2, 1, 4, 4)).astype(np.float32)
    with torch.no_grad():
        expected = theirs(torch.tensor(x)).numpy()
    # float32 through a 9-term conv, batch norm (running variance near 1: no amplification) and an
    # 8-term linear, outputs of size ~1: a few float32 ulps of round-off whatever the summation
    # order (measured at most 1.2e-7 over 20 seeds); 1e-5 holds for any kernel and thread count.
    np.testing.assert_allclose(ours.eval()(minigrad.tensor(x)).numpy(), expected, rtol=1e-5,
                               atol=1e-5)
    ours.load_state_dict(make_model().state_dict())  # other weights...
    ours.load_state_dict(theirs.state_dict())  # ...then torch tensors directly work too
    np.testing.assert_array_equal(ours[4].weight.numpy(), theirs[4].weight.detach().numpy())
    assert ours[1].num_batches_tracked.item() == 1


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_saved_file_gets_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        minigrad.save({"w": minigrad.ones(2)}, tmp_path / "f")
    finally:
        os.umask(umask)
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o644  # as open() would make it
