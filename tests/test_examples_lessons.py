"""The optimizer and schedule lessons: optimizer_zoo, lr_schedules, hparam_search.

Each runs end to end in its --smoke form; the tests check the numbers
against things computed independently here: textbook formulas of the test
functions, finite facts about their minima and saddle, the Gauss-Newton
diagonal that SophiaG's probe should estimate, closed forms of the
schedules (and torch.optim.lr_scheduler when torch is installed), and a
re-implementation of ReduceLROnPlateau's rule."""
import math
import os

import hparam_search
import lr_schedules
import numpy as np
import optimizer_zoo
import pytest

import minigrad
import minigrad.optim as optim

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FASHION = "/usr/share/datasets/fashion-mnist"


def assert_png(path):
    assert os.path.isfile(path) and os.path.getsize(path) > 1000, path
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("module", [optimizer_zoo, lr_schedules, hparam_search])
def test_help_exits_cleanly(module, capsys):
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--help"])
    assert exit_info.value.code == 0
    assert "--smoke" in capsys.readouterr().out


# ------------------------------------------------------------ optimizer_zoo
@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    out = tmp_path_factory.mktemp("zoo")
    return optimizer_zoo.main(["--smoke", "--out", str(out)])


def test_zoo_problems_are_the_textbook_functions():
    x, y = np.random.default_rng(0).uniform(-2, 2, size=(2, 50))
    textbook = {
        "rosenbrock": (1 - x) ** 2 + 100 * (y - x ** 2) ** 2,
        "beale": (1.5 - x + x * y) ** 2 + (2.25 - x + x * y ** 2) ** 2
                 + (2.625 - x + x * y ** 3) ** 2,
        "saddle": x ** 2 - y ** 2 + y ** 4 / 2,
        "quadratic": (x ** 2 + 100 * y ** 2) / 2,
    }
    for name, expected in textbook.items():
        np.testing.assert_allclose(optimizer_zoo.PROBLEMS[name].value(x, y), expected,
                                   rtol=1e-12, atol=1e-12, err_msg=name)
    assert [optimizer_zoo.PROBLEMS[n].f_star for n in textbook] == [0.0, 0.0, -0.5, 0.0]


def gradient_and_hessian(problem, point):
    p = minigrad.tensor(np.array(point, dtype=np.float64), requires_grad=True)
    (g,) = minigrad.grad(problem.loss(p), p, create_graph=True)
    rows = [minigrad.grad(g[i], p, retain_graph=True)[0].numpy() for i in range(2)]
    return g.numpy(), np.array(rows)


def test_zoo_minima_are_stationary_and_the_saddle_is_x2_minus_y2():
    for problem in optimizer_zoo.PROBLEMS.values():
        for minimum in problem.minima:
            g, _ = gradient_and_hessian(problem, minimum)
            np.testing.assert_allclose(g, 0.0, atol=1e-12, err_msg=problem.name)
    g, h = gradient_and_hessian(optimizer_zoo.PROBLEMS["saddle"], (0.0, 0.0))
    np.testing.assert_allclose(g, 0.0, atol=1e-12)
    np.testing.assert_allclose(h, [[2.0, 0.0], [0.0, -2.0]], atol=1e-12)  # a saddle


def test_zoo_gauss_newton_probe_estimates_the_gauss_newton_diagonal():
    """E[g^2] over the sampled targets = 2 diag(J^T J); for Rosenbrock
    r = (1 - x, 10 (y - x^2)): J = [[-1, 0], [-20 x, 10]]."""
    problem = optimizer_zoo.PROBLEMS["rosenbrock"]
    x, y = -1.2, 1.0
    expected = 2.0 * np.array([1.0 + 400.0 * x * x, 100.0])
    minigrad.manual_seed(0)
    p = minigrad.tensor(np.array([x, y]), requires_grad=True)
    squares = np.zeros(2)
    draws = 1000  # relative standard error of the mean of g^2: sqrt(2 / 1000) = 4.5%
    for _ in range(draws):
        p.grad = None
        problem.gauss_newton_probe(p).backward()
        squares += p.grad.numpy() ** 2 / draws
    np.testing.assert_allclose(squares, expected, rtol=0.2)


def test_zoo_knows_every_rule_of_optim():
    """Every Optimizer subclass optim exports has a family and a learning rate,
    so a new rule added to optim fails here until the zoo's tables list it."""
    rules = optimizer_zoo.rule_names()
    assert {"SGD", "Adam", "LBFGS", "SAM", "ASAM", "AdaHessian", "SophiaH", "SophiaG",
            "Lookahead", "Ranger", "Muon", "ScheduleFreeSGD"} <= set(rules)
    assert set(rules) == set(optimizer_zoo.FAMILY_OF)
    for rule in rules:
        assert rule in optimizer_zoo.FIXED_LR or rule in optimizer_zoo.LEARNING_RATES, rule
        if rule in optimizer_zoo.LEARNING_RATES:
            assert len(optimizer_zoo.LEARNING_RATES[rule]) == len(optimizer_zoo.PROBLEMS)


def test_zoo_adam_descends_rosenbrock(zoo):
    adam = zoo["results"]["Adam"]["rosenbrock"]
    assert not adam["diverged"]
    assert adam["excess"][-1] < 0.5 * adam["start_excess"]


def test_zoo_adaptive_rules_beat_sgd_on_the_ill_conditioned_quadratic(zoo):
    sgd = zoo["results"]["SGD"]["quadratic"]["final_excess"]
    for rule in ("Adam", "Adagrad", "RMSprop"):
        assert zoo["results"][rule]["quadratic"]["final_excess"] < 0.1 * sgd, rule


def test_zoo_lbfgs_solves_the_quadratic_in_a_few_iterations(zoo):
    lbfgs = zoo["results"]["LBFGS"]["quadratic"]
    assert lbfgs["steps_to_tol"] is not None and lbfgs["steps_to_tol"] <= 10
    assert lbfgs["final_excess"] < 1e-8


def test_zoo_closure_and_hessian_rules_do_extra_backward_passes(zoo):
    results = zoo["results"]
    assert results["SGD"]["quadratic"]["backward_per_step"] == 1.0
    assert results["SAM"]["quadratic"]["backward_per_step"] == 2.0  # at w and at w + e(w)
    assert results["AdaHessian"]["quadratic"]["backward_per_step"] == 2.0  # + H z every step


def test_zoo_steps_to_tol_is_where_the_loss_stays_within_tol(zoo):
    checked = 0
    for rule, per_problem in zoo["results"].items():
        for name, r in per_problem.items():
            tol, k = optimizer_zoo.PROBLEMS[name].tol, r["steps_to_tol"]
            if k is None:
                assert not np.all(r["excess"][-1:] <= tol) or r["diverged"], (rule, name)
                continue
            checked += 1
            assert np.all(r["excess"][k:] <= tol), (rule, name)
            assert k == 0 or r["excess"][k - 1] > tol, (rule, name)
    assert checked >= 5


def test_zoo_writes_a_path_and_a_loss_plot_per_problem(zoo):
    names = {os.path.basename(p) for p in zoo["plots"]}
    assert names == {f"zoo_{n}_{kind}.png" for n in optimizer_zoo.PROBLEMS
                     for kind in ("paths", "loss")}
    for path in zoo["plots"]:
        assert_png(path)


def test_zoo_rejects_an_unknown_rule():
    with pytest.raises(SystemExit, match="unknown rule Adamm"):
        optimizer_zoo.main(["--rules", "Adam,Adamm", "--no-plots"])


# ------------------------------------------------------------- lr_schedules
@pytest.fixture(scope="module")
def schedules(tmp_path_factory):
    out = tmp_path_factory.mktemp("schedules")
    return lr_schedules.main(["--smoke", "--out", str(out)])


def test_schedules_show_every_scheduler_class(schedules):
    classes = set(optim.lr_scheduler.__all__) - {"LRScheduler"}
    assert classes <= set(schedules["lr"])
    for name, lrs in schedules["lr"].items():
        assert lrs.shape == (schedules["steps"],) and np.all(np.isfinite(lrs)), name
        assert np.all((lrs >= 0) & (lrs <= 0.1 + 1e-12)), name
    assert_png(schedules["plots"][0])


def test_schedules_closed_forms(schedules):
    """The warm-up schedules (not in torch) and a few classics, from their formulas."""
    n, base = schedules["steps"], 0.1
    warm = n // 10
    t = np.arange(n)
    W, S, D = warm, n - warm - n // 5, n // 5
    cosine_after_warmup = 0.5 * (1 + np.cos(np.pi * (t - W) / (n - W)))
    wsd_decay = 0.5 * (1 + np.cos(np.pi * np.clip(t - W - S, 0, D) / D))
    expected = {
        "WarmupCosineLR": base * np.where(t < W, t / W, cosine_after_warmup),
        "WarmupStableDecayLR": base * np.where(t < W, t / W, np.where(t < W + S, 1.0, wsd_decay)),
        "InverseSqrtLR": base * np.where(t < W, t / W, np.sqrt(W / np.maximum(t, 1))),
        "StepLR": base * 0.5 ** (t // (n * 3 // 10)),
        "ExponentialLR": base * 0.97 ** t,
        "CosineAnnealingLR": 1e-3 + (base - 1e-3) * 0.5 * (1 + np.cos(np.pi * t / n)),
        "LambdaLR": base / (1 + 0.05 * t),
        "PolynomialLR": base * (1 - t / n) ** 2,
    }
    for name, lrs in expected.items():
        np.testing.assert_allclose(schedules["lr"][name], lrs, rtol=1e-9, atol=1e-15,
                                   err_msg=name)


def test_schedules_match_jumping_to_each_step_in_closed_form(schedules):
    """step(epoch) jumps to t by the closed form; the recorded curve comes
    from stepping one at a time (torch's recursive form for most)."""
    n = schedules["steps"]
    for name, (_, make) in lr_schedules.schedules(n).items():
        optimizer = optim.SGD([minigrad.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
        scheduler = make(optimizer)
        if not hasattr(scheduler, "closed_form_lr") or isinstance(
                scheduler, (optim.lr_scheduler.SequentialLR, optim.lr_scheduler.ChainedScheduler)):
            continue
        for t in (0, 3, n // 2, n - 1):
            scheduler.step(t)
            assert math.isclose(optimizer.param_groups[0]["lr"], schedules["lr"][name][t],
                                rel_tol=1e-9, abs_tol=1e-15), (name, t)


def test_schedules_plateau_follows_its_rule(schedules):
    """ReduceLROnPlateau re-implemented: halve the lr (not below 1e-3) when
    more than 5 steps in a row fail to beat the best by 1%."""
    metric, lrs = schedules["metric"], schedules["lr"]["ReduceLROnPlateau"]
    lr, best, bad, expected = 0.1, math.inf, 0, [0.1]
    for m in metric[:-1]:
        if m < best * (1 - 0.01):
            best, bad = m, 0
        else:
            bad += 1
        if bad > 5:
            lr, bad = max(lr * 0.5, 1e-3), 0
        expected.append(lr)
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)
    assert len(set(expected)) >= 3  # the synthetic loss levels off at least twice


def test_schedules_cycle_momentum_against_the_lr(schedules):
    for name in ("CyclicLR", "OneCycleLR"):
        lrs, momenta = schedules["lr"][name], schedules["momentum"][name]
        assert np.corrcoef(lrs, momenta)[0, 1] < -0.99, name
    assert np.ptp(schedules["momentum"]["StepLR"]) == 0.0


def torch_schedules(torch, n):
    """The same configurations as lr_schedules.schedules, written for torch."""
    TS = torch.optim.lr_scheduler
    SWALR = torch.optim.swa_utils.SWALR
    warm = n // 10
    return {
        "LambdaLR": lambda o: TS.LambdaLR(o, lambda t: 1.0 / (1.0 + 0.05 * t)),
        "MultiplicativeLR": lambda o: TS.MultiplicativeLR(o, lambda t: 0.97),
        "StepLR": lambda o: TS.StepLR(o, step_size=n * 3 // 10, gamma=0.5),
        "MultiStepLR": lambda o: TS.MultiStepLR(o, [n * 3 // 10, n * 6 // 10, n * 8 // 10], 0.5),
        "ExponentialLR": lambda o: TS.ExponentialLR(o, gamma=0.97),
        "ConstantLR": lambda o: TS.ConstantLR(o, factor=0.5, total_iters=2 * warm),
        "LinearLR": lambda o: TS.LinearLR(o, start_factor=1.0, end_factor=0.05, total_iters=n),
        "PolynomialLR": lambda o: TS.PolynomialLR(o, total_iters=n, power=2.0),
        "CosineAnnealingLR": lambda o: TS.CosineAnnealingLR(o, T_max=n, eta_min=1e-3),
        "CosineAnnealingWarmRestarts": lambda o: TS.CosineAnnealingWarmRestarts(o, T_0=warm,
                                                                                T_mult=2),
        "CyclicLR": lambda o: TS.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=warm,
                                          mode="triangular2"),
        "OneCycleLR": lambda o: TS.OneCycleLR(o, max_lr=0.1, total_steps=n),
        "ReduceLROnPlateau": lambda o: TS.ReduceLROnPlateau(o, factor=0.5, patience=5,
                                                            threshold=0.01, min_lr=1e-3),
        "SequentialLR": lambda o: TS.SequentialLR(
            o, [TS.LinearLR(o, start_factor=0.1, total_iters=warm), TS.ExponentialLR(o, 0.97)],
            milestones=[warm]),
        "ChainedScheduler": lambda o: TS.ChainedScheduler(
            [TS.ConstantLR(o, factor=0.5, total_iters=2 * warm), TS.ExponentialLR(o, 0.98)]),
        "SWALR": lambda o: SWALR(o, swa_lr=0.02, anneal_epochs=2 * warm),
        "SWA recipe": lambda o: lr_schedules.SWARecipe(TS.CosineAnnealingLR(o, T_max=n),
                                                       SWALR(o, swa_lr=0.02, anneal_epochs=warm),
                                                       swa_start=n * 6 // 10),
    }


def test_schedules_match_torch(schedules):
    torch = pytest.importorskip("torch")
    n = schedules["steps"]
    for name, make in torch_schedules(torch, n).items():
        weight = torch.zeros(1, requires_grad=True)
        optimizer = torch.optim.SGD([weight], lr=0.1, momentum=0.9)
        scheduler = make(optimizer)
        val_loss = lr_schedules.SyntheticValLoss(0)
        lrs, momenta = [], []
        for _ in range(n):
            lrs.append(optimizer.param_groups[0]["lr"])
            momenta.append(optimizer.param_groups[0]["momentum"])
            optimizer.step()  # no gradient: nothing moves, but torch wants this order
            if name == "ReduceLROnPlateau":
                scheduler.step(val_loss(lrs[-1]))
            else:
                scheduler.step()
        np.testing.assert_allclose(schedules["lr"][name], lrs, rtol=1e-12, atol=1e-15,
                                   err_msg=name)
        np.testing.assert_allclose(schedules["momentum"][name], momenta, rtol=1e-12,
                                   err_msg=name)


# ------------------------------------------------------------ hparam_search
@pytest.fixture(scope="module")
def search(tmp_path_factory):
    out = tmp_path_factory.mktemp("hparam")
    return hparam_search.main(["--smoke", "--out", str(out)])


def test_search_best_is_the_top_of_the_leaderboard(search):
    board = search["leaderboard"]
    assert len(board) == 12  # a 3x2 grid and as many random trials
    assert [t["rank"] for t in board] == list(range(1, 13))
    accs = [t["val_acc"] for t in board]
    assert accs == sorted(accs, reverse=True)
    assert search["best"] is board[0] and search["best"]["val_acc"] == max(accs)
    assert search["best"]["val_acc"] > board[-1]["val_acc"]  # tuning mattered
    for s in ("grid", "random"):
        assert search["best_of"][s]["val_acc"] == max(t["val_acc"] for t in board
                                                      if t["search"] == s)


def test_search_random_trials_stay_in_the_box_and_try_more_lrs(search):
    random = [t for t in search["leaderboard"] if t["search"] == "random"]
    assert len(random) == 6
    assert all(1e-4 <= t["lr"] <= 3e-2 and 1e-4 <= t["weight_decay"] <= 1.0 for t in random)
    assert search["distinct_lrs"] == {"grid": 3, "random": 6}


def test_search_reevaluates_the_winner_on_held_out_data(search):
    re = search["reevaluation"]
    assert len(re["seeds"]) == len(re["val_acc"]) == len(re["test_acc"]) == 1
    assert all(0.0 <= a <= 1.0 for a in re["val_acc"] + re["test_acc"])
    assert re["test_acc"][0] > 0.35  # four classes: chance is about 0.25
    assert search["sizes"] == {"train": 480, "val": 120, "test": 200}


def test_search_writes_the_heat_map_and_the_scatter(search):
    assert {os.path.basename(p) for p in search["plots"]} == {"hparam_grid.png",
                                                              "hparam_random.png"}
    for path in search["plots"]:
        assert_png(path)


def test_search_rejects_bad_ranges_and_rules_without_weight_decay():
    with pytest.raises(SystemExit) as exit_info:
        hparam_search.main(["--smoke", "--no-plots", "--lr-range", "1", "0.1"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit, match="Rprop takes no weight_decay"):
        hparam_search.main(["--smoke", "--no-plots", "--optimizer", "Rprop"])


@pytest.mark.skipif(not os.path.isdir(FASHION), reason="Fashion-MNIST is not installed")
def test_search_on_a_fashion_mnist_subset():
    result = hparam_search.main(["--dataset", "fashion-mnist", "--grid", "2", "1", "--epochs", "1",
                                 "--train-size", "500", "--test-size", "200", "--repeats", "1",
                                 "--no-plots"])
    assert "Fashion-MNIST" in result["dataset"]
    assert result["best"]["val_acc"] > 0.5  # ten classes: chance is 0.1
