"""Linear regression with nn.Linear and mini-batch SGD: recover known weights.

Synthetic data y = X w_true + b_true + noise with 10 features; a Linear(10, 1)
model trained on mean squared error with SGD should find w_true and b_true
(up to the noise). The script prints the loss per epoch and, at the end, the
true and learned weights side by side with the least-squares solution.

    python examples/linear_regression.py
    python examples/linear_regression.py --epochs 50 --lr 0.05 --batch-size 16
"""
import os

import _cli
import _plots
import numpy as np

import minigrad
import minigrad.functional as F
import minigrad.nn as nn
import minigrad.optim as optim
from minigrad.data import DataLoader, TensorDataset


def make_data(n, features, noise, seed):
    rng = np.random.default_rng(seed)
    w_true = rng.uniform(-2, 2, size=features)
    b_true = 0.5
    X = rng.normal(size=(n, features)).astype(np.float32)
    y = (X @ w_true + b_true + noise * rng.normal(size=n)).astype(np.float32)
    return X, y[:, None], w_true, b_true


def main(argv=None):
    parser = _cli.parser(__doc__)
    parser.add_argument("--samples", type=_cli.positive_int, default=1000)
    parser.add_argument("--features", type=_cli.positive_int, default=10)
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--epochs", type=_cli.positive_int, default=20)
    parser.add_argument("--batch-size", type=_cli.positive_int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--momentum", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None,
                        help="folder for the plot (default runs/linear_regression, "
                             "or runs/linear_regression-smoke with --smoke)")
    parser.add_argument("--smoke", action="store_true", help="a quick run (tests)")
    parser.add_argument("--no-plots", action="store_true")
    _cli.add_device(parser)
    args = parser.parse_args(argv)
    _cli.check_device(parser, args.device)
    args.out = _cli.output_folder(args.out, "linear_regression", args.smoke)
    if args.smoke:
        args.samples, args.epochs = 256, 5

    minigrad.manual_seed(args.seed)
    X, y, w_true, b_true = make_data(args.samples, args.features, args.noise, args.seed)
    loader = DataLoader(TensorDataset(X, y), batch_size=args.batch_size, shuffle=True,
                        seed=args.seed, device=args.device)
    model = nn.Linear(args.features, 1).to(args.device)
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)

    losses = []
    for epoch in range(1, args.epochs + 1):
        total, count = 0.0, 0  # (total: summed on the device, read once an epoch)
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = F.mse_loss(model(xb), yb)
            loss.backward()
            optimizer.step()
            total = total + loss.data * len(xb)
            count += len(xb)
        losses.append(float(total) / count)
        print(f"epoch {epoch:3d}  train MSE {losses[-1]:.5f}")

    w_learned = model.weight.numpy().ravel()
    b_learned = float(model.bias.numpy()[0])
    design = np.hstack([X, np.ones((len(X), 1), np.float32)]).astype(np.float64)
    least_squares = np.linalg.lstsq(design, y.astype(np.float64), rcond=None)[0].ravel()
    print("\n      true     learned  least squares")
    for i, (a, b, c) in enumerate(zip(w_true, w_learned, least_squares)):
        print(f"w{i:<3d} {a:8.4f}  {b:8.4f}  {c:8.4f}")
    print(f"b    {b_true:8.4f}  {b_learned:8.4f}  {least_squares[-1]:8.4f}")
    error = float(np.abs(np.append(w_learned, b_learned) - least_squares).max())
    print(f"\nmax |learned - least squares| = {error:.2e}")

    plots = []
    if not args.no_plots:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        os.makedirs(args.out, exist_ok=True)
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        axes[0].semilogy(range(1, len(losses) + 1), losses, "o-")
        axes[0].axhline(args.noise ** 2, color="gray", ls="--", lw=1, label="noise variance")
        axes[0].set(title="training loss", xlabel="epoch", ylabel="MSE")
        axes[0].legend()
        axes[1].scatter(w_true, w_learned)
        lim = np.abs(w_true).max() * 1.1
        axes[1].plot([-lim, lim], [-lim, lim], color="gray", lw=1)
        axes[1].set(title="learned vs true weights", xlabel="true", ylabel="learned")
        fig.tight_layout()
        path = os.path.join(args.out, "linear_regression.png")
        plots.append(_plots.save(fig, path))
        print(f"plot written to {path}")
    return {"losses": losses, "w_true": w_true, "w_learned": w_learned, "b_learned": b_learned,
            "least_squares": least_squares, "max_error": error, "plots": plots}


if __name__ == "__main__":
    main()
