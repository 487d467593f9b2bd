"""hparam_search's Optuna search (examples/_optuna_search.py): worker processes share one
study and stop at exactly its budget, a killed study resumes with its trials kept, a
seeded TPE search repeats itself, the median pruner stops a hopeless trial, and the
settings a study records guard it. Skipped without the `tune` extra (Optuna), except
for the error that names it."""
import importlib.util
import math
import os
import subprocess
import sys
from types import SimpleNamespace

import _optuna_search
import hparam_search
import pytest

needs_optuna = pytest.mark.skipif(importlib.util.find_spec("optuna") is None,
                                  reason='Optuna is not installed (pip install -e ".[tune]")')
EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
# real training, small: 480 training samples of the synthetic problem, 3 epochs a trial
SMALL = ["--dataset", "synthetic", "--train-size", "600", "--test-size", "200", "--epochs", "3",
         "--repeats", "1", "--no-plots"]


def study_args(tmp_path, **changes):
    """The settings hparam_search.main gives _optuna_search.search, for tests that call it."""
    args = dict(sampler="tpe", trials=6, pruner="median", storage=None, study_name="test",
                n_workers=1, worker=False, out=str(tmp_path), seed=0, epochs=3,
                lr_range=[1e-4, 3e-2], wd_range=[1e-4, 1.0], optimizer="AdamW", batch_size=64,
                hidden=64, train_size=600, val_fraction=0.2, test_size=200)
    return SimpleNamespace(**dict(args, **changes))


def fake_evaluate(lr, weight_decay, report, epochs=3):
    """A stand-in for training: accuracy peaks at lr 1e-2 and rises with the epochs."""
    final = 0.9 - 0.1 * abs(math.log10(lr) + 2) - 0.01 * abs(math.log10(weight_decay) + 2)
    for epoch in range(epochs):
        report(epoch, final * (epoch + 1) / epochs)
    return {"val_acc": final, "val_loss": 1.0 - final}


def load(args):
    import optuna
    return optuna.load_study(study_name=args.study_name, storage=_optuna_search.storage_url(args))


def by_state(study):
    states = {}
    for t in study.get_trials(deepcopy=False):
        states.setdefault(t.state.name, []).append(t)
    return states


def counted(study):
    states = by_state(study)
    return len(states.get("COMPLETE", [])) + len(states.get("PRUNED", []))


# ------------------------------------------------------------ several workers
@needs_optuna
def test_two_worker_processes_finish_exactly_the_requested_trials(tmp_path):
    result = hparam_search.main(["--smoke", "--no-plots", "--sampler", "tpe", "--trials", "8",
                                 "--n-workers", "2", "--out", str(tmp_path)])
    study = load(study_args(tmp_path, study_name="hparam_search-tpe"))
    states = by_state(study)
    assert counted(study) == 8
    assert "RUNNING" not in states
    # a trial that began when the budget was already taken is failed as surplus, never run
    assert all(t.user_attrs.get("surplus") and not t.params for t in states.get("FAIL", []))
    assert len(result["leaderboard"]) == len(states["COMPLETE"])
    assert {t["trial"] for t in result["leaderboard"]} == {t.number for t in states["COMPLETE"]}
    assert all(":" in t.user_attrs["worker"] for t in states["COMPLETE"])  # host:pid of its process


@needs_optuna
@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # (study.ask outside optimize: on purpose)
def test_a_trial_that_starts_when_the_budget_is_taken_is_not_run(tmp_path):
    """Two workers can each start a trial when one is left: the later one must not run.
    Here three trials of a budget of three are running when a worker starts."""
    import optuna
    args = study_args(tmp_path, trials=3)
    study = _optuna_search.open_study(args, "fake data", seed=0)
    running = [study.ask() for _ in range(3)]
    calls = []
    _optuna_search.run_trials(study, args, lambda *a: calls.append(a) or fake_evaluate(*a))
    assert calls == []
    surplus = study.get_trials(states=(optuna.trial.TrialState.FAIL,))
    assert [t.number for t in surplus] == [3] and surplus[0].user_attrs["surplus"]
    for trial in running:  # the three finish: exactly the budget
        study.tell(trial, 0.5)
    assert counted(study) == 3


# ---------------------------------------------------------------- a crash
CRASHING_WORKER = """
import os, sys
sys.path.insert(0, {examples!r})
from types import SimpleNamespace
import _optuna_search

calls = []
def evaluate(lr, weight_decay, report):
    calls.append(lr)
    if len(calls) > {survives}:
        os._exit(3)  # dies mid-trial, as kill -9 would: no clean-up, the trial stays RUNNING
    report(0, lr)
    return {{"val_acc": 0.5 + lr, "val_loss": 0.5}}

_optuna_search.search(SimpleNamespace(**{args!r}), [], "fake data", evaluate)
"""


@needs_optuna
def test_a_killed_study_resumes_and_keeps_its_finished_trials(tmp_path):
    args = study_args(tmp_path, trials=7)
    code = CRASHING_WORKER.format(examples=EXAMPLES, survives=3, args=vars(args))
    crashed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert crashed.returncode == 3, crashed.stderr
    before = by_state(load(args))
    assert len(before["COMPLETE"]) == 3 and [t.number for t in before["RUNNING"]] == [3]

    study = _optuna_search.search(args, [], "fake data", fake_evaluate)  # the same command again
    after = by_state(study)
    assert counted(study) == 7
    assert [t.number for t in after["FAIL"]] == [3]  # the trial cut off by the crash
    kept = {t.number: (t.params, t.value) for t in after["COMPLETE"]}
    assert all(kept[t.number] == (t.params, t.value) for t in before["COMPLETE"])
    assert "RUNNING" not in after


# --------------------------------------------------------- TPE and pruning
@needs_optuna
def test_tpe_with_a_seed_repeats_its_trials(tmp_path):
    def params(folder, seed):
        args = study_args(tmp_path / folder, seed=seed, trials=5)  # 2 random, then 3 by TPE
        study = _optuna_search.search(args, [], "fake data", fake_evaluate)
        return [(t.params["lr"], t.params["weight_decay"]) for t in study.trials]
    first = params("a", seed=3)
    assert params("b", seed=3) == first
    assert params("c", seed=4) != first


@needs_optuna
def test_the_median_pruner_stops_a_hopeless_lr_after_the_warm_up(tmp_path):
    """Three good trials (lr 0.02), then the lr at the bottom of the range: after its
    second epoch (the first is the warm-up) it is below the median, and pruned."""
    import optuna
    study = optuna.create_study(study_name="hparam_search-tpe", direction="maximize", storage=(
        _optuna_search.storage_url(study_args(tmp_path))))
    for lr in (0.02, 0.02, 0.02, 1e-4):
        study.enqueue_trial({"lr": lr, "weight_decay": 1e-3})
    hparam_search.main(SMALL + ["--sampler", "tpe", "--trials", "4", "--out", str(tmp_path)])
    trials = load(study_args(tmp_path, study_name="hparam_search-tpe")).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3 + ["PRUNED"]
    assert sorted(trials[3].intermediate_values) == [0, 1]  # stopped after epoch 2 of 3
    median = sorted(t.intermediate_values[1] for t in trials[:3])[1]
    assert trials[3].intermediate_values[1] < median


# ------------------------------------------------------------ guard rails
@needs_optuna
def test_a_study_refuses_a_run_with_other_settings(tmp_path, capsys):
    _optuna_search.search(study_args(tmp_path, trials=2), [], "fake data", fake_evaluate)
    with pytest.raises(SystemExit):
        _optuna_search.search(study_args(tmp_path, trials=2, epochs=5), [], "fake data", fake_evaluate)
    assert "epochs: 3 -> 5" in capsys.readouterr().err
    # more trials is not another objective: the study carries on
    study = _optuna_search.search(study_args(tmp_path, trials=3), [], "fake data", fake_evaluate)
    assert counted(study) == 3


def test_without_optuna_the_error_names_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "optuna", None)  # (an import of it raises ImportError)
    with pytest.raises(SystemExit):
        _optuna_search.import_optuna()
    assert 'pip install -e ".[tune]"' in capsys.readouterr().err


def test_optuna_flags_without_an_optuna_sampler_are_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        hparam_search.main(["--smoke", "--no-plots", "--trials", "5", "--n-workers", "2"])
    assert exit_info.value.code == 2
    assert "--trials, --n-workers" in capsys.readouterr().err


# ------------------------------------------------------- importances, plots
@needs_optuna
def test_importances_find_the_lr_and_the_plots_are_written(tmp_path):
    """The stand-in's accuracy varies ten times more with log lr than with log weight
    decay: over 40 random trials PED-ANOVA must rank the lr first."""
    import optuna
    args = study_args(tmp_path, sampler="random", trials=40, pruner="none")
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0),
                                pruner=optuna.pruners.NopPruner())  # (in memory: fast)
    assert _optuna_search.importances(study) is None  # no trials: nothing to tell
    study.optimize(_optuna_search.make_objective(args, fake_evaluate), n_trials=40)
    values = _optuna_search.importances(study)
    assert set(values) == {"lr", "weight_decay"}
    assert sum(values.values()) == pytest.approx(1.0)
    assert values["lr"] > values["weight_decay"]
    paths = _optuna_search.plots(study, values, args, "SYNTHETIC stand-in")
    assert [os.path.basename(p) for p in paths] == ["hparam_random_history.png",
                                                    "hparam_random_importances.png"]
    for path in paths:
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
