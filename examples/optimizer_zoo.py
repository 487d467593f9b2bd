"""Every update rule in `optim` on four classic 2-D test functions.

Each problem is a sum of squared residuals, f(x, y) = sum_i r_i(x, y)^2 + c,
written once with plain operators so it runs on minigrad Tensors (for the
gradients) and on NumPy arrays (for the contour maps):

* Rosenbrock  (1 - x)^2 + 100 (y - x^2)^2: a long curved valley, min (1, 1);
* Beale       three squares with plateaus and steep walls, min (3, 0.5);
* saddle      x^2 - y^2 + y^4 / 2 = x^2 + (y^2 - 1)^2 / 2 - 1/2: exactly
              x^2 - y^2 near (0, 0), bounded below by the y^4 term, so there
              are minima to reach, at (0, +-1) with f = -1/2. The run starts
              next to the saddle, at (1, 1e-3), where the escaping direction
              y has a gradient of only 2e-3;
* quadratic   (x^2 + 100 y^2) / 2: condition number 100, axis-aligned (the
              case per-coordinate step sizes fix; rotate it and they can't).

Rules are found in `optim` (every Optimizer subclass it exports) and driven
the way each needs: L-BFGS and SAM/ASAM get a closure that recomputes the
loss; AdaHessian and SophiaH a `backward(create_graph=True)` so they can take
Hessian-vector products; SophiaG an `update_hessian()` from the gradient on
"sampled labels" (here: residual targets drawn from N(r, 1/2), whose squared
gradient estimates the Gauss-Newton diagonal 2 diag(J^T J) exactly on
average); schedule-free rules are scored at their averaged point (`eval()`);
Lookahead and SAM/ASAM wrap SGD with momentum 0.9; Muon, which only takes
matrices, gets the point as a 1x2 matrix (its step is then the normalized
momentum). Weight decay is off everywhere: it would move the minimum.

Learning rates come from the table LEARNING_RATES below, which `--sweep`
reproduces: for every rule and problem it tries lr on a half-decade grid
(1e-4 ... 10), and keeps the one reaching the tolerance in the fewest steps
(else the lowest final loss) among those that never leave the map (the
plotted window, widened by its size on each side): a step size that flings
the point far away and lands near the minimum by luck is not a fair win.
The lr-free rules (D-Adaptation, Prodigy) keep lr = 1, the multiplier their
authors intend, and L-BFGS lr = 1, its line search's first guess.

    python examples/optimizer_zoo.py                    # all rules, 200 steps, ~1 min
    python examples/optimizer_zoo.py --rules SGD,Adam,LBFGS --steps 500
    python examples/optimizer_zoo.py --sweep            # re-tune the lr table (minutes)
    python examples/optimizer_zoo.py --smoke            # a handful of rules and steps
"""
import inspect
import math
import os

import _cli
import _plots
import numpy as np
from _zoo_problems import PROBLEMS  # the four test functions

import minigrad
import minigrad.optim as optim

HERE = os.path.dirname(os.path.abspath(__file__))


# --------------------------------------------------------------------- rules
# Families, in the order a learner meets them; they colour the plots and group
# the table. A rule `optim` gains later, and that is not listed here, goes to "other".
FAMILIES = {
    "SGD and momentum": ["SGD", "SGDW", "ASGD", "QHM", "AggMo", "SGDP", "ScheduleFreeSGD"],
    "Adam and its ancestors": ["Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "Adamax",
                               "NAdam", "RAdam", "SparseAdam", "Adafactor"],
    "Adam variants": ["AdaBelief", "Yogi", "DiffGrad", "AdaBound", "AdaMod", "ADOPT", "AdEMAMix",
                      "MARS", "Adan", "AdamP", "QHAdam", "MADGRAD", "ScheduleFreeAdamW"],
    "sign and normalized": ["Rprop", "Lion", "Signum", "LARS", "LAMB", "NovoGrad", "Muon"],
    "curvature": ["LBFGS", "Shampoo", "SOAP", "AdaHessian", "SophiaH", "SophiaG"],
    "learning-rate free": ["DAdaptSGD", "DAdaptAdam", "Prodigy"],
    "wrappers": ["Lookahead", "Ranger", "SAM", "ASAM"],
}
FAMILY_OF = {rule: family for family, rules in FAMILIES.items() for rule in rules}

# lr per rule, for (rosenbrock, beale, saddle, quadratic): the choice of `--sweep`
# (200 steps, half-decade grid), rounded to that grid.
LEARNING_RATES = {
    "SGD": (0.00316, 0.0316, 0.316, 0.01),
    "SGDW": (0.00316, 0.0316, 0.316, 0.01),  # SGD's: without weight decay the two are one rule
    "ASGD": (0.00316, 0.0316, 0.316, 0.01),
    "QHM": (0.01, 0.1, 1, 0.0316),
    "AggMo": (0.000316, 0.001, 0.316, 0.01),
    "SGDP": (0.00316, 0.0316, 0.316, 0.01),
    "ScheduleFreeSGD": (0.00316, 0.0316, 1, 0.0316),
    "Adagrad": (3.16, 1, 1, 3.16),
    "RMSprop": (0.1, 0.1, 0.1, 0.1),
    "Adadelta": (10, 10, 3.16, 10),
    "Adam": (1, 0.316, 0.1, 0.1),
    "AdamW": (1, 0.316, 0.1, 0.1),
    "Adamax": (1, 1, 0.316, 0.1),
    "NAdam": (0.1, 3.16, 0.1, 0.316),
    "RAdam": (0.001, 0.01, 0.316, 0.0316),
    "SparseAdam": (1, 0.316, 0.1, 0.1),
    "Adafactor": (1, 0.0316, 0.1, 1),
    "AdaBelief": (1, 0.316, 0.316, 0.1),
    "Yogi": (1, 0.316, 0.316, 0.1),
    "DiffGrad": (1, 3.16, 0.316, 0.1),
    "AdaBound": (1, 0.316, 0.316, 0.316),
    "AdaMod": (10, 10, 1, 3.16),
    "ADOPT": (3.16, 10, 0.1, 0.1),
    "AdEMAMix": (1, 0.316, 0.1, 0.1),
    "MARS": (0.0316, 0.1, 1, 0.1),
    "Adan": (0.316, 1, 0.316, 3.16),
    "AdamP": (1, 0.316, 0.1, 0.1),
    "QHAdam": (0.1, 1, 0.1, 0.316),
    "MADGRAD": (0.0316, 1, 1, 1),
    "ScheduleFreeAdamW": (1, 1, 1, 3.16),
    "Rprop": (0.0316, 0.1, 0.316, 1),
    "Lion": (0.0316, 0.1, 0.1, 0.1),
    "Signum": (0.01, 0.0316, 0.01, 0.0316),
    "LARS": (10, 3.16, 10, 10),
    "LAMB": (0.316, 0.01, 0.01, 0.1),
    "NovoGrad": (0.1, 0.0316, 0.1, 0.0316),
    "Muon": (0.0316, 0.0316, 0.0316, 0.0316),
    "Shampoo": (1, 3.16, 1, 3.16),
    "SOAP": (0.316, 0.1, 0.316, 0.1),
    "AdaHessian": (3.16, 1, 1, 0.1),
    "SophiaH": (10, 3.16, 1, 3.16),
    "SophiaG": (0.1, 0.1, 0.0316, 0.0316),
    "Lookahead": (0.00316, 0.01, 0.0316, 0.01),
    "Ranger": (0.001, 0.01, 0.316, 0.0316),
    "SAM": (0.001, 0.00316, 0.0316, 0.001),
    "ASAM": (0.001, 0.00316, 0.1, 0.00316),
}
FIXED_LR = {"DAdaptSGD": 1.0, "DAdaptAdam": 1.0, "Prodigy": 1.0,  # lr-free: lr is a multiplier
            "LBFGS": 1.0}  # the strong-Wolfe line search finds the step; 1 is its first guess
SWEEP_GRID = [float(f"{10.0 ** e:.3g}") for e in np.arange(-4.0, 1.1, 0.5)]  # 1e-4 ... 10
DEFAULT_LR = 1e-2  # for a rule missing from the table: run --sweep
SAM_RHO = 0.05
SOPHIA_G_EVERY = 1  # update_hessian() every step: cheap here (the official loop: every 10)


def rule_names():
    """Every update rule `optim` exports: the Optimizer subclasses, but for Combined,
    which steps other rules over parts of the parameters and has no rule of its own."""
    return sorted(name for name, obj in vars(optim).items()
                  if inspect.isclass(obj) and issubclass(obj, optim.Optimizer)
                  and obj not in (optim.Optimizer, optim.Combined))


def table_lr(rule, problem):
    if rule in FIXED_LR:
        return FIXED_LR[rule]
    if rule in LEARNING_RATES:
        return LEARNING_RATES[rule][list(PROBLEMS).index(problem)]
    return DEFAULT_LR


def make_optimizer(rule, params, lr):
    """optim.<rule> with learning rate lr and no weight decay; wrappers wrap SGD
    with momentum, L-BFGS does one iteration (with a line search) per step."""
    if rule == "Lookahead":
        return optim.Lookahead(optim.SGD(params, lr=lr, momentum=0.9), k=5, alpha=0.5)
    if rule in ("SAM", "ASAM"):
        # rho: the radius of the neighbourhood SAM looks at (ASAM's is relative to |w|);
        # ASAM's default 2.0 suits small network weights, not points of size ~1
        return getattr(optim, rule)(params, optim.SGD, rho=SAM_RHO, lr=lr, momentum=0.9)
    if rule == "LBFGS":
        # max_eval: the line search's budget (its default, max_iter * 5 // 4, is 1 here)
        return optim.LBFGS(params, lr=lr, max_iter=1, max_eval=25, line_search_fn="strong_wolfe")
    if rule == "SophiaG":  # one "sample": the loss is not an average over a batch
        return optim.SophiaG(params, lr=lr, weight_decay=0.0, batch_size=1,
                             hessian_refresh_every=SOPHIA_G_EVERY)
    cls = getattr(optim, rule)
    kwargs = {"lr": lr}
    if "weight_decay" in inspect.signature(cls).parameters:
        kwargs["weight_decay"] = 0.0
    return cls(params, **kwargs)


# ---------------------------------------------------------------- one run
def take_step(optimizer, p, problem, step, counter):
    """One optimizer step, fed the way the rule needs; counter["backward"]
    counts backward passes (closure calls and Hessian-vector products included)."""
    def closure():
        optimizer.zero_grad()
        loss = problem.loss(p)
        loss.backward()
        counter["backward"] += 1
        return loss

    if optimizer.needs_closure:  # LBFGS, SAM, ASAM
        optimizer.zero_grad()
        optimizer.step(closure)  # they call the closure themselves, as often as they need
    elif optimizer.needs_create_graph:  # AdaHessian, SophiaH
        optimizer.zero_grad()
        # create_graph: p.grad keeps its graph, so H z is one more backward through it
        problem.loss(p).backward(create_graph=True)
        due = isinstance(optimizer, optim.AdaHessian) or \
            optimizer.param_groups[0]["step"] % optimizer.update_period == 0
        counter["backward"] += 2 if due else 1
        optimizer.step()
        optimizer.zero_grad()  # drop the gradient's graph
    elif optimizer.hessian_refresh_every:  # SophiaG
        closure()
        optimizer.step()
        if step % optimizer.hessian_refresh_every == 0:
            optimizer.zero_grad()
            problem.gauss_newton_probe(p).backward()
            counter["backward"] += 1
            optimizer.update_hessian()
    else:
        closure()
        optimizer.step()


def scored_point(optimizer, p):
    """Where the rule's answer is: the parameter, or for schedule-free rules
    their averaged point x (the parameter holds y while training)."""
    if hasattr(optimizer, "eval"):
        optimizer.eval()
        point = p.data.reshape(2).copy()
        optimizer.train()
        return point
    return p.data.reshape(2).copy()


def run(rule, problem, lr, steps, seed=0):
    """`steps` steps of `rule` on `problem` from its start (float64, so tiny
    losses near the minimum are not rounding noise). Returns the path, the
    excess loss f - f* after each step, and the step that reached the tolerance."""
    minigrad.manual_seed(seed)  # Hutchinson and Gauss-Newton probes are random
    shape = (1, 2) if rule == "Muon" else (2,)  # Muon only takes matrices
    p = minigrad.tensor(np.array(problem.start, dtype=np.float64).reshape(shape),
                        requires_grad=True)
    optimizer = make_optimizer(rule, [p], lr)
    counter = {"backward": 0}
    points = np.full((steps + 1, 2), np.nan)
    points[0] = problem.start
    diverged, done = False, 0
    for step in range(steps):
        take_step(optimizer, p, problem, step, counter)
        done += 1
        point = scored_point(optimizer, p)
        if not problem.on_map(point):  # nan, inf, or far off the plotted window
            diverged = True
            break
        points[step + 1] = point
    excess = problem.value(points[:, 0], points[:, 1]) - problem.f_star
    # the first step from which the loss STAYS within the tolerance (a rule that
    # only passes through it, oscillating, has not converged); nan compares False
    inside = excess <= problem.tol
    stays = np.logical_and.accumulate(inside[::-1])[::-1]
    reached = np.flatnonzero(stays)
    return {"rule": rule, "problem": problem.name, "lr": lr, "points": points, "excess": excess,
            "steps_to_tol": int(reached[0]) if reached.size else None,
            "final_excess": float(excess[-1]) if not diverged else math.inf,
            "diverged": diverged, "backward_per_step": counter["backward"] / max(done, 1)}


def score(result):
    """Fewest steps to the tolerance, then lowest final loss (lower is better)."""
    steps = result["steps_to_tol"]
    final = result["final_excess"]
    return (math.inf if steps is None else steps, final if np.isfinite(final) else math.inf)


def sweep(rule, problem, steps, seed=0):
    """Every lr of SWEEP_GRID; returns the best run (it carries its lr)."""
    runs = [run(rule, problem, lr, steps, seed) for lr in SWEEP_GRID]
    return min(runs, key=score)


# --------------------------------------------------------------------- report
def ordered(rules):
    """Rules in family order (as FAMILIES lists them), unknown ones last."""
    known = [r for rules_ in FAMILIES.values() for r in rules_]
    return sorted(rules, key=lambda r: (known.index(r) if r in known else len(known), r))


def print_table(results, rules, problems):
    """Per rule and problem: lr, steps to reach f - f* <= tol, final f - f*."""
    print("\nsteps until f - f* stays <= tol (- : never), and f - f* after the last step;")
    print("backward passes per step (closure calls and Hessian-vector products included), "
          "averaged over the problems")
    head = f"{'rule':18s}{'backward':>9s}"
    for name in problems:
        head += f" | {name + ' (tol ' + format(PROBLEMS[name].tol, 'g') + ')':^27s}"
    print(head)
    print(f"{'':18s}{'/step':>9s}" + " | {:>8s} {:>6s} {:>11s}".format("lr", "steps", "final")
          * len(problems))
    for rule in rules:
        backward = np.mean([results[rule][name]["backward_per_step"] for name in problems])
        row = f"{rule:18s}{backward:9.2f}"
        for name in problems:
            r = results[rule][name]
            steps = "-" if r["steps_to_tol"] is None else str(r["steps_to_tol"])
            final = "left map" if r["diverged"] else f"{r['final_excess']:.2e}"
            row += f" | {r['lr']:8.3g} {steps:>6s} {final:>11s}"
        print(row)


def plot_paths(results, rules, problem, path):
    """One small panel per rule: its path over the contour map of log10(f - f*),
    with plain SGD's path in grey for reference."""
    plt = pyplot()
    (x0, x1, y0, y1) = problem.window
    X, Y = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
    Z = np.log10(np.maximum(problem.value(X, Y) - problem.f_star, 1e-12))
    cols = min(8, len(rules))
    rows = math.ceil(len(rules) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 2.1 * rows), squeeze=False)
    colours = family_colours()
    for ax in axes.flat[len(rules):]:
        ax.axis("off")
    for ax, rule in zip(axes.flat, rules):
        ax.contour(X, Y, Z, levels=15, colors="0.75", linewidths=0.5)
        if "SGD" in results and rule != "SGD":
            ref = results["SGD"][problem.name]["points"]
            ax.plot(ref[:, 0], ref[:, 1], color="0.6", lw=0.8)
        r = results[rule][problem.name]
        ax.plot(r["points"][:, 0], r["points"][:, 1], ".-", ms=1.5, lw=0.9,
                color=colours[FAMILY_OF.get(rule, "other")])
        ax.plot(*problem.start, "ko", ms=3)
        for minimum in problem.minima:
            ax.plot(*minimum, "*", color="gold", mec="k", mew=0.4, ms=8)
        steps = "-" if r["steps_to_tol"] is None else r["steps_to_tol"]
        ax.set_title(f"{rule}  lr {r['lr']:.3g}  [{steps}]", fontsize=7)
        ax.set(xlim=(x0, x1), ylim=(y0, y1), xticks=[], yticks=[])
    fig.suptitle(f"{problem.name}: paths (grey: SGD; [steps to f - f* <= {problem.tol:g}])")
    fig.tight_layout()
    return _plots.save(fig, path, dpi=80)


def plot_losses(results, rules, problem, path):
    """f - f* against the step, one panel per family (log scale)."""
    plt = pyplot()
    families = [f for f in list(FAMILIES) + ["other"]
                if any(FAMILY_OF.get(r, "other") == f for r in rules)]
    cols = min(4, len(families))
    rows = math.ceil(len(families) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat[len(families):]:
        ax.axis("off")
    for ax, family in zip(axes.flat, families):
        members = [rule for rule in rules if FAMILY_OF.get(rule, "other") == family]
        colours = plt.cm.tab20(np.arange(len(members)) % 20)  # distinct beyond 10 lines
        for rule, colour in zip(members, colours):
            excess = results[rule][problem.name]["excess"]
            ax.semilogy(np.maximum(excess, 1e-16), lw=1, color=colour, label=rule)
        ax.axhline(problem.tol, color="gray", ls="--", lw=0.8)
        ax.set(title=family, xlabel="step", ylabel="f - f*")
        ax.legend(fontsize=6)
    fig.suptitle(f"{problem.name}: loss above the minimum (dashed: tolerance)")
    fig.tight_layout()
    return _plots.save(fig, path, dpi=80)


def family_colours():
    palette = ["C0", "C1", "C2", "C3", "C4", "C5", "C6", "C7"]
    return dict(zip(list(FAMILIES) + ["other"], palette))


def pyplot():
    import matplotlib
    matplotlib.use("Agg")  # files only: works without a display
    import matplotlib.pyplot as plt
    return plt


# ----------------------------------------------------------------------- main
def parse_names(text, known, what):
    """'adam,sgd' -> ['Adam', 'SGD'] (case-insensitive), with a clear error."""
    by_lower = {k.lower(): k for k in known}
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n.lower() not in by_lower]
    if unknown:
        raise SystemExit(f"unknown {what} {', '.join(unknown)}; choose from: {', '.join(known)}")
    return [by_lower[n.lower()] for n in names]


SMOKE_RULES = "SGD,Adam,Adagrad,RMSprop,LBFGS,SAM,AdaHessian,SophiaG,ScheduleFreeAdamW,Lookahead"


def main(argv=None):
    parser = _cli.parser(__doc__)
    parser.add_argument("--rules", default=None,
                        help="comma-separated subset of the rules (default: all of optim's)")
    parser.add_argument("--problems", default=",".join(PROBLEMS),
                        help=f"comma-separated subset of: {', '.join(PROBLEMS)}")
    parser.add_argument("--steps", type=_cli.positive_int, default=200)
    parser.add_argument("--sweep", action="store_true",
                        help="tune lr per rule and problem on a log grid instead of the table")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None,
                        help="folder for the plots (default runs/optimizer_zoo, "
                             "or runs/optimizer_zoo-smoke with --smoke)")
    parser.add_argument("--smoke", action="store_true", help=f"rules {SMOKE_RULES}, 50 steps")
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    args.out = _cli.output_folder(args.out, "optimizer_zoo", args.smoke)
    if args.smoke:
        args.rules = args.rules or SMOKE_RULES
        args.steps = 50
    rules = ordered(parse_names(args.rules, rule_names(), "rule") if args.rules else rule_names())
    problems = parse_names(args.problems, list(PROBLEMS), "problem")

    results = {rule: {} for rule in rules}
    for rule in rules:
        for name in problems:
            problem = PROBLEMS[name]
            if args.sweep and rule not in FIXED_LR:
                results[rule][name] = sweep(rule, problem, args.steps, args.seed)
            else:
                results[rule][name] = run(rule, problem, table_lr(rule, name), args.steps,
                                          args.seed)
    if args.sweep:
        complete = problems == list(PROBLEMS)  # then the lines fit the LEARNING_RATES table
        print("learning rates chosen by the sweep" + (" (LEARNING_RATES lines):" if complete
                                                      else ":"))
        for rule in rules:
            if rule not in FIXED_LR:
                lrs = ", ".join(f"{results[rule][n]['lr']:g}" if complete else
                                f"{n} {results[rule][n]['lr']:g}" for n in problems)
                print(f'    "{rule}": ({lrs}),' if complete else f"    {rule}: {lrs}")
    else:
        print("learning rates: the table LEARNING_RATES (--sweep re-tunes them)")
    print_table(results, rules, problems)

    plots = []
    if not args.no_plots:
        os.makedirs(args.out, exist_ok=True)
        for name in problems:
            plots.append(plot_paths(results, rules, PROBLEMS[name],
                                    os.path.join(args.out, f"zoo_{name}_paths.png")))
            plots.append(plot_losses(results, rules, PROBLEMS[name],
                                     os.path.join(args.out, f"zoo_{name}_loss.png")))
        print(f"\nplots written to {args.out}/")
    summary = {rule: {name: {k: v for k, v in r.items() if k not in ("points", "excess")}
                      for name, r in per_rule.items()} for rule, per_rule in results.items()}
    for rule, per_rule in results.items():
        for name, r in per_rule.items():
            summary[rule][name]["start_excess"] = float(r["excess"][0])
            summary[rule][name]["excess"] = r["excess"]
    return {"results": summary, "rules": rules, "problems": problems, "steps": args.steps,
            "plots": plots}


if __name__ == "__main__":
    main()
