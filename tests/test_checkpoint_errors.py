"""minigrad.load on files that are not minigrad checkpoints, map_location errors, and the
temporary files that a killed minigrad.save leaves behind (the next save removes them)."""
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest

import minigrad
import minigrad.serialization as serialization


def checkpoint(tmp_path, name="good.npz"):
    minigrad.save({"w": minigrad.ones(100), "step": 3}, tmp_path / name)
    return tmp_path / name


def png_bytes():
    import io

    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def not_checkpoints(tmp_path):
    """{name: (path, what the message must say the file is)}."""
    good = checkpoint(tmp_path).read_bytes()
    files = {
        "random": (np.random.default_rng(0).bytes(1000), "unknown format"),
        "image.png": (png_bytes(), "PNG image"),
        "photo.jpg": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(100), "JPEG image"),
        "notes.txt": (b"epoch 1: loss 0.5\nepoch 2: loss 0.4\n", "text file"),
        "pickle.pkl": (pickle.dumps({"w": [1.0, 2.0]}), "pickle"),
        "empty": (b"", "empty"),
        "truncated.npz": (good[:len(good) // 2], "truncated or corrupt"),
        "cut_at_the_end.npz": (good[:-10], "truncated or corrupt"),
        "gzip.gz": (b"\x1f\x8b\x08\x00" + bytes(20), "gzip"),
    }
    paths = {}
    for name, (data, what) in files.items():
        (tmp_path / name).write_bytes(data)
        paths[name] = (tmp_path / name, what)
    np.save(tmp_path / "array.npy", np.ones(3))
    paths["array.npy"] = (tmp_path / "array.npy", r"\.npy file")
    np.savez(tmp_path / "plain.npz", x=np.ones(2), y=np.zeros(3))
    paths["plain.npz"] = (tmp_path / "plain.npz", r"NumPy \.npz archive \(arrays x, y\)")
    with zipfile.ZipFile(tmp_path / "model.pt", "w") as archive:  # torch.save's layout
        archive.writestr("model/data.pkl", pickle.dumps({}))
        archive.writestr("model/version", "3\n")
    paths["model.pt"] = (tmp_path / "model.pt", "PyTorch checkpoint")
    (tmp_path / "folder").mkdir()
    paths["folder"] = (tmp_path / "folder", "directory")
    return paths


def test_anything_but_a_checkpoint_raises_one_clear_error(tmp_path):
    assert issubclass(minigrad.CheckpointError, ValueError)
    for name, (path, what) in not_checkpoints(tmp_path).items():
        with pytest.raises(minigrad.CheckpointError) as info:
            minigrad.load(path)
        message = str(info.value)
        assert str(path) in message, name
        assert re.search(what, message), (name, message)
        assert "not a minigrad checkpoint" in message or "truncated or corrupt" in message, name
        assert "allow_pickle" not in message, name
        # the cause (BadZipFile, numpy's ValueError...) is not chained: one clean error
        error = info.value
        assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def test_a_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"minigrad.load: no such file.*missing\.npz"):
        minigrad.load(tmp_path / "missing.npz")


def rewrite_structure(path, edit):
    """Re-save `path` with its __structure__ JSON passed through `edit` (corrupting it)."""
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    structure = json.loads(bytes(arrays["__structure__"]).decode())
    text = edit(structure)
    text = text if isinstance(text, str) else json.dumps(text)
    arrays["__structure__"] = np.frombuffer(text.encode(), np.uint8)
    np.savez(path, **arrays)


@pytest.mark.parametrize("edit", [
    lambda s: "{not json",
    lambda s: "[1, 2]",
    lambda s: {**s, "format": "something.else"},
    lambda s: {k: v for k, v in s.items() if k != "root"},
    lambda s: {**s, "root": {"dict": [["w", {"tensor": "a7", "device": "cpu",
                                              "requires_grad": False}]]}},
    lambda s: {**s, "root": {"mystery": 1}},
    lambda s: {**s, "root": {"dict": [["w"]]}},
    lambda s: '{"format": "minigrad.save", "version": 1, "root": ' + "[" * 100000 + "]" * 100000 + "}",
], ids=["bad json", "not an object", "other format", "no root", "missing array",
        "unknown entry", "bad dict item", "absurdly deep"])
def test_a_damaged_structure_is_a_checkpoint_error(tmp_path, edit):
    path = checkpoint(tmp_path)
    rewrite_structure(path, edit)
    with pytest.raises(minigrad.CheckpointError, match=re.escape(str(path))):
        minigrad.load(path)


def test_object_arrays_inside_are_refused_without_mentioning_allow_pickle(tmp_path):
    path = checkpoint(tmp_path)
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["a0"] = np.array([{"code": 1}], dtype=object)
    np.savez(path, **arrays)
    with pytest.raises(minigrad.CheckpointError, match="Python objects") as info:
        minigrad.load(path)
    assert "allow_pickle" not in str(info.value)


def test_a_newer_format_version_says_upgrade(tmp_path):
    path = checkpoint(tmp_path)
    rewrite_structure(path, lambda s: {**s, "version": serialization.VERSION + 1})
    with pytest.raises(minigrad.CheckpointError, match="newer minigrad.*upgrade"):
        minigrad.load(path)


# ------------------------------------------------------------------ map_location
@pytest.fixture
def no_gpu(monkeypatch):
    """Behave as a machine without a GPU, whatever this one has."""
    monkeypatch.setattr(minigrad.backend, "cuda_is_available", lambda: False)
    monkeypatch.setattr(minigrad.backend, "cuda_device_count", lambda: 0)


@pytest.mark.parametrize("where", ["cuda", "cuda:1", "CUDA:0", 0])
def test_map_location_to_a_missing_gpu_names_it_and_the_fix(tmp_path, no_gpu, where):
    path = checkpoint(tmp_path)
    expected = "cuda:0" if where in ("cuda", "CUDA:0", 0) else "cuda:1"
    with pytest.raises(RuntimeError, match=rf"map_location={where!r}.*{expected}.*"
                                           r"not available.*map_location='cpu'"):
        minigrad.load(path, map_location=where)


def test_map_location_to_a_gpu_index_this_machine_lacks(tmp_path, monkeypatch):
    monkeypatch.setattr(minigrad.backend, "cuda_is_available", lambda: True)  # one GPU, as if
    monkeypatch.setattr(minigrad.backend, "cuda_device_count", lambda: 1)
    with pytest.raises(RuntimeError, match=r"map_location='cuda:1' asks for cuda:1.*has 1 GPU.*"
                                           r"map_location='cpu'"):
        minigrad.load(checkpoint(tmp_path), map_location="cuda:1")


def test_tensors_saved_on_a_gpu_need_map_location_cpu_here(tmp_path, no_gpu):
    path = checkpoint(tmp_path)

    def on_gpu(structure):  # as if saved on cuda:1
        structure["root"]["dict"][0][1]["device"] = "cuda:1"
        return structure
    rewrite_structure(path, on_gpu)
    with pytest.raises(RuntimeError, match=r"saved on cuda:1.*not available.*map_location='cpu'"):
        minigrad.load(path)
    w = minigrad.load(path, map_location="cpu")["w"]
    assert w.device == "cpu"
    np.testing.assert_array_equal(w.numpy(), np.ones(100, np.float32))


@pytest.mark.parametrize("where", ["gpu", "cuda:x", "mps", {"cuda:0": "gpu"}, "cpu:0"])
def test_an_unknown_map_location_is_a_value_error(tmp_path, where):
    path = checkpoint(tmp_path)
    with pytest.raises(ValueError, match=r"minigrad.load: unknown map_location .*expected None, "
                                         r"'cpu', 'cuda' or 'cuda:N'"):
        minigrad.load(path, map_location=where)


def test_a_dict_map_location_to_a_missing_gpu_is_refused_before_reading(tmp_path, no_gpu):
    with pytest.raises(RuntimeError, match=r"asks for cuda:0.*not available.*map_location='cpu'"):
        minigrad.load(checkpoint(tmp_path), map_location={"cpu": "cuda"})


def test_a_map_location_function_that_fails_is_named_not_called_a_corrupt_file(tmp_path):
    path = checkpoint(tmp_path)
    with pytest.raises(TypeError, match=r"map_location returned a str for a tensor saved on cpu"):
        minigrad.load(path, map_location=lambda array, saved: "cpu")
    with pytest.raises(TypeError, match=r"map_location raised ZeroDivisionError .*saved on cpu"):
        minigrad.load(path, map_location=lambda array, saved: 1 / 0)


def test_map_location_is_checked_before_the_file(tmp_path, no_gpu):
    """A wrong map_location is reported even when the file holds no tensor at all."""
    minigrad.save({"step": 3}, tmp_path / "plain")
    with pytest.raises(ValueError, match="unknown map_location 'gpu'"):
        minigrad.load(tmp_path / "plain", map_location="gpu")
    with pytest.raises(RuntimeError, match="map_location='cpu'"):
        minigrad.load(tmp_path / "plain", map_location="cuda")
    assert minigrad.load(tmp_path / "plain", map_location="cpu") == {"step": 3}


# ------------------------------------------------- temporary files of killed saves
KILLED_SAVE = textwrap.dedent("""
    import sys, time
    import numpy as np
    import minigrad

    def stall(file, **arrays):  # write part of the archive, then hang until killed
        file.write(b"PK\\x03\\x04" + bytes(1 << 20))
        file.flush()
        print("writing", flush=True)
        time.sleep(60)
    np.savez = stall
    minigrad.save({"version": 2, "w": minigrad.ones(3)}, sys.argv[1])
""")


def temporaries(folder):
    return sorted(name for name in os.listdir(folder) if name.endswith(".tmp"))


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_a_killed_save_keeps_the_old_file_and_the_next_save_cleans_up(tmp_path):
    path = tmp_path / "model.npz"
    minigrad.save({"version": 1, "w": minigrad.zeros(3)}, path)
    original = path.read_bytes()
    child = subprocess.Popen([sys.executable, "-c", KILLED_SAVE, str(path)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "writing\n"  # the temporary file is half written
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert path.read_bytes() == original  # the previous checkpoint is intact
    left = temporaries(tmp_path)
    assert len(left) == 1 and left[0].startswith(".model.npz.")
    assert os.path.getsize(tmp_path / left[0]) > 1 << 20
    assert str(child.pid) in left[0]  # the name says which process wrote it

    minigrad.save({"version": 3, "w": minigrad.ones(3)}, path)  # the next save of that target
    assert temporaries(tmp_path) == []
    assert minigrad.load(path)["version"] == 3


def dead_pid():
    """The id of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_only_stale_temporaries_of_the_same_target_are_removed(tmp_path):
    host = serialization._HOST
    live, dead = os.getpid(), dead_pid()
    hour_ago = time.time() - 3600
    files = {  # name: (should the next save of model.npz remove it?, age)
        f".model.npz.{host}.{dead}.{'a' * 32}.tmp": (os.name == "posix", None),  # killed here
        f".model.npz.{host}.{live}.{'b' * 32}.tmp": (False, None),  # a save in progress
        f".model.npz.other-host.{dead}.{'c' * 32}.tmp": (False, None),  # maybe alive elsewhere
        f".model.npz.other-host.{live}.{'d' * 32}.tmp": (True, hour_ago),  # untouched an hour
        f".other.npz.{host}.{dead}.{'e' * 32}.tmp": (False, hour_ago),  # another target's
        f".model.npz.{host}.{dead}.not-ours.tmp": (False, hour_ago),  # not minigrad's name
        "model.npz.tmp": (False, hour_ago),
    }
    for name, (_, age) in files.items():
        (tmp_path / name).write_bytes(b"partial")
        if age is not None:
            os.utime(tmp_path / name, (age, age))
    minigrad.save({"w": minigrad.ones(2)}, tmp_path / "model.npz")
    kept = set(os.listdir(tmp_path))
    for name, (removed, _) in files.items():
        assert (name not in kept) == removed, name
    assert "model.npz" in kept and len(kept) == 1 + sum(not r for r, _ in files.values())
