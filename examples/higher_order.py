"""What `create_graph=True` gives: derivatives of derivatives.

Part 1 differentiates tanh four times by running backward on the graph of the
previous backward, and checks each derivative against its closed form.

Part 2 minimizes a regularized logistic-regression loss with Newton's method,
where each Newton direction solves H d = -g by conjugate gradients using only
Hessian-vector products (one double-backward each, never the full Hessian),
and compares it with plain gradient descent.

    python examples/higher_order.py            # prints tables, writes PNG plots
    python examples/higher_order.py --smoke    # a quick run (used by the tests)
"""
import os

import _cli
import _plots
import numpy as np

import minigrad


# ------------------------------------------------------------ part 1: tanh^(n)
def tanh_derivatives(x, order):
    """[tanh(x), tanh'(x), ..., tanh^(order)(x)], each by backward on the last."""
    x = minigrad.tensor(x, requires_grad=True)
    results = [x.tanh()]
    for _ in range(order):
        (d,) = minigrad.grad(results[-1].sum(), x, create_graph=True)
        results.append(d)
    return [r.numpy() for r in results]


def tanh_closed_forms(x):
    """The same derivatives by hand, in terms of t = tanh(x)."""
    t = np.tanh(x)
    s = 1 - t ** 2  # sech^2
    return [t, s, -2 * t * s, -2 * s * (1 - 3 * t ** 2), 8 * t * s * (2 - 3 * t ** 2)]


# ----------------------------------------------------- part 2: Newton with HVPs
def make_problem(n_samples, n_features, seed=0):
    rng = np.random.default_rng(seed)
    scales = np.logspace(0, 1.5, n_features)  # badly scaled features: hard for GD
    X = rng.normal(size=(n_samples, n_features)) * scales
    w_true = rng.normal(size=n_features) / scales
    y = (X @ w_true + 0.5 * rng.normal(size=n_samples) > 0).astype(np.float64)
    return minigrad.tensor(X), minigrad.tensor(y)


def logistic_loss(w, X, y, l2=1e-2):
    """mean(log(1 + exp(z)) - y z) + l2/2 |w|^2 with z = X w (softplus written stably)."""
    z = X @ w
    softplus = z.maximum(0.0) + (1.0 + (-z.abs()).exp()).log()
    return (softplus - y * z).mean() + 0.5 * l2 * (w * w).sum()


def hessian_vector_product(loss_fn, w, v):
    """H v = d/dw <grad f(w), v>: backward through the graph of the gradient."""
    (g,) = minigrad.grad(loss_fn(w), w, create_graph=True)
    (hv,) = minigrad.grad((g * v).sum(), w)
    return hv


def conjugate_gradient(matvec, b, iterations, tol=1e-10):
    """Solve A x = b for symmetric positive definite A given only x -> A x."""
    x = np.zeros_like(b)
    r = b.copy()
    p = r.copy()
    rs = r @ r
    for _ in range(iterations):
        Ap = matvec(p)
        alpha = rs / (p @ Ap)
        x += alpha * p
        r -= alpha * Ap
        rs_new = r @ r
        if np.sqrt(rs_new) < tol:
            break
        p = r + (rs_new / rs) * p
        rs = rs_new
    return x


def newton(loss_fn, w0, steps, cg_iterations):
    w = minigrad.tensor(w0.copy(), requires_grad=True)
    losses = []
    for _ in range(steps):
        loss = loss_fn(w)
        losses.append(loss.item())
        (g,) = minigrad.grad(loss, w)
        hvp = lambda v: hessian_vector_product(loss_fn, w, minigrad.tensor(v)).numpy()  # noqa: E731
        direction = conjugate_gradient(hvp, -g.numpy(), cg_iterations)
        # Damped Newton: halve the step until the loss goes down (far from the
        # minimum the quadratic model can overshoot; near it the full step wins).
        step, current = 1.0, losses[-1]
        with minigrad.no_grad():
            while step > 1e-4:
                trial = loss_fn(minigrad.tensor(w.data + step * direction)).item()
                if trial < current:
                    break
                step *= 0.5
            w.data += step * direction
    losses.append(loss_fn(w).item())
    return losses


def gradient_descent(loss_fn, w0, steps, lr):
    w = minigrad.tensor(w0.copy(), requires_grad=True)
    losses = []
    for _ in range(steps):
        loss = loss_fn(w)
        losses.append(loss.item())
        (g,) = minigrad.grad(loss, w)
        with minigrad.no_grad():
            w.data -= lr * g.data
    losses.append(loss_fn(w).item())
    return losses


def main(argv=None):
    parser = _cli.parser(__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny, fast run")
    parser.add_argument("--out", default=None,
                        help="folder for the plots (default runs/higher_order, "
                             "or runs/higher_order-smoke with --smoke)")
    parser.add_argument("--newton-steps", type=_cli.positive_int, default=8)
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    args.out = _cli.output_folder(args.out, "higher_order", args.smoke)
    os.makedirs(args.out, exist_ok=True)

    x = np.linspace(-3, 3, 13 if args.smoke else 201)
    ours = tanh_derivatives(x, 4)
    exact = tanh_closed_forms(x)
    print("order  max |autograd - closed form|")
    errors = []
    for order, (a, b) in enumerate(zip(ours, exact)):
        errors.append(float(np.abs(a - b).max()))
        print(f"{order:5d}  {errors[-1]:.2e}")

    n, d = (200, 5) if args.smoke else (2000, 20)
    X, y = make_problem(n, d)
    loss_fn = lambda w: logistic_loss(w, X, y)  # noqa: E731
    w0 = np.zeros(d)
    newton_losses = newton(loss_fn, w0, args.newton_steps, cg_iterations=2 * d)
    # The largest safe GD step is 1/L, L = the largest curvature: |X|^2 / (4 n) + l2.
    smoothness = np.linalg.norm(X.numpy(), 2) ** 2 / (4 * n) + 1e-2
    gd_losses = gradient_descent(loss_fn, w0, 3 if args.smoke else 200, lr=1.0 / smoothness)
    best = newton_losses[-1]
    print("\nstep  Newton-CG loss      gradient-descent loss")
    for step in range(len(newton_losses)):
        print(f"{step:4d}  {newton_losses[step]:.12f}  {gd_losses[min(step, len(gd_losses) - 1)]:.12f}")
    print(f"gradient descent after {len(gd_losses) - 1} steps: {gd_losses[-1]:.6f} "
          f"(Newton reached {best:.6f} in {args.newton_steps})")

    plots = []
    if not args.no_plots:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for order, values in enumerate(ours):
            axes[0].plot(x, values, label=f"tanh^({order})" if order else "tanh")
        axes[0].set_title("tanh and its derivatives by repeated backward")
        axes[0].legend()
        axes[1].semilogy(np.maximum(np.array(newton_losses) - best, 1e-16), "o-", label="Newton-CG")
        axes[1].semilogy(np.maximum(np.array(gd_losses) - best, 1e-16), label="gradient descent")
        axes[1].set_xlabel("step")
        axes[1].set_ylabel("loss - best")
        axes[1].set_title("Newton with Hessian-vector products")
        axes[1].legend()
        fig.tight_layout()
        path = os.path.join(args.out, "higher_order.png")
        plots.append(_plots.save(fig, path))
        print(f"plot written to {path}")
    return {"derivative_errors": errors, "newton_losses": newton_losses, "gd_losses": gd_losses,
            "plots": plots}


if __name__ == "__main__":
    main()
