"""Gradient descent three ways on the smallest problem there is: (theta - 3)^2.

The data are noisy measurements y_i = 3 + noise; the loss is the mean of
(theta - y_i)^2, minimized at the sample mean (about 3).

* full-batch gradient descent: every step uses all the measurements;
* stochastic gradient descent: every step uses a small random batch, so each
  gradient is a noisy estimate and theta jitters around the minimum;
* Adam: full batch, with per-parameter step sizes from gradient moments.

All three are `optim` rules: full-batch GD and SGD are the same `optim.SGD`
with different data, which is the point of this lesson. The loop is written
out here on purpose; docs/tutorials/04-training-tricks.md runs the same
problem through `minigrad.training.fit`, stopped by the gradient criterion.

    python examples/gradient_descent.py
    python examples/gradient_descent.py --steps 100 --lr 0.05 --batch-size 1
"""
import os

import _cli
import _plots
import numpy as np

import minigrad
import minigrad.optim as optim


def loss_on(theta, samples):
    return ((theta - samples) ** 2.0).mean()


def run(make_optimizer, samples, steps, batch_size, rng):
    """Minimize from theta = 0; returns theta and full-data loss after each step."""
    theta = minigrad.tensor([0.0], requires_grad=True)
    optimizer = make_optimizer([theta])
    full = minigrad.tensor(samples)
    thetas, losses = [0.0], [loss_on(theta, full).item()]
    for _ in range(steps):
        batch = samples if batch_size is None else rng.choice(samples, batch_size, replace=False)
        optimizer.zero_grad()
        loss_on(theta, minigrad.tensor(batch)).backward()
        optimizer.step()
        with minigrad.no_grad():
            losses.append(loss_on(theta, full).item())
        thetas.append(theta.item())
    return np.array(thetas), np.array(losses)


def main(argv=None):
    parser = _cli.parser(__doc__)
    parser.add_argument("--steps", type=_cli.positive_int, default=50)
    parser.add_argument("--lr", type=float, default=0.1, help="learning rate of GD and SGD")
    parser.add_argument("--adam-lr", type=float, default=0.3)
    parser.add_argument("--batch-size", type=_cli.positive_int, default=4, help="SGD's mini-batch size")
    parser.add_argument("--samples", type=_cli.positive_int, default=100)
    parser.add_argument("--noise", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None,
                        help="folder for the plot (default runs/gradient_descent, "
                             "or runs/gradient_descent-smoke with --smoke)")
    parser.add_argument("--smoke", action="store_true", help="a quick run (tests)")
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    args.out = _cli.output_folder(args.out, "gradient_descent", args.smoke)
    if args.smoke:
        args.steps = 20

    rng = np.random.default_rng(args.seed)
    samples = 3.0 + args.noise * rng.normal(size=args.samples)
    runs = {
        "full-batch GD": run(lambda p: optim.SGD(p, lr=args.lr), samples, args.steps, None, rng),
        f"SGD (batch {args.batch_size})": run(lambda p: optim.SGD(p, lr=args.lr), samples,
                                              args.steps, args.batch_size, rng),
        "Adam": run(lambda p: optim.Adam(p, lr=args.adam_lr), samples, args.steps, None, rng),
    }
    best = float(((samples - samples.mean()) ** 2).mean())
    names = list(runs)
    print(f"minimum: theta* = {samples.mean():.4f}, loss* = {best:.4f}\n")
    print("step " + "".join(f"{name:>26s}" for name in names))
    every = max(1, args.steps // 10)
    for step in list(range(0, args.steps + 1, every)):
        cells = "".join(f"  theta {runs[n][0][step]:7.4f} loss {runs[n][1][step]:7.4f}" for n in names)
        print(f"{step:4d} {cells}")
    summary = {name: {"theta": float(th[-1]), "loss": float(ls[-1])} for name, (th, ls) in runs.items()}
    print("\nafter", args.steps, "steps:")
    for name, s in summary.items():
        print(f"  {name:18s} theta = {s['theta']:.4f}   loss - loss* = {s['loss'] - best:.2e}")

    plots = []
    if not args.no_plots:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        os.makedirs(args.out, exist_ok=True)
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for name, (thetas, losses) in runs.items():
            axes[0].plot(thetas, label=name)
            axes[1].semilogy(np.maximum(losses - best, 1e-12), label=name)
        axes[0].axhline(samples.mean(), color="gray", ls="--", lw=1)
        axes[0].set(title="theta over steps", xlabel="step", ylabel="theta")
        axes[1].set(title="excess loss (log scale)", xlabel="step", ylabel="loss - loss*")
        axes[0].legend()
        fig.tight_layout()
        path = os.path.join(args.out, "gradient_descent.png")
        plots.append(_plots.save(fig, path))
        print(f"plot written to {path}")
    return {"runs": summary, "best_loss": best, "theta_star": float(samples.mean()),
            "plots": plots}


if __name__ == "__main__":
    main()
