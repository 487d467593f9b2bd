"""Train a one-hidden-layer network on Fashion-MNIST (or MNIST) with Adam.

The model is the smallest network that works well on these 28x28 grayscale
images: flatten the 784 pixels, one hidden layer of 128 ReLU units, 10
class scores:

    x (N, 1, 28, 28) -> flatten (N, 784) -> linear 784->128, ReLU -> linear 128->10

Fashion-MNIST (clothes: T-shirt, trouser, ... ankle boot) is the default; it
is harder than the handwritten digits of MNIST (`--dataset mnist`), where
the same network reaches ~97%. On Debian/Ubuntu `apt-get install
dataset-fashion-mnist` puts the files in /usr/share/datasets/fashion-mnist,
which is looked in by default; `--data` names another folder.

    python examples/mnist_mlp.py                        # 10 epochs, about a second each
    python examples/mnist_mlp.py --dataset mnist --data ~/data/mnist
    python examples/mnist_mlp.py --smoke                # seconds, synthetic data

It trains with `minigrad.training.fit`. Checkpoints, --resume, divergence and
Ctrl-C work as in cifar10_cnn.py; the default --out is runs/mnist_mlp
(runs/mnist_mlp-smoke with --smoke).
"""
import os
import time

import _cli
import _plots
import _training
import numpy as np

import minigrad
import minigrad.nn as nn
from minigrad.data import MNIST, DataLoader, FashionMNIST, TensorDataset
from minigrad.data import transforms as T
from minigrad.training import predict

HERE = os.path.dirname(os.path.abspath(__file__))

DATASETS = {"fashion": FashionMNIST, "mnist": MNIST}
# Per-pixel mean and standard deviation of each training set (over all 60,000 images).
STATS = {"fashion": (0.2860, 0.3530), "mnist": (0.1307, 0.3081)}


def mlp(hidden=128):
    return nn.Sequential(nn.Flatten(),                       # (N, 784)
                         nn.Linear(28 * 28, hidden), nn.ReLU(),
                         nn.Linear(hidden, 10))


def load_data(args):
    """(train set, test set, class names)."""
    if args.smoke:
        images, labels = _training.synthetic_images(600, 28, 28, 1, seed=args.seed)  # (N, 28, 28, 1)
        print("data: SYNTHETIC 28x28 images (--smoke), not " + DATASETS[args.dataset].__name__)
        return (TensorDataset(images[:500], labels[:500]),
                TensorDataset(images[500:], labels[500:]), DATASETS[args.dataset].classes)
    cls = DATASETS[args.dataset]
    try:
        train, test = cls(args.data, train=True), cls(args.data, train=False)
    except FileNotFoundError as error:
        print(f"{error}\n\nDownloading it instead.")
        train, test = cls(args.data, train=True, download=True), cls(args.data, train=False)
    print(f"data: {train.folder}")
    return train, test, cls.classes


def main(argv=None):
    parser = _cli.parser(__doc__)
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="fashion")
    parser.add_argument("--data", default=None, metavar="PATH", help="folder of the IDX files")
    parser.add_argument("--optimizer", default="adam", metavar="NAME",
                        help="any rule in optim by class name (default adam)")
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--hidden", type=_cli.positive_int, default=128)
    parser.add_argument("--epochs", type=_cli.positive_int, default=10,
                        help="(default 10; an epoch takes about a second on a 2-core CPU)")
    parser.add_argument("--batch-size", type=_cli.positive_int, default=64)
    _cli.add_device(parser)
    parser.add_argument("--limit-train", type=_cli.positive_int, default=None, metavar="N")
    parser.add_argument("--limit-test", type=_cli.positive_int, default=None, metavar="N")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="folder for checkpoint and plots (default "
                        "runs/mnist_mlp, or runs/mnist_mlp-smoke with --smoke)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the checkpoint in --out")
    parser.add_argument("--smoke", action="store_true", help="synthetic data, seconds (tests)")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.smoke:
        args.epochs = min(args.epochs, 3)
    args.out = _cli.output_folder(args.out, "mnist_mlp", args.smoke)
    _cli.check_device(parser, args.device)

    minigrad.manual_seed(args.seed)
    train_set, test_set, classes = load_data(args)
    train_set = _training.random_subset(train_set, args.limit_train, args.seed)
    test_set = _training.random_subset(test_set, args.limit_test, args.seed)
    mean, std = STATS[args.dataset]
    to_input = T.Compose([T.ToTensor(), T.Normalize((mean,), (std,))])  # -> (N, 1, 28, 28)

    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True,
                              transform=to_input, device=args.device, seed=args.seed)
    test_loader = DataLoader(test_set, batch_size=1000, transform=to_input, device=args.device)
    model = mlp(args.hidden).to(args.device)
    optimizer, hyper = _training.make_optimizer(args.optimizer, model.parameters(), lr=args.lr,
                                                batch_size=args.batch_size)
    name = "Fashion-MNIST" if args.dataset == "fashion" else "MNIST"
    if args.smoke:
        name = f"SYNTHETIC data (--smoke, shaped like {name})"
    config = {"dataset": args.dataset, "smoke": args.smoke, "hidden": args.hidden,
              "optimizer": type(optimizer).__name__,
              **{k.replace("_", "-"): v for k, v in hyper.items()}, "epochs": args.epochs,
              "batch-size": args.batch_size, "seed": args.seed,
              "limit-train": args.limit_train, "limit-test": args.limit_test}
    print(f"{name}: train {len(train_set)}, test {len(test_set)} images; MLP 784-{args.hidden}-10; "
          f"{type(optimizer).__name__}(lr={args.lr}); batch {args.batch_size}")

    os.makedirs(args.out, exist_ok=True)
    title = f"MLP on {name} ({type(optimizer).__name__})"
    start = time.perf_counter()
    history, checkpoint = _training.fit_run("mnist_mlp.py", args, argv, model, optimizer,
                                            train_loader, test_loader, config=config, title=title)
    elapsed = time.perf_counter() - start
    summary = {"epochs_run": len(history["train_loss"]),
               "train_loss": history["train_loss"], "train_acc": history["train_accuracy"],
               "test_loss": history["test_loss"], "test_acc": history["test_accuracy"],
               "images_per_s": float(np.mean(history["samples_per_s"])), "seconds": elapsed,
               "checkpoint": checkpoint, "plots": []}
    print(f"\nMLP on {name}: test accuracy {history['test_accuracy'][-1]:.2%}, train accuracy "
          f"{history['train_accuracy'][-1]:.2%}, {summary['images_per_s']:.0f} training images/s, "
          f"{elapsed:.1f} s")
    if not args.no_plots:
        confusion = _plots.confusion_matrix(*predict(model, test_loader), len(classes))
        summary["plots"] = [
            _plots.plot_curves(history, os.path.join(args.out, "curves.png"), title),
            _plots.plot_confusion(confusion, classes, os.path.join(args.out, "confusion.png"),
                                  f"{name} test set, {history['test_accuracy'][-1]:.1%} correct")]
        print("plots written to " + " and ".join(summary["plots"]))
    return summary


if __name__ == "__main__":
    main()
