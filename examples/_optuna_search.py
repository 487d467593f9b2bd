"""Bayesian optimisation of the lr and weight decay on Optuna, across processes and
machines (a helper for the examples, not a script: `hparam_search.py --sampler tpe`).

The sampler: TPE (Tree-structured Parzen Estimator, Bergstra et al. 2011) splits
the finished trials into the best few ("good") and the rest, fits a density to
each over (log lr, log weight decay), l(x) to the good and g(x) to the rest, and
tries next the candidate x with the largest l(x) / g(x): a point that looks like
the good trials and unlike the others. Its first third of the budget is drawn at
random (it needs trials to model); `--sampler random` draws all of it so, the
baseline TPE has to beat.

Pruning: after every epoch a trial reports its validation accuracy to the study
(`trial.report`) and asks whether to stop (`trial.should_prune`): the median
pruner stops a trial whose accuracy is below the median of the earlier trials'
at the same epoch; hyperband runs successive halving (keep the best third, give
them three times the epochs) over several brackets. A hopeless lr then costs an
epoch or two instead of all of them.

The study lives in a database, not in a process: each trial's parameters, its
accuracy after every epoch and its result are written there as they happen. By
default that is an SQLite file in the run's folder (runs/hparam_search/optuna.db),
so a killed search loses only the trials it was running: the same command again
carries on until the study has --trials finished (complete or pruned) trials.
`--n-workers N` starts N processes (this script with --worker) that share the
study through that file, each asking it for the next trial. Workers on other
machines join through a database server that they all reach (SQLite's locking is
not safe over a network file system):

    pip install -e ".[tune]" psycopg2-binary     # on every machine (PostgreSQL's driver)
    # machine A: two workers, then the leaderboard, the winner re-trained, the plots
    python examples/hparam_search.py --sampler tpe --trials 100 --n-workers 2 \\
        --storage postgresql://USER:PASSWORD@HOST/DB --study-name fashion
    # machines B, C, ...: the same flags with --worker: they only run trials
    python examples/hparam_search.py --sampler tpe --trials 100 --worker \\
        --storage postgresql://USER:PASSWORD@HOST/DB --study-name fashion

(MySQL: mysql+pymysql://USER:PASSWORD@HOST/DB with `pip install pymysql`.) The study
records the settings that define its objective (data, optimizer, epochs, ranges,
...): a worker or a resumed run with other settings is refused, naming them.
"""
import math
import os
import socket
import subprocess
import sys
import time
import warnings

import _cli
import _plots
import numpy as np

from minigrad.training import config_changes

HERE = os.path.dirname(os.path.abspath(__file__))
PRUNERS = ("median", "hyperband", "none")
HEARTBEAT_S = 60  # a running trial writes "alive" this often; silent for twice that: its worker died
# the settings that define the objective: trials scored under other values are not comparable
OBJECTIVE = ("optimizer", "lr_range", "wd_range", "epochs", "batch_size", "hidden", "train_size",
             "val_fraction", "test_size", "seed", "sampler", "pruner")
WORKER = f"{socket.gethostname()}:{os.getpid()}"


class Surplus(Exception):
    """A trial that started when the study already had its budget (see `budget_taken`)."""


def import_optuna():
    """Optuna, imported only when asked for: it is an extra, not a dependency."""
    try:
        import optuna
    except ImportError:
        _cli.stop("hparam_search: --sampler tpe or random runs on Optuna, which is not installed; "
                  'install it with  pip install -e ".[tune]"')
    # one line of ours per trial (print_trial) instead of Optuna's log lines
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    # Optuna (4 more than 5) calls the heartbeat, multivariate TPE and the constant liar
    # "experimental": their interface may change, which is no news to the user of this script
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def add_arguments(parser):
    group = parser.add_argument_group("Optuna (--sampler tpe or random)")
    group.add_argument("--trials", type=_cli.positive_int, default=None,
                       help="finished trials (complete or pruned) the study runs to "
                            "(default: as many as the grid has)")
    group.add_argument("--pruner", choices=PRUNERS, default=None,
                       help="stop unpromising trials after an epoch (default median)")
    group.add_argument("--storage", default=None, metavar="URL",
                       help="the study's database, shared by every worker (postgresql://..., "
                            "mysql+pymysql://...); default: an SQLite file OUT/optuna.db")
    group.add_argument("--study-name", default=None, help="default hparam_search-SAMPLER")
    group.add_argument("--n-workers", type=_cli.positive_int, default=None,
                       help="worker processes on this machine (default 1: this one)")
    group.add_argument("--worker", action="store_true",
                       help="only run trials, no report (how workers on other machines join)")


def check_arguments(parser, args, grid_size):
    """The Optuna flags need an Optuna sampler; fill in their defaults."""
    flags = ("trials", "pruner", "storage", "study_name", "n_workers", "worker")
    if args.sampler == "grid-random":
        given = [f"--{f.replace('_', '-')}" for f in flags if getattr(args, f) not in (None, False)]
        if given:
            parser.error(f"{', '.join(given)} set(s) up an Optuna study: add --sampler tpe (or random)")
        return
    args.trials = args.trials or grid_size
    args.pruner = args.pruner or "median"
    args.study_name = args.study_name or f"hparam_search-{args.sampler}"
    args.n_workers = args.n_workers or 1


def storage_url(args):
    return args.storage or "sqlite:///" + os.path.abspath(os.path.join(args.out, "optuna.db"))


def startup_trials(args):
    """Trials drawn at random before TPE models the others (and before pruning starts)."""
    return max(2, args.trials // 3)


def open_study(args, data_description, seed):
    """The study named --study-name in the storage: created, or loaded when it exists."""
    optuna = import_optuna()
    url = storage_url(args)
    engine = None
    if url.startswith("sqlite:///"):
        os.makedirs(args.out, exist_ok=True)
        engine = {"connect_args": {"timeout": 60}}  # wait for another worker's write, not fail after 5 s
    storage = optuna.storages.RDBStorage(url, engine_kwargs=engine, heartbeat_interval=HEARTBEAT_S)
    study = optuna.create_study(storage=storage, study_name=args.study_name, direction="maximize",
                                sampler=make_sampler(args, seed),
                                pruner=make_pruner(args), load_if_exists=True)
    check_settings(study, args, data_description)
    return study


def make_sampler(args, seed):
    import optuna
    if args.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    # multivariate: one density over (lr, wd) together, as they interact (AdamW decays by lr * wd);
    # constant_liar: a running trial counts as a bad one, so parallel workers don't pick the same point
    return optuna.samplers.TPESampler(n_startup_trials=startup_trials(args), seed=seed,
                                      multivariate=True, constant_liar=True)


def make_pruner(args):
    import optuna
    if args.pruner == "median":  # not before a few finished trials (the median of two is noise)
        return optuna.pruners.MedianPruner(n_startup_trials=startup_trials(args), n_warmup_steps=1)
    if args.pruner == "hyperband":  # the resource is the epoch
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=args.epochs,
                                              reduction_factor=3)
    return optuna.pruners.NopPruner()


def check_settings(study, args, data_description):
    """A new study records the settings of its objective; an existing one refuses others."""
    settings = {k: list(v) if isinstance(v, (list, tuple)) else v
                for k in OBJECTIVE for v in [getattr(args, k)]}
    settings["data"] = data_description
    saved = study.user_attrs.get("settings")
    if saved is None:
        study.set_user_attr("settings", settings)
        return
    changes = config_changes(saved, settings)
    if changes:
        lines = "".join(f"\n  {k}: {a} -> {b}" for k, (a, b) in changes.items())
        _cli.stop(f"hparam_search: the study {args.study_name!r} in {storage_url(args)} was run with "
                  f"other settings, so its trials score another objective:{lines}\nResume it with its "
                  "settings, or start a new study with another --study-name (or --out).")


# ------------------------------------------------------------------- trials
COUNTED = ("COMPLETE", "PRUNED")  # the trial states that count towards --trials


def states(names):
    import optuna
    return tuple(getattr(optuna.trial.TrialState, name) for name in names)


def finished(study):
    return len(study.get_trials(deepcopy=False, states=states(COUNTED)))


def budget_taken(trial, budget):
    """Whether `budget` trials that started before this one are finished or running.

    MaxTrialsCallback stops a worker after its trial ends; but when one trial is
    left, two workers can each start one at the same moment. Trial numbers are
    given out in order by the database, so the later of the two sees the earlier
    one running and is the one not needed."""
    earlier = trial.study.get_trials(deepcopy=False, states=states(COUNTED + ("RUNNING",)))
    return sum(t.number < trial.number for t in earlier) >= budget


def make_objective(args, evaluate):
    """What Optuna calls once per trial: sample (lr, weight decay), train, and return the
    validation accuracy. `evaluate(lr, wd, report)` trains and scores a pair (hparam_search's
    trial) and calls report(epoch, validation accuracy) after every epoch."""
    import optuna

    def objective(trial):
        if budget_taken(trial, args.trials):
            trial.set_user_attr("surplus", True)
            trial.study.stop()
            raise Surplus(f"the study had its {args.trials} trials when trial {trial.number} began")
        lr = trial.suggest_float("lr", *args.lr_range, log=True)
        weight_decay = trial.suggest_float("weight_decay", *args.wd_range, log=True)
        trial.set_user_attr("worker", WORKER)

        def report(epoch, val_acc):
            trial.report(val_acc, epoch)
            # the last epoch's accuracy is the trial's result: stopping there would save nothing
            if epoch + 1 < args.epochs and trial.should_prune():
                raise optuna.TrialPruned()
        result = evaluate(lr, weight_decay, report)
        trial.set_user_attr("val_loss", result["val_loss"])
        return result["val_acc"]
    return objective


def print_trial(study, trial, prefix=""):
    """One line per finished trial (an Optuna callback)."""
    if trial.user_attrs.get("surplus"):
        print(f"{prefix}trial {trial.number:3d}  not needed: the study has its trials", flush=True)
        return
    if not trial.params:
        return
    lr, weight_decay = trial.params["lr"], trial.params["weight_decay"]
    line = f"{prefix}trial {trial.number:3d}  lr {lr:9.3g}  wd {weight_decay:9.3g}"
    if trial.state.name == "PRUNED":
        epoch = max(trial.intermediate_values)
        line += f"  pruned after epoch {epoch + 1} (val acc {trial.intermediate_values[epoch]:.2%})"
    elif trial.state.name == "COMPLETE":
        line += f"  val acc {trial.value:.2%}"
    print(line, flush=True)


def run_trials(study, args, evaluate):
    """This process's share of the study: trials until it has --trials finished ones."""
    import optuna
    if finished(study) >= args.trials:
        return
    # counting the running trials too: a worker whose trial ends while another's last
    # trial still runs stops instead of starting one more
    enough = optuna.study.MaxTrialsCallback(args.trials, states=states(COUNTED + ("RUNNING",)))
    prefix = f"[{WORKER}] " if args.worker else ""
    study.optimize(make_objective(args, evaluate), catch=(Surplus,),
                   callbacks=[enough, lambda s, t: print_trial(s, t, prefix)])


def start_workers(args, argv):
    """--n-workers processes of this script with --worker on the same study; waits for them."""
    command = [sys.executable, os.path.join(HERE, "hparam_search.py"), *argv, "--worker",
               "--storage", storage_url(args), "--study-name", args.study_name, "--out", args.out]
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # share the cores
        env.setdefault(name, str(max(1, (os.cpu_count() or 1) // args.n_workers)))
    workers = [subprocess.Popen(command, env=env) for _ in range(args.n_workers)]
    try:
        codes = [worker.wait() for worker in workers]
    except KeyboardInterrupt:
        for worker in workers:  # (Ctrl-C in a terminal reaches them too; this is for the rest)
            worker.terminate()
            worker.wait()
        raise
    failed = [code for code in codes if code != 0]
    if failed:
        _cli.stop(f"hparam_search: {len(failed)} of {len(workers)} workers failed (exit codes "
                  f"{failed}); run the same command again to finish the study")


def fail_leftovers(study):
    """Trials still running in the run's own SQLite file as a run starts were cut off when
    an earlier run was killed: nothing will finish them, so they are marked failed and
    their places in the budget go to new trials. Returns how many."""
    import optuna
    left = study.get_trials(deepcopy=False, states=states(("RUNNING",)))
    for trial in left:
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
    return len(left)


def wait_for_others(study):
    """Wait for trials still running in workers on other machines. A worker that died
    stops its heartbeat: fail_stale_trials marks its trial failed after a grace period."""
    import optuna
    told = False
    while running := study.get_trials(deepcopy=False, states=states(("RUNNING",))):
        if not told:
            print(f"waiting for {len(running)} trial(s) still running in other workers", flush=True)
            told = True
        time.sleep(2)
        optuna.storages.fail_stale_trials(study)


def search(args, argv, data_description, evaluate):
    """Run (or join, or resume) the study; returns it, or None for a --worker."""
    # one worker: a seeded sampler, the same trials every run; several: the order trials
    # finish in changes from run to run anyway, and each worker's sampler needs its own seed
    seed = args.seed if args.n_workers == 1 and not args.worker else None
    study = open_study(args, data_description, seed)
    try:
        if args.worker:
            run_trials(study, args, evaluate)
            return None
        failed = fail_leftovers(study) if args.storage is None else 0
        done = finished(study)
        print(f"study {args.study_name!r} in {storage_url(args)}: {done} of {args.trials} trials "
              f"finished" + (f"; {failed} cut off by a crash marked failed" if failed else "")
              + (f"; {args.n_workers} workers" if args.n_workers > 1 else ""), flush=True)
        if done >= args.trials:
            print("nothing left to run: the report of the study as it stands (more --trials "
                  "carry it on; another --study-name starts a new one)")
        elif args.n_workers == 1:
            run_trials(study, args, evaluate)
        else:
            start_workers(args, argv)
        wait_for_others(study)
    except KeyboardInterrupt:
        _cli.stop(f"hparam_search: interrupted with {finished(study)} of {args.trials} "
                  "trials finished; run the same command again to carry on", _cli.EXIT_INTERRUPTED)
    return study


def leaderboard_trials(study, args):
    """The complete trials as hparam_search's trial records (pruned ones have no final score)."""
    return [{"lr": t.params["lr"], "weight_decay": t.params["weight_decay"], "val_acc": t.value,
             "val_loss": t.user_attrs.get("val_loss", math.inf), "search": args.sampler,
             "trial": t.number}
            for t in study.get_trials(deepcopy=False, states=states(("COMPLETE",)))]


def importances(study, least=20):
    """Each parameter's share of the variation in validation accuracy, by PED-ANOVA: it
    compares where the best 10% of the trials lie with where all of them do, and needs
    nothing beyond Optuna (fANOVA and mean decrease impurity need scikit-learn). None
    with fewer than `least` complete trials: their best 10% is one trial, and noise."""
    import optuna
    if len(study.get_trials(deepcopy=False, states=states(("COMPLETE",)))) < least:
        return None
    evaluator = optuna.importance.PedAnovaImportanceEvaluator()
    return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))


# -------------------------------------------------------------------- plots
def plots(study, importances, args, data):
    """The optimisation history, and the importances (when there are any to show)."""
    os.makedirs(args.out, exist_ok=True)
    start = os.path.join(args.out, f"hparam_{args.sampler}_")
    paths = [plot_history(study, args, start + "history.png", data)]
    if importances:
        paths.append(plot_importances(study, importances, args, start + "importances.png", data))
    return paths


def plot_history(study, args, path, data):
    """Validation accuracy per trial with the best so far, and where the trials went."""
    plt = _plots.pyplot()
    trials = study.get_trials(deepcopy=False, states=states(COUNTED))
    done = [t for t in trials if t.state.name == "COMPLETE"]
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    fig, (ax, side) = plt.subplots(1, 2, figsize=(12, 4.6))
    if args.sampler == "tpe":
        ax.axvspan(-0.5, startup_trials(args) - 0.5, color="0.92", label="random start")
    ax.scatter([t.number for t in done], [t.value for t in done], s=25, label="complete")
    last = [t.intermediate_values[max(t.intermediate_values)] for t in pruned]
    ax.scatter([t.number for t in pruned], last, marker="x", color="0.5",
               label="pruned (its last reported accuracy)")
    numbers = [t.number for t in done]
    ax.step(numbers, np.maximum.accumulate([t.value for t in done]), where="post", color="red",
            label=f"best so far ({study.best_value:.1%})")
    ax.set(xlabel="trial", ylabel="validation accuracy",
           title=f"{args.sampler} search: optimisation history ({len(done)} complete, "
                 f"{len(pruned)} pruned)")
    ax.legend(fontsize=8, loc="best")
    points = side.scatter([t.params["lr"] for t in trials], [t.params["weight_decay"] for t in trials],
                          c=[t.number for t in trials], cmap="viridis", s=40, edgecolors="k",
                          linewidths=0.5)
    best = study.best_trial
    side.scatter([best.params["lr"]], [best.params["weight_decay"]], s=250, facecolors="none",
                 edgecolors="red", lw=2, label="best")
    side.set(xscale="log", yscale="log", xlabel="learning rate", ylabel="weight decay",
             title="where the trials went (colour: trial number)")
    side.legend(fontsize=8)
    fig.colorbar(points, ax=side, label="trial")
    fig.suptitle(data, fontsize=8)
    fig.tight_layout()
    return _plots.save(fig, path)


def plot_importances(study, values, args, path, data):
    plt = _plots.pyplot()
    count = len(study.get_trials(deepcopy=False, states=states(("COMPLETE",))))
    fig, ax = plt.subplots(figsize=(6, 2.6))
    names = list(values)[::-1]
    ax.barh(names, [values[n] for n in names])
    ax.set(xlim=(0, 1), xlabel="importance (PED-ANOVA, sums to 1)",
           title=f"{args.sampler} search: what mattered, over {count} complete trials")
    fig.suptitle(data, fontsize=8)
    fig.tight_layout()
    return _plots.save(fig, path)
