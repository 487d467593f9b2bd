"""Grid search, random search and Bayesian optimisation over learning rate and weight decay.

Both searches train the same small network (an MLP with one hidden layer)
with the same budget of trials, and score each trial on a VALIDATION split
(carved from the training data with `random_split`), never on the test set:
the test set is looked at once, at the end, for the winner only.

* grid search: every pair of lr and weight decay from two log-spaced lists;
* random search: the same number of pairs, each coordinate drawn
  log-uniformly from the same box (Bergstra and Bengio 2012).

When one hyperparameter matters much more than the other (the lr usually
does), a grid of n x n trials tries only n different values of it, while
random search tries n^2: the script prints how many distinct lrs each search
tried, and plots the validation accuracy against the lr alone.

The winner is then re-trained from new random initializations (`--repeats`),
to see how much of its lead is luck of the seed, and evaluated on the test set.

`--sampler tpe` runs a third search instead: Bayesian optimisation on Optuna
(an extra: pip install -e ".[tune]"), which picks each trial from the results of
the earlier ones and stops hopeless trials after an epoch (pruning); `--sampler
random` runs Optuna's random sampler with the same pruning, the baseline to
compare it with. The study is kept in a database (by default an SQLite file in
the run's folder), so a killed search resumes where it stopped, and worker
processes on one machine (--n-workers) or on several (--storage URL, --worker)
share one study: see examples/_optuna_search.py. It plots the optimisation
history and what mattered (the parameters' importances).

The data: a subset of Fashion-MNIST (28x28 clothing images, 10 classes),
read from /usr/share/datasets/fashion-mnist where the Debian package
`dataset-fashion-mnist` puts it, or a synthetic problem (labels from a random
teacher network, with some flipped) when it is not there or with
`--dataset synthetic`.

    python examples/hparam_search.py                     # ~2 minutes on 2 CPU cores
    python examples/hparam_search.py --optimizer SGD --lr-range 1e-3 1
    python examples/hparam_search.py --dataset synthetic --smoke    # seconds
    python examples/hparam_search.py --sampler tpe --trials 40 --n-workers 2
"""
import math
import os
import sys

import _cli
import _optuna_search
import _plots
import _training
import numpy as np

import minigrad
import minigrad.functional as F
import minigrad.nn as nn
from minigrad.data import DataLoader, FashionMNIST, TensorDataset, random_split
from minigrad.training import LambdaCallback, TrainingDiverged, evaluate, fit

HERE = os.path.dirname(os.path.abspath(__file__))

FASHION_STATS = (0.2860, 0.3530)  # per-pixel mean and std of the 60,000 training images


# ----------------------------------------------------------------------- data
def synthetic_problem(n, dim=20, classes=4, flip=0.1, seed=0):
    """n points in R^dim labelled by a random one-hidden-layer teacher network
    (a curved decision boundary), with a fraction `flip` of labels replaced
    by random ones: noise a big network can memorize, so regularization matters."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim))
    w1 = rng.normal(size=(dim, 32)) / math.sqrt(dim)
    w2 = rng.normal(size=(32, classes)) / math.sqrt(32)
    y = np.argmax(np.tanh(3.0 * x @ w1) @ w2, axis=1)
    flipped = rng.random(n) < flip
    y[flipped] = rng.integers(classes, size=int(flipped.sum()))
    return x.astype(np.float32), y.astype(np.int64)


def fashion_subset(train, n, seed):
    """n random Fashion-MNIST images as normalized float32 rows of 784 pixels."""
    dataset = FashionMNIST(train=train)
    chosen = np.sort(np.random.default_rng(seed).permutation(len(dataset))[:n])
    mean, std = FASHION_STATS
    x = (dataset.data[chosen].reshape(len(chosen), -1).astype(np.float32) / 255.0 - mean) / std
    return x.astype(np.float32), dataset.targets[chosen].astype(np.int64)


def load_data(args):
    """(train+validation set, test set, input size, number of classes, description)."""
    name = args.dataset
    if name == "auto":
        try:
            FashionMNIST(train=False)
            name = "fashion-mnist"
        except FileNotFoundError:
            name = "synthetic"
    if name == "fashion-mnist":
        x, y = fashion_subset(True, args.train_size, args.seed)
        x_test, y_test = fashion_subset(False, args.test_size, args.seed)
        description = f"Fashion-MNIST subset ({args.train_size} train+val, {args.test_size} test)"
        classes = 10
    else:
        x, y = synthetic_problem(args.train_size + args.test_size, seed=args.seed)
        x, x_test, y, y_test = (x[:args.train_size], x[args.train_size:],
                                y[:args.train_size], y[args.train_size:])
        description = (f"SYNTHETIC data: {x.shape[1]}-D points, teacher-network labels, 10% flipped "
                       f"({args.train_size} train+val, {args.test_size} test)")
        classes = int(y.max()) + 1
    return TensorDataset(x, y), TensorDataset(x_test, y_test), x.shape[1], classes, description


# --------------------------------------------------------------------- trials
def mlp(inputs, hidden, classes):
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, classes))


def train(lr, weight_decay, data, args, seed, report=None):
    """A fresh MLP (initialized from `seed`) trained with optim.<args.optimizer>(lr,
    weight_decay) for args.epochs epochs (minigrad.training.fit); `report(epoch,
    validation accuracy)`, when given, sees every epoch's (Optuna's pruning: it may stop
    the trial there by raising). A non-finite loss stops the training: this lr is too
    large, and the scores count it as a failure. Returns (model, optimizer)."""
    train_set, val_set, inputs, classes = data
    minigrad.manual_seed(seed)  # the initial weights
    model = mlp(inputs, args.hidden, classes).to(args.device)
    optimizer, hyper = _training.make_optimizer(args.optimizer, model.parameters(), lr=lr,
                                               weight_decay=weight_decay)
    if "weight_decay" not in hyper:
        raise SystemExit(f"hparam_search: {type(optimizer).__name__} takes no weight_decay, so "
                         "there is nothing to search over; pick another --optimizer")
    loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, device=args.device,
                        seed=seed)
    callbacks = [LambdaCallback(on_epoch_end=lambda trainer, epoch, logs:
                                report(epoch, logs["val_accuracy"]))] if report else []
    try:
        fit(model, loader, loss_fn=F.cross_entropy, optimizer=optimizer, epochs=args.epochs,
            val_loader=eval_loader(val_set, args.device) if report else None,
            callbacks=callbacks, progress=False, seed=seed)
    except TrainingDiverged:
        pass  # (the weights are no longer finite: score() gives the trial an infinite loss)
    return model, optimizer


def eval_loader(dataset, device):
    return DataLoader(dataset, batch_size=1000, device=device)


def score(model, optimizer, dataset, device):
    """(accuracy, mean cross-entropy) on `dataset`; a diverged model's nan loss counts as inf."""
    if hasattr(optimizer, "eval"):  # schedule-free rules evaluate their averaged point
        optimizer.eval()
    result = evaluate(model, eval_loader(dataset, device), loss_fn=F.cross_entropy)
    return result["accuracy"], (result["loss"] if np.isfinite(result["loss"]) else math.inf)


def trial(lr, weight_decay, data, args, seed, report=None):
    """Train with (lr, weight_decay) and score on the validation set; `report`: see train."""
    model, optimizer = train(lr, weight_decay, data, args, seed, report)
    acc, loss = score(model, optimizer, data[1], args.device)
    return {"lr": float(lr), "weight_decay": float(weight_decay), "val_acc": acc, "val_loss": loss}


def grid_configs(args):
    lrs = np.geomspace(*args.lr_range, args.grid[0])
    wds = np.geomspace(*args.wd_range, args.grid[1])
    return [(lr, wd) for wd in wds for lr in lrs], lrs, wds


def random_configs(args, count):
    """`count` pairs, each coordinate log-uniform in its range."""
    rng = np.random.default_rng(args.seed + 1)
    log_lr = rng.uniform(*np.log10(args.lr_range), size=count)
    log_wd = rng.uniform(*np.log10(args.wd_range), size=count)
    return [(10.0 ** a, 10.0 ** b) for a, b in zip(log_lr, log_wd)]


def rank(trials):
    """Best first: highest validation accuracy, then lowest validation loss."""
    return sorted(trials, key=lambda t: (-t["val_acc"], t["val_loss"]))


# --------------------------------------------------------------------- report
def print_leaderboard(board, top):
    print(f"\n{'rank':>4s}  {'search':6s} {'lr':>10s} {'wd':>10s} {'val acc':>8s} {'val loss':>9s}")
    shown = board[:top] + ([board[-1]] if len(board) > top else [])
    for t in shown:
        if t is board[-1] and len(board) > top:
            print(f"{'...':>4s}")
        print(f"{t['rank']:4d}  {t['search']:6s} {t['lr']:10.3g} {t['weight_decay']:10.3g} "
              f"{t['val_acc']:8.2%} {t['val_loss']:9.4f}")


def plot_grid(grid, lrs, wds, best, path, data):
    """Heat map of validation accuracy over the grid (lr across, weight decay down)."""
    plt = _plots.pyplot()
    acc = np.array([t["val_acc"] for t in grid]).reshape(len(wds), len(lrs))
    fig, ax = plt.subplots(figsize=(1.1 * len(lrs) + 2.5, 0.8 * len(wds) + 1.8))
    image = ax.imshow(acc, cmap="viridis", origin="lower", aspect="auto")
    for i in range(len(wds)):
        for j in range(len(lrs)):
            ax.text(j, i, f"{acc[i, j]:.1%}", ha="center", va="center", fontsize=8,
                    color="black" if acc[i, j] > acc.min() + 0.6 * np.ptp(acc) else "white")
    i, j = np.unravel_index(np.argmax(acc), acc.shape)
    ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="red", lw=2))
    ax.set_xticks(range(len(lrs)), [f"{v:.2g}" for v in lrs])
    ax.set_yticks(range(len(wds)), [f"{v:.2g}" for v in wds])
    ax.set(xlabel="learning rate", ylabel="weight decay",
           title=f"grid search: validation accuracy (best {best['val_acc']:.1%}, red)")
    fig.colorbar(image, ax=ax, label="validation accuracy")
    fig.suptitle(data, fontsize=8)  # which data: synthetic or Fashion-MNIST
    fig.tight_layout()
    return _plots.save(fig, path)


def plot_random(random, grid, best, path, data):
    """Random trials on log axes coloured by validation accuracy (grid points as
    crosses), and validation accuracy against the lr alone for both searches."""
    plt = _plots.pyplot()
    fig, (ax, side) = plt.subplots(1, 2, figsize=(12, 4.6))
    accs = [t["val_acc"] for t in random + grid]
    points = ax.scatter([t["lr"] for t in random], [t["weight_decay"] for t in random],
                        c=[t["val_acc"] for t in random], cmap="viridis", s=60,
                        vmin=min(accs), vmax=max(accs), edgecolors="k", linewidths=0.5)
    ax.scatter([t["lr"] for t in grid], [t["weight_decay"] for t in grid], marker="x",
               color="0.5", s=20, label="grid trials")
    top = rank(random)[0]
    ax.scatter([top["lr"]], [top["weight_decay"]], s=250, facecolors="none", edgecolors="red",
               lw=2, label=f"best random ({top['val_acc']:.1%})")
    ax.set(xscale="log", yscale="log", xlabel="learning rate", ylabel="weight decay",
           title="random search (log-uniform): validation accuracy")
    ax.legend(fontsize=8, loc="best")
    fig.colorbar(points, ax=ax, label="validation accuracy")
    for trials, marker, label in ((grid, "x", "grid"), (random, "o", "random")):
        side.scatter([t["lr"] for t in trials], [t["val_acc"] for t in trials], marker=marker,
                     label=f"{label}: {len({round(t['lr'], 12) for t in trials})} distinct lrs")
    side.axvline(best["lr"], color="red", ls="--", lw=1, label="overall best")
    side.set(xscale="log", xlabel="learning rate", ylabel="validation accuracy",
             title="validation accuracy against the lr alone")
    side.legend(fontsize=8)
    fig.suptitle(data, fontsize=8)
    fig.tight_layout()
    return _plots.save(fig, path)


# ----------------------------------------------------------------------- main
def main(argv=None):
    parser = _cli.parser(__doc__)
    parser.add_argument("--sampler", choices=("grid-random", "tpe", "random"), default="grid-random",
                        help="grid-random: the two plain searches, compared (default); tpe: "
                             "Bayesian optimisation on Optuna; random: Optuna's random sampler")
    parser.add_argument("--dataset", choices=("auto", "fashion-mnist", "synthetic"),
                        default="auto", help="auto: Fashion-MNIST when found, else synthetic")
    parser.add_argument("--optimizer", default="AdamW", metavar="NAME",
                        help="any rule in optim that takes weight_decay (default AdamW)")
    parser.add_argument("--lr-range", type=float, nargs=2, default=(1e-4, 3e-2),
                        metavar=("LOW", "HIGH"))
    parser.add_argument("--wd-range", type=float, nargs=2, default=(1e-4, 1.0),
                        metavar=("LOW", "HIGH"))
    parser.add_argument("--grid", type=_cli.positive_int, nargs=2, default=(6, 5), metavar=("N_LR", "N_WD"),
                        help="grid points per axis; random search gets as many trials")
    parser.add_argument("--epochs", type=_cli.positive_int, default=3)
    parser.add_argument("--batch-size", type=_cli.positive_int, default=64)
    parser.add_argument("--hidden", type=_cli.positive_int, default=64)
    parser.add_argument("--train-size", type=_cli.positive_int, default=4000,
                        help="training + validation samples")
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument("--test-size", type=_cli.positive_int, default=2000)
    parser.add_argument("--repeats", type=_cli.positive_int, default=3,
                        help="re-train the winner from this many new seeds")
    parser.add_argument("--top", type=_cli.positive_int, default=10, help="leaderboard rows to print")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None,
                        help="folder for the plots (default runs/hparam_search, "
                             "or runs/hparam_search-smoke with --smoke)")
    parser.add_argument("--smoke", action="store_true",
                        help="synthetic data, a 3x2 grid, 2 epochs: seconds (tests)")
    parser.add_argument("--no-plots", action="store_true")
    _optuna_search.add_arguments(parser)
    _cli.add_device(parser)
    args = parser.parse_args(argv)
    _cli.check_device(parser, args.device)
    args.out = _cli.output_folder(args.out, "hparam_search", args.smoke)
    if args.smoke:
        args.dataset, args.grid, args.epochs, args.repeats = "synthetic", (3, 2), 2, 1
        args.train_size, args.test_size = 600, 200
    for name in ("lr_range", "wd_range"):
        low, high = getattr(args, name)
        if not 0 < low < high:
            parser.error(f"--{name.replace('_', '-')} needs 0 < LOW < HIGH, got {low} {high}")
    _optuna_search.check_arguments(parser, args, grid_size=args.grid[0] * args.grid[1])

    trainval, test_set, inputs, classes, description = load_data(args)
    train_set, val_set = random_split(trainval, [1.0 - args.val_fraction, args.val_fraction],
                                      seed=args.seed)
    data = (train_set, val_set, inputs, classes)
    print(f"data: {description}; split {len(train_set)} train / {len(val_set)} validation")
    print(f"model: MLP {inputs}-{args.hidden}-{classes}, {args.optimizer}, {args.epochs} epochs, "
          f"batch {args.batch_size}")

    if args.sampler == "grid-random":
        grid_pairs, lrs, wds = grid_configs(args)
        trials = []
        for search, pairs in (("grid", grid_pairs), ("random", random_configs(args, len(grid_pairs)))):
            print(f"{search} search: {len(pairs)} trials", end="", flush=True)
            for lr, wd in pairs:
                trials.append(dict(trial(lr, wd, data, args, args.seed), search=search))
                print(".", end="", flush=True)
            print()
    else:  # Optuna: each trial picked from the results so far, maybe in several processes
        study = _optuna_search.search(args, sys.argv[1:] if argv is None else argv, description,
                                      lambda lr, wd, report: trial(lr, wd, data, args, args.seed, report))
        if study is None:
            return None  # a --worker: the process that started the study reports
        trials = _optuna_search.leaderboard_trials(study, args)
        if not trials:
            _cli.stop(f"hparam_search: the study {args.study_name!r} has no complete trial to report")
    searches = list(dict.fromkeys(t["search"] for t in trials))
    board = rank(trials)
    for i, t in enumerate(board):
        t["rank"] = i + 1
    print_leaderboard(board, args.top)

    best = board[0]
    best_of = {s: rank([t for t in trials if t["search"] == s])[0] for s in searches}
    distinct = {s: len({round(t["lr"], 12) for t in trials if t["search"] == s}) for s in searches}
    for s in searches:
        print(f"best of {s:6s}: {best_of[s]['val_acc']:.2%} at lr {best_of[s]['lr']:.3g}, "
              f"wd {best_of[s]['weight_decay']:.3g} ({distinct[s]} distinct lrs tried)")

    # the winner again, from new seeds: how much was the seed, and the test set at last
    reevaluation = {"seeds": [args.seed + 100 + i for i in range(args.repeats)],
                    "val_acc": [], "test_acc": [], "test_loss": []}
    for seed in reevaluation["seeds"]:
        model, optimizer = train(best["lr"], best["weight_decay"], data, args, seed)
        reevaluation["val_acc"].append(score(model, optimizer, val_set, args.device)[0])
        acc, loss = score(model, optimizer, test_set, args.device)
        reevaluation["test_acc"].append(acc)
        reevaluation["test_loss"].append(loss)
    print(f"\nbest: lr {best['lr']:.3g}, weight decay {best['weight_decay']:.3g} "
          f"({best['search']} search), validation accuracy {best['val_acc']:.2%}")
    print(f"re-trained from {args.repeats} new seeds: validation accuracy "
          f"{np.mean(reevaluation['val_acc']):.2%} +- {np.std(reevaluation['val_acc']):.2%}, "
          f"test accuracy {np.mean(reevaluation['test_acc']):.2%} "
          f"+- {np.std(reevaluation['test_acc']):.2%}")

    plots, importances = [], None
    if args.sampler != "grid-random":
        importances = _optuna_search.importances(study)
        print("what mattered (PED-ANOVA importance): " + (", ".join(
            f"{name} {value:.2f}" for name, value in importances.items()) if importances
            else "too few complete trials to tell"))
        if not args.no_plots:
            plots = _optuna_search.plots(study, importances, args, description)
    elif not args.no_plots:
        os.makedirs(args.out, exist_ok=True)
        grid_trials = [t for t in trials if t["search"] == "grid"]
        random_trials = [t for t in trials if t["search"] == "random"]
        plots.append(plot_grid(grid_trials, lrs, wds, best_of["grid"],
                               os.path.join(args.out, "hparam_grid.png"), description))
        plots.append(plot_random(random_trials, grid_trials, best,
                                 os.path.join(args.out, "hparam_random.png"), description))
    if plots:
        print("plots written to " + " and ".join(plots))
    return {"dataset": description,
            "sizes": {"train": len(train_set), "val": len(val_set), "test": len(test_set)},
            "leaderboard": board, "best": best, "best_of": best_of,
            "distinct_lrs": distinct, "reevaluation": reevaluation, "plots": plots,
            "importances": importances}


if __name__ == "__main__":
    main()
