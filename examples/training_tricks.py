"""Which training tricks help? An ablation on a subset of CIFAR-10 (or Fashion-MNIST).

Every row trains the same small CNN from the same initial weights on the same
images for the same number of epochs (with `minigrad.training.fit`), changing
ONE thing from the baseline:

    baseline        conv-ReLU-pool x2 + linear; SGD (momentum 0.9), constant lr, batch 128
    + augmentation  random crops (padding 4 for 32x32 images, 3 for 28x28) and flips
    + batch norm    BatchNorm2d after each convolution
    + dropout       Dropout(0.3) before the classifier
    + weight decay  L2 regularization through SGD(weight_decay=5e-4)
    + LR decay      cosine annealing of the learning rate to 0 over the run
    + early stop    stop when the validation loss hasn't improved for 3 epochs;
                    keep the best weights
    batch 32 / 512  other batch sizes at the same epochs (so 4x more / fewer steps)
                    and the same learning rate
    + grad-norm stop  the gradient criterion: stop when the epoch's mean gradient norm
                    stays below 0.5 for 2 epochs (GradientNormStopping)
    + lr drop       the lr divided by 4 half-way through the run (MultiStepLR)
    + batch growth  instead, the batch multiplied by 4 half-way (BatchSizeSchedule):
                    the same drop of SGD's noise scale lr * N / B, in 4x fewer steps
    standardize     inputs scaled per channel by the training images' mean and std
    min-max         ... or mapped from the training images' [min, max] to [0, 1]
                    (the baseline uses a fixed (x - 0.5) / 0.5)

The table gives the training accuracy (measured during the epoch, so with
augmentation/dropout on) and validation accuracy of the final weights (with
early stopping: of the best epoch, whose weights are kept), epochs run and
time. What to look for (on the defaults, 2,500 CIFAR-10 images, the
baseline overfits: ~70% train vs ~47% validation): augmentation and dropout
lower the training accuracy and raise the validation accuracy; batch norm
fits the training set much faster (and overfits it); weight decay this
small changes little in 15 epochs; batch 512 takes 4x fewer steps than 128
at the same lr and underfits, batch 32 takes 4x more and overfits; the
gradient criterion never fires (the mean mini-batch gradient norm grows from
about 0.8 to 2.5: it vanishes for full-batch descent, not for noisy SGD);
growing the batch 4x half-way fits about as far as dropping the lr 4x, in
fewer steps; standardising with the training set's statistics (std ~0.25)
fits faster than the fixed (x - 0.5) / 0.5, min-max scaling ([0, 1],
uncentred) slower. Results on a subset and a few epochs are noisy: differences of a point or two are
not significant (rerun with other --seed values to see the spread).

    python examples/training_tricks.py                    # about 2 minutes on 2 idle CPU cores
    python examples/training_tricks.py --dataset fashion --epochs 6
    python examples/training_tricks.py --only baseline,batch-norm,batch-512
    python examples/training_tricks.py --smoke            # seconds, synthetic data
"""
import os

import _cli
import _plots
import _training
import numpy as np

import minigrad
import minigrad.functional as F
import minigrad.nn as nn
import minigrad.optim as optim
from minigrad.data import CIFAR10, DataLoader, FashionMNIST, Subset, TensorDataset
from minigrad.data import transforms as T
from minigrad.training import BatchSizeSchedule, GradientNormStopping, TrainingDiverged, epoch_seed, fit

HERE = os.path.dirname(os.path.abspath(__file__))

BASELINE = {"augment": False, "batch_norm": False, "dropout": 0.0, "weight_decay": 0.0,
            "schedule": "none", "patience": 0, "batch_size": 128, "grad_tol": 0.0,
            "batch_growth": False, "scaling": "fixed"}
CONFIGS = {  # name: what it changes from the baseline
    "baseline": {},
    "augmentation": {"augment": True},
    "batch-norm": {"batch_norm": True},
    "dropout": {"dropout": 0.3},
    "weight-decay": {"weight_decay": 5e-4},
    "lr-decay": {"schedule": "cosine"},
    "early-stopping": {"patience": 3},
    "batch-32": {"batch_size": 32},
    "batch-512": {"batch_size": 512},
    "grad-norm-stop": {"grad_tol": 0.5},
    "lr-drop": {"schedule": "drop"},
    "batch-growth": {"batch_growth": True},
    "standardize": {"scaling": "standardize"},
    "min-max": {"scaling": "min-max"},
}
GROWTH = 4  # half-way through the run, lr-drop divides the lr by it, batch-growth multiplies the batch
# (channels, size, mean, std) of each data set's images
SHAPES = {"cifar10": (3, 32, 0.5, 0.5), "fashion": (1, 28, 0.2860, 0.3530)}


def small_cnn(channels, size, batch_norm=False, dropout=0.0, width=16):
    """Two conv blocks (3x3 conv [+ BN] + ReLU + 2x2 max-pool) and a linear classifier."""
    def block(c_in, c_out):
        layers = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm)]  # BN has the bias
        if batch_norm:
            layers.append(nn.BatchNorm2d(c_out))
        return layers + [nn.ReLU(), nn.MaxPool2d(2)]
    head = [nn.Dropout(dropout)] if dropout else []
    return nn.Sequential(*block(channels, width), *block(width, 2 * width),   # (N, 2w, S/4, S/4)
                         nn.Flatten(), *head, nn.Linear(2 * width * (size // 4) ** 2, 10))


def load_data(args):
    """(train subset, validation subset), disjoint, from the data set's training images."""
    channels, size, _, _ = SHAPES[args.dataset]
    if args.smoke:
        images, labels = _training.synthetic_images(args.train_size + args.val_size, size, size,
                                                   channels, seed=args.seed)
        full = TensorDataset(images, labels)
    elif args.dataset == "cifar10":
        full = CIFAR10(args.data, train=True)
    else:
        full = FashionMNIST(args.data, train=True)
    order = np.random.default_rng(args.seed).permutation(len(full))
    n_train = args.train_size
    return Subset(full, order[:n_train]), Subset(full, order[n_train:n_train + args.val_size])


class SeededEpochs:
    """The training batches, from a DataLoader made for each epoch e and seeded from
    (seed, e): an epoch's shuffle and augmentation do not depend on the epochs before
    it, so every row sees the same images in the same order (the same batch size
    given). `batch_size` can change between epochs, as a DataLoader's can."""

    def __init__(self, make_loader, batch_size, seed):
        self.make_loader, self.batch_size, self.seed, self.epoch = make_loader, batch_size, seed, 0

    def __len__(self):
        return len(self.make_loader(self.batch_size, self.seed))

    def __iter__(self):
        loader = self.make_loader(self.batch_size, epoch_seed(self.seed, self.epoch))
        self.epoch += 1
        return iter(loader)


def scaling(kind, channels, mean, std, train_set):
    """The inputs' scaling after ToTensor: fixed (mean, std) for the data set, or per
    channel statistics measured on the training images (Standardize, MinMaxScale)."""
    if kind == "fixed":
        return T.Normalize((mean,) * channels, (std,) * channels)
    pixels = DataLoader(train_set, batch_size=len(train_set), transform=T.ToTensor(),
                        num_workers=0, seed=0)
    images = next(iter(pixels))[0].numpy()  # the training images, float (N, C, H, W)
    return (T.Standardize() if kind == "standardize" else T.MinMaxScale()).fit(images)


def run(name, args, train_set, val_set):
    """Train one configuration; returns its row of the table."""
    config = {**BASELINE, "batch_size": args.batch_size, **CONFIGS[name]}
    channels, size, mean, std = SHAPES[args.dataset]
    scale = scaling(config["scaling"], channels, mean, std, train_set)
    steps = [T.ToTensor()]
    if config["augment"]:
        steps += [T.RandomCrop(size, padding=size // 8), T.RandomHorizontalFlip()]
    train_transform = T.Compose(steps + [scale])
    eval_transform = T.Compose([T.ToTensor(), scale])

    def make_loader(batch_size, seed):
        return DataLoader(train_set, batch_size=batch_size, shuffle=True,
                          transform=train_transform, device=args.device, seed=seed)

    train_loader = SeededEpochs(make_loader, config["batch_size"], args.seed)
    minigrad.manual_seed(args.seed)  # the same initial weights in every row
    model = small_cnn(channels, size, config["batch_norm"], config["dropout"]).to(args.device)
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9,
                          weight_decay=config["weight_decay"])
    halfway = max(1, args.epochs // 2)
    if config["schedule"] == "drop":  # lr / GROWTH from half-way on
        scheduler = optim.lr_scheduler.MultiStepLR(optimizer, [halfway], gamma=1 / GROWTH)
    else:
        scheduler = _training.make_scheduler(config["schedule"], optimizer, args.epochs,
                                             len(train_loader))[0]
    callbacks = []
    if config["patience"]:  # on the validation loss; puts the best epoch's weights back
        callbacks.append(optim.EarlyStopping(patience=config["patience"]))
    if config["grad_tol"]:  # the epoch's mean gradient norm below grad_tol twice in a row
        callbacks.append(GradientNormStopping(config["grad_tol"], patience=2))
    if config["batch_growth"]:  # the batch x GROWTH from half-way on, in place of lr-drop
        callbacks.append(BatchSizeSchedule({halfway: GROWTH * config["batch_size"]}))
    val_loader = DataLoader(val_set, batch_size=500, transform=eval_transform, device=args.device)
    try:
        history = fit(model, train_loader, loss_fn=F.cross_entropy, optimizer=optimizer,
                      epochs=args.epochs, val_loader=val_loader, scheduler=scheduler,
                      callbacks=callbacks, progress=False, seed=args.seed)
    except KeyboardInterrupt:  # no checkpoints here, so nothing to resume
        _cli.stop(f"training_tricks.py: interrupted during {name!r}; the rows above are complete",
                  _cli.EXIT_INTERRUPTED)
    if args.verbose:
        for epoch, (loss, acc) in enumerate(zip(history["train_loss"], history["val_accuracy"])):
            print(f"  epoch {epoch + 1}: train loss {loss:.4f}, val acc {acc:.1%}, "
                  f"{history['steps'][epoch]} steps")
    # The final weights, or after early stopping the restored best epoch's.
    stopper = callbacks[0] if config["patience"] else None
    kept = stopper.best_epoch if stopper is not None and stopper.stopped_epoch is not None else -1
    norms = [c.norms for c in callbacks if isinstance(c, GradientNormStopping)]
    return {"name": name, "train_acc": history["train_accuracy"][kept],
            "val_acc": history["val_accuracy"][kept],
            "epochs_run": len(history["train_loss"]), "seconds": float(sum(history["seconds"])),
            "history": history, "grad_norms": norms[0] if norms else None}


def plot(rows, path, title):
    plt = _plots.pyplot()
    names = [r["name"] for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(8, 1.1 * len(rows)), 4.5))
    ax.bar(x - 0.2, [r["train_acc"] for r in rows], 0.4, label="train (last epoch)")
    ax.bar(x + 0.2, [r["val_acc"] for r in rows], 0.4, label="validation")
    for i, r in enumerate(rows):
        ax.text(i + 0.2, r["val_acc"] + 0.01, f"{r['val_acc']:.0%}", ha="center", fontsize=8)
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set(ylabel="accuracy", title=title, ylim=(0, 1))
    ax.legend(loc="upper left")
    fig.tight_layout()
    return _plots.save(fig, path)


def main(argv=None):
    parser = _cli.parser(__doc__)
    parser.add_argument("--dataset", choices=sorted(SHAPES), default="cifar10")
    parser.add_argument("--data", default=None, metavar="PATH", help="where the data set is")
    parser.add_argument("--train-size", type=_cli.positive_int, default=2500,
                        help="training images (default 2500: small enough to overfit)")
    parser.add_argument("--val-size", type=_cli.positive_int, default=1000)
    parser.add_argument("--epochs", type=_cli.positive_int, default=15, help="per configuration (default 15)")
    parser.add_argument("--batch-size", type=_cli.positive_int, default=128, help="the baseline's")
    parser.add_argument("--lr", type=float, default=0.02, help="SGD learning rate (momentum 0.9)")
    parser.add_argument("--only", default=None, metavar="NAMES",
                        help="comma-separated subset of: " + ", ".join(CONFIGS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None,
                        help="folder for the plot (default runs/training_tricks, "
                             "or runs/training_tricks-smoke with --smoke)")
    parser.add_argument("--smoke", action="store_true", help="synthetic data, seconds (tests)")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="print every epoch")
    _cli.add_device(parser)
    args = parser.parse_args(argv)
    _cli.check_device(parser, args.device)
    args.out = _cli.output_folder(args.out, "training_tricks", args.smoke)
    names = _cli.only(parser, args.only, CONFIGS)
    if args.smoke:
        # (at most: a test may ask for a smaller smoke run)
        args.train_size, args.val_size = min(args.train_size, 256), min(args.val_size, 128)
        args.epochs = min(args.epochs, 2)

    train_set, val_set = load_data(args)
    data = f"SYNTHETIC {args.dataset}-shaped data (--smoke)" if args.smoke else args.dataset
    print(f"{data}: {len(train_set)} training and {len(val_set)} validation images, "
          f"{args.epochs} epochs per configuration\n")
    header = f"{'configuration':16s} {'train acc':>9s} {'val acc':>8s} {'epochs':>6s} {'time':>7s}"
    print(header + "\n" + "-" * len(header))
    rows = []
    for name in names:
        try:
            row = run(name, args, train_set, val_set)
        except TrainingDiverged as error:
            _cli.stop(f"training_tricks.py: configuration {name!r}: {error} (--lr)")
        rows.append(row)
        print(f"{name:16s} {row['train_acc']:9.1%} {row['val_acc']:8.1%} "
              f"{row['epochs_run']:6d} {row['seconds']:6.1f}s", flush=True)

    plots = []
    if not args.no_plots:
        os.makedirs(args.out, exist_ok=True)
        plots.append(plot(rows, os.path.join(args.out, "training_tricks.png"),
                          f"{data}: {len(train_set)} training images, {args.epochs} "
                          "epochs, one change per bar"))
        print(f"\nplot written to {plots[0]}")
    return {"rows": rows, "plots": plots}


if __name__ == "__main__":
    main()
