"""The first lessons run, in their quick mode, and show what they claim."""
import importlib.util
import os

import numpy as np
import pytest

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")


def load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_png(path):
    assert os.path.getsize(path) > 1000
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", ["gradient_descent", "linear_regression", "higher_order"])
def test_help_exits_cleanly(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load(name).main(["--help"])
    assert exit_info.value.code == 0
    assert "usage" in capsys.readouterr().out


def test_gradient_descent_converges_to_the_sample_mean(tmp_path):
    result = load("gradient_descent").main(["--out", str(tmp_path)])
    full_batch = result["runs"]["full-batch GD"]
    # GD with lr 0.1 on a quadratic with curvature 2 contracts the error by 0.8
    # per step: 3 * 0.8^50 = 4e-5 after 50 steps (theta is float32: allow 1e-4)
    assert abs(full_batch["theta"] - result["theta_star"]) < 1e-4
    assert abs(result["runs"]["Adam"]["theta"] - result["theta_star"]) < 0.2
    sgd = next(v for k, v in result["runs"].items() if k.startswith("SGD"))
    assert abs(sgd["theta"] - result["theta_star"]) < 0.5  # near, but jittering
    assert sgd["loss"] > full_batch["loss"]  # mini-batch noise costs accuracy at fixed lr
    assert_png(result["plots"][0])


def test_linear_regression_recovers_the_weights(tmp_path):
    result = load("linear_regression").main(["--smoke", "--out", str(tmp_path)])
    assert result["losses"][-1] < 0.1 * result["losses"][0]
    np.testing.assert_allclose(result["w_learned"], result["w_true"], atol=0.15)
    assert_png(result["plots"][0])


def test_higher_order_derivatives_and_newton(tmp_path):
    result = load("higher_order").main(["--smoke", "--out", str(tmp_path)])
    assert max(result["derivative_errors"]) < 1e-12
    newton, gd = result["newton_losses"], result["gd_losses"]
    # Damped Newton never goes up, up to float64 round-off: once converged, successive
    # losses differ in the 17th digit, where BLAS kernels (AVX2 vs AVX-512) disagree.
    assert all(b <= a + 1e-12 * abs(a) for a, b in zip(newton, newton[1:]))
    assert newton[-1] < newton[0] - 0.1  # and it does go down: 0.50 -> 0.24
    assert newton[-1] < gd[-1]
    assert_png(result["plots"][0])
