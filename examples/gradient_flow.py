"""Vanishing and exploding gradients, and what fixes them: per-layer gradient norms and
activation histograms of a deep MLP and a small CNN, before and after training.

Backpropagation multiplies the gradient by one Jacobian per layer. Through a layer
z = W h, a = f(z), the gradient with respect to h is W^T (f'(z) * dL/da), so its size
changes at each layer by about

    gain = sqrt(fan_out * Var(w)) * rms(f'(z))

and after D layers by gain^D: below 1 it vanishes, above 1 it explodes. A layer's
weight gradient dL/dW = (dL/dz) h^T is that backward signal times the forward one, h.
The table gives, at step 0, ||dL/dW|| of the first layer over the head's (first/last),
the largest over the smallest (max/min), the largest, then first/last after training and
the final training loss. What to look for (the default run's figures):

    sigmoid-naive     w ~ N(0, 1): pre-activations of std ~5 saturate the sigmoid (over
                      half the outputs within 0.05 of 0 or 1); first/last 1e-2
    sigmoid-xavier    Var(w) = 2/(fan_in + fan_out) keeps the forward signal, but
                      sigmoid' <= 1/4: the gradient shrinks ~4x per layer, first/last
                      1.6e-8, and the loss stays at chance (ln 4 = 1.386)
    tanh-xavier       tanh'(0) = 1: Xavier's assumption holds; max/min 2, it trains
    relu-naive        w ~ N(0, 1): gain sqrt(64 / 2) ~ 5.7 per layer, backward AND forward,
                      so every layer's ||dL/dW|| is ~1e9 (flat but huge); the first SGD
                      step diverges
    relu-he           Var(w) = 2/fan_in (He): gain ~1, max/min 2.4, it trains
    relu-naive-bn     batch norm after each linear layer: BN(c W h) = BN(W h), so the same
                      forward pass as He's and gradients 1/c as large: it trains, slowly
                      (an SGD step changes W by lr/c^2 relative to its size)
    relu-he-bn        He + batch norm: the gradient grows toward the input ~1.2x per
                      layer (BN at init does that; max/min 15), and it trains
    relu-he-residual  h + Linear(ReLU(h)) / sqrt(depth): the identity path carries the
                      gradient; the 1/sqrt(depth) makes Var(h) grow ~(1 + 1/D) per block
                      instead of doubling
    sigmoid-xavier-residual  the same around sigmoid: the identity skips the sigmoid's
                      1/4 (first/last 0.13 instead of 1.6e-8); the gradients flow, but
                      near 0.5 the sigmoid is almost linear, and no linear model beats
                      chance on this task, so 300 steps leave it near ln 4
    cnn-default       3x3 convs + ReLU with the layers' default init (PyTorch's
                      U(+-1/sqrt(fan_in))): Var(w) = 1/(3 fan_in), gain 1/sqrt(6) ~ 0.41
                      per layer: first/last 2e-6, stuck at chance
    cnn-default-bn    the same CNN with BatchNorm2d after each convolution: it trains
    cnn-he            the same CNN with He init: the gradients reach every layer
                      (max/min 8.5), but without BN training is fragile: with seed 0 a
                      loss spike near step 85 leaves the upper blocks' ReLUs almost all
                      dead and the loss back at ln 4 (seed 1 trains, to ~0.3)

The data are SYNTHETIC: 12x12 images of noisy stripes at one of four angles
(0, 45, 90, 135 degrees), random frequency and phase (so no linear classifier does
better than chance); the MLP sees them flattened. All configurations train with the
same SGD (momentum 0.9) on the same batches.

    python examples/gradient_flow.py             # about a minute of CPU
    python examples/gradient_flow.py --depth 20 --steps 600
    python examples/gradient_flow.py --smoke     # seconds
"""
import argparse
import math
import os

import _cli
import _plots
import numpy as np

import minigrad
import minigrad.functional as F
import minigrad.nn as nn
import minigrad.optim as optim

CLASSES = 4
ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}
CONFIGS = {  # name: (model, activation, weight init, batch norm, residual)
    "sigmoid-naive": ("mlp", "sigmoid", "naive", False, False),
    "sigmoid-xavier": ("mlp", "sigmoid", "xavier", False, False),
    "tanh-xavier": ("mlp", "tanh", "xavier", False, False),
    "relu-naive": ("mlp", "relu", "naive", False, False),
    "relu-he": ("mlp", "relu", "he", False, False),
    "relu-naive-bn": ("mlp", "relu", "naive", True, False),
    "relu-he-bn": ("mlp", "relu", "he", True, False),
    "relu-he-residual": ("mlp", "relu", "he", False, True),
    "sigmoid-xavier-residual": ("mlp", "sigmoid", "xavier", False, True),
    "cnn-default": ("cnn", "relu", "default", False, False),
    "cnn-default-bn": ("cnn", "relu", "default", True, False),
    "cnn-he": ("cnn", "relu", "he", False, False),
}


# ---------------------------------------------------------------------- data
def stripes(n, size=12, seed=0):
    """n images (n, 1, size, size) of sin(k (x cos t + y sin t) + phase) plus noise, and
    their labels: the angle t = label * 45 degrees. Values have mean 0, std ~0.9."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, size=n)
    angle = labels * np.pi / CLASSES
    k = rng.uniform(0.6, 1.2, size=n)  # radians per pixel: one to two stripes per 10 pixels
    phase = rng.uniform(0, 2 * np.pi, size=n)
    y, x = np.mgrid[0:size, 0:size]
    along = (x[None] * np.cos(angle)[:, None, None] + y[None] * np.sin(angle)[:, None, None])
    images = np.sin(k[:, None, None] * along + phase[:, None, None])
    images = images + rng.normal(0, 0.5, size=images.shape)  # (n, size, size)
    return images[:, None].astype(np.float32), labels.astype(np.int64)


# -------------------------------------------------------------------- models
def initialize(layer, scheme):
    """Set a Linear/Conv2d weight (bias to 0) by `scheme`; "default" keeps the layer's own."""
    if scheme == "default":
        return
    fan_in, fan_out = nn.init.calculate_fan_in_and_fan_out(layer.weight)
    std = {"naive": 1.0,                              # what a first attempt often does
           "xavier": math.sqrt(2 / (fan_in + fan_out)),  # Var(out) = Var(in), tanh-like f
           "he": math.sqrt(2 / fan_in)}[scheme]          # ReLU zeroes half: twice Var
    nn.init.normal_(layer.weight, 0.0, std)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


class DeepNet(nn.Module):
    """`depth` blocks (linear or 3x3 conv, [batch norm], activation) and a linear head.

    With residual=True the blocks after the first are pre-activation branches added to their
    input, h + W f(h) / sqrt(D): the Jacobian is I + W diag(f'(h)) / sqrt(D), so the
    gradient reaches every block through the identity; with He init and ReLU,
    Var(W ReLU(h)) ~ Var(h), so Var(h) grows ~(1 + 1/D) per block instead of doubling."""

    def __init__(self, kind, activation, init, batch_norm, residual, depth, width, size):
        # width: units of the MLP's blocks, channels of the CNN's
        super().__init__()
        self.kind, self.residual, self.depth = kind, residual, depth
        blocks = []
        for i in range(depth):
            if kind == "mlp":
                weight = nn.Linear(size * size if i == 0 else width, width, bias=not batch_norm)
                norm = [nn.BatchNorm1d(width)] if batch_norm else []
            else:
                weight = nn.Conv2d(1 if i == 0 else width, width, 3, padding=1, bias=not batch_norm)
                norm = [nn.BatchNorm2d(width)] if batch_norm else []
            initialize(weight, init)  # BN's own bias replaces the layer's
            if residual and i > 0:  # pre-activation: a zero-mean branch, so the sums don't drift
                blocks.append(nn.Sequential(*norm, ACTIVATIONS[activation](), weight))
            else:
                blocks.append(nn.Sequential(weight, *norm, ACTIVATIONS[activation]()))
        self.blocks = nn.ModuleList(blocks)
        features = width if kind == "mlp" else width * (size // 4) ** 2
        self.head = nn.Linear(features, CLASSES)
        initialize(self.head, "xavier" if init != "default" else "default")

    def forward(self, x):
        h = x.reshape(x.shape[0], -1) if self.kind == "mlp" else x  # (N, S*S) or (N, 1, S, S)
        for i, block in enumerate(self.blocks):
            h = h + block(h) / math.sqrt(self.depth) if self.residual and i > 0 else block(h)
        if self.kind == "cnn":
            h = F.avg_pool2d(h, 4).reshape(h.shape[0], -1)  # (N, width * S/4 * S/4)
        return self.head(h)

    def weights(self):
        """The weight of each block's linear/conv layer, then the head's: the 'layers'."""
        return ([block[-1 if self.residual and i > 0 else 0].weight for i, block in enumerate(self.blocks)]
                + [self.head.weight])


# ------------------------------------------------------------------ training
def record_outputs(model, kinds=None):
    """Forward hooks on every module of the classes `kinds` (by default: each block's
    nonlinearity): each forward pass appends their outputs, flat NumPy arrays, to the
    list returned. Returns (that list, the hooks' handles: .remove() stops recording)."""
    kinds = tuple(ACTIVATIONS.values()) if kinds is None else kinds
    outputs = []

    def keep(module, args, output):
        outputs.append(output.detach().numpy().ravel())
    return outputs, [m.register_forward_hook(keep) for m in model.modules() if isinstance(m, kinds)]


def snapshot(model, activations):
    """Per-layer gradient norms ||dL/dW_l|| (after backward) and the recorded activations."""
    return {"grad_norms": np.array([float(np.linalg.norm(w.grad.numpy())) for w in model.weights()]),
            "activations": activations}


def train(name, args, images, labels):
    """Train one configuration for args.steps SGD steps on batches drawn with args.seed.

    Returns {"losses", "init", "final", "diverged_at"}: init/final are snapshots of the
    first and the last step (final is None when the loss became inf/nan)."""
    kind, activation, init, batch_norm, residual = CONFIGS[name]
    minigrad.manual_seed(args.seed)
    model = DeepNet(kind, activation, init, batch_norm, residual, args.depth,
                    args.width if kind == "mlp" else args.channels, images.shape[-1]).to(args.device)
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    rng = np.random.default_rng(args.seed)  # the same batches for every configuration
    losses, first, last, diverged_at = [], None, None, None
    with np.errstate(over="ignore", invalid="ignore"):  # relu-naive overflows: reported below
        for step in range(args.steps):
            batch = rng.integers(0, len(images), size=args.batch_size)
            keep = step in (0, args.steps - 1)  # at initialization, and after training
            if keep:
                activations, hooks = record_outputs(model)
            optimizer.zero_grad()
            loss = F.cross_entropy(model(minigrad.tensor(images[batch], device=args.device)),
                                   minigrad.tensor(labels[batch], device=args.device))
            for hook in hooks if keep else []:
                hook.remove()
            losses.append(float(loss.item()))  # (a read per step: this lesson wants every loss)
            if not math.isfinite(losses[-1]):
                diverged_at = step
                break
            loss.backward()
            if keep:
                last = snapshot(model, activations)
                first = first or last
            optimizer.step()
    return {"losses": losses, "init": first,
            "final": None if diverged_at is not None else last, "diverged_at": diverged_at}


def ratio(grad_norms):
    """||dL/dW|| of the first layer / of the last (the head): << 1 vanishing toward the input."""
    with np.errstate(divide="ignore", invalid="ignore"):  # all-dead ReLUs: 0/0 is nan
        return float(grad_norms[0] / grad_norms[-1])


def spread(grad_norms):
    """max / min of the per-layer gradient norms: 1 when every layer learns alike."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(grad_norms.max() / grad_norms.min())


# --------------------------------------------------------------------- plots
def plot_grad_norms(results, path, title):
    plt = _plots.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(14, 5), sharey=True)
    colours = plt.cm.tab20(np.linspace(0, 1, 20))
    for ax, when in zip(axes, ("init", "final")):
        for i, (name, r) in enumerate(results.items()):
            style = "--" if CONFIGS[name][0] == "cnn" else "-"
            if r[when] is not None:
                norms = r[when]["grad_norms"]
                ax.plot(range(1, len(norms) + 1), norms, style, marker=".", color=colours[i],
                        label=name)
        ax.set_yscale("log")
        ax.set(xlabel="layer (1 = input side; last = the linear head)", ylabel="||dL/dW||",
               title="at initialization (step 0)" if when == "init" else "after training (last step)")
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1, 0.5))
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_activations(results, when, path, title):
    """One panel per configuration: row l is the histogram of block l's nonlinearity's
    outputs, coloured by the fraction of them in each bin (a layer's histogram read
    across, depth upward)."""
    plt = _plots.pyplot()
    shown = [(name, r) for name, r in results.items() if r[when] is not None]
    cols = 4
    rows = math.ceil(len(shown) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    for ax, (name, r) in zip(axes.ravel(), shown):
        layers = r[when]["activations"]
        low, high = np.percentile(np.concatenate(layers), [0.5, 99.5])  # the bulk, not outliers
        bins = np.linspace(low, high if high > low else low + 1, 61)
        fraction = np.array([np.histogram(a, bins=bins)[0] / a.size for a in layers])
        with np.errstate(divide="ignore"):  # empty bins: log10(0) = -inf, drawn blank
            image = ax.imshow(np.log10(fraction), aspect="auto", origin="lower", cmap="viridis",
                              vmin=-4, vmax=0, extent=(bins[0], bins[-1], 0.5, len(layers) + 0.5))
        ax.set_title(name, fontsize=10)
        ax.set(xlabel="activation", ylabel="block")
    for ax in axes.ravel()[len(shown):]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    fig.colorbar(image, ax=axes, label="log10 (fraction of the block's activations in the bin)",
                 shrink=0.6)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_losses(results, path, title, window=10):
    """The training loss per configuration, as a running mean over `window` batches."""
    plt = _plots.pyplot()
    fig, ax = plt.subplots(figsize=(9, 5))
    colours = plt.cm.tab20(np.linspace(0, 1, 20))
    for i, (name, r) in enumerate(results.items()):
        label = name if r["diverged_at"] is None else f"{name} (diverged at step {r['diverged_at']})"
        losses = np.array(r["losses"])
        smooth = np.convolve(losses, np.ones(window) / window, "valid") if len(losses) >= window else losses
        ax.plot(np.arange(len(losses) - len(smooth), len(losses)), smooth,
                "--" if CONFIGS[name][0] == "cnn" else "-", color=colours[i], label=label)
    ax.axhline(math.log(CLASSES), color="grey", lw=0.8, ls=":")  # a uniform guess's loss
    ax.set_yscale("log")
    ax.set_ylim(top=10)  # a diverged run's loss (1e9, then nan) would flatten every other curve
    ax.set(xlabel="SGD step", ylabel=f"cross-entropy (mean of the last {window} batches)")
    ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------- main
def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depth", type=_cli.positive_int, default=12,
                        help="blocks before the linear head (default 12)")
    parser.add_argument("--width", type=_cli.positive_int, default=64,
                        help="units of the MLP's blocks (default 64)")
    parser.add_argument("--channels", type=_cli.positive_int, default=8,
                        help="channels of the CNN's blocks (default 8)")
    parser.add_argument("--steps", type=_cli.positive_int, default=300, help="SGD steps (default 300)")
    parser.add_argument("--batch-size", type=_cli.positive_int, default=64)
    parser.add_argument("--lr", type=float, default=0.02, help="SGD learning rate (momentum 0.9)")
    parser.add_argument("--samples", type=_cli.positive_int, default=4096, help="training images")
    parser.add_argument("--only", default=None, metavar="NAMES",
                        help="comma-separated subset of: " + ", ".join(CONFIGS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="folder for the plots (default runs/gradient_flow, "
                                                    "or runs/gradient_flow-smoke with --smoke)")
    parser.add_argument("--smoke", action="store_true", help="a few steps on a few images, seconds (tests)")
    parser.add_argument("--no-plots", action="store_true")
    _cli.add_device(parser)
    args = parser.parse_args(argv)
    _cli.check_device(parser, args.device)
    args.out = _cli.output_folder(args.out, "gradient_flow", args.smoke)
    names = _cli.only(parser, args.only, CONFIGS)
    if args.smoke:
        args.steps, args.samples, args.batch_size = 3, 256, 32

    images, labels = stripes(args.samples, seed=args.seed)
    data = "SYNTHETIC stripes" + _cli.synthetic_note(args.smoke)
    print(f"{data}: {len(images)} 12x12 images, {CLASSES} classes; depth {args.depth}, "
          f"{args.steps} SGD steps of batch {args.batch_size} per configuration\n")
    header = (f"{'configuration':23s} {'first/last ||dL/dW||':>20s} {'max/min':>8s} {'largest':>8s} "
              f"{'trained first/last':>18s} {'final loss':>10s}")
    print(header + "\n" + "-" * len(header))
    results = {}
    for name in names:
        r = results[name] = train(name, args, images, labels)
        norms = r["init"]["grad_norms"]
        trained = "-" if r["final"] is None else f"{ratio(r['final']['grad_norms']):.2g}"
        final = (f"diverged at step {r['diverged_at']}" if r["diverged_at"] is not None
                 else f"{np.mean(r['losses'][-10:]):.3f}")  # mean of the last 10 batches
        print(f"{name:23s} {ratio(norms):20.2g} {spread(norms):8.2g} {norms.max():8.2g} "
              f"{trained:>18s} {final:>10s}",
              flush=True)

    plots = []
    if not args.no_plots:
        os.makedirs(args.out, exist_ok=True)
        title = f"{data}, depth {args.depth}"
        plots = [plot_grad_norms(results, os.path.join(args.out, "grad_norms.png"),
                                 f"per-layer gradient norms: {title}"),
                 plot_activations(results, "init", os.path.join(args.out, "activations_init.png"),
                                  f"each block's nonlinearity's outputs at initialization: {title}"),
                 plot_activations(results, "final", os.path.join(args.out, "activations_trained.png"),
                                  f"each block's nonlinearity's outputs after {args.steps} steps: {title}"),
                 plot_losses(results, os.path.join(args.out, "loss.png"), f"training loss: {title}")]
        print("\nplots written to " + ", ".join(plots))
    return {"results": results, "plots": plots, "args": args}


if __name__ == "__main__":
    main()
