"""Train a convolutional network on CIFAR-10 (10 classes of 32x32 colour images).

The default recipe is the classic tutorial's LeNet-style CNN:

    conv 3->6 5x5, ReLU, max-pool 2    (3, 32, 32) -> (6, 14, 14)
    conv 6->16 5x5, ReLU, max-pool 2   -> (16, 5, 5) = 400 features
    linear 400->120, ReLU, 120->84, ReLU, 84->10 (class scores)

trained with SGD (lr 0.001, momentum 0.9, weight decay 1e-4), StepLR
(x0.1 every 30 epochs), batches of 100, random 32x32 crops of the image
padded by 4 pixels and random horizontal flips, inputs normalized to
[-1, 1] (mean 0.5, std 0.5). `--model vgg` is a deeper conv-BN-ReLU
network with dropout; `--optimizer` takes any rule in `optim` by name.

The data set is kept on --device as uint8 and each batch is cropped,
flipped and normalised there (minigrad.data.DeviceLoader: on a GPU, no host
round trip; on the CPU, a few times faster than the per-batch NumPy
transforms). `--loader classic` uses DataLoader and transforms instead.

It trains with `minigrad.training.fit`. Every epoch prints train
loss/accuracy, test loss/accuracy and images/s, and writes a checkpoint
(model, optimizer, schedule, loader, history and the run's settings) that
`--resume` continues from exactly. `--resume` with more --epochs or another
--lr re-plans the schedule for them; other changed settings (--loader
included) are refused, each named. At the end: a summary, curves.png and
confusion.png in --out (default runs/cifar10_cnn; --smoke writes to
runs/cifar10_cnn-smoke). A run stops at the first non-finite loss (exit 1);
Ctrl-C keeps the last completed epoch's checkpoint and prints the command
that resumes it (exit 130).

    python examples/cifar10_cnn.py                                  # the recipe
    python examples/cifar10_cnn.py --data ~/data/cifar10-jpg.tar.gz
    python examples/cifar10_cnn.py --model vgg --optimizer adamw --lr 0.002 --schedule onecycle
    python examples/cifar10_cnn.py --epochs 40 --resume             # carry on a run
    python examples/cifar10_cnn.py --smoke                          # seconds, synthetic data
    mpiexec -n 2 python examples/cifar10_cnn.py --distributed       # data-parallel, 2 processes

--distributed (launched by mpiexec; set up with pip install -e ".[mpi]"):
each process trains the same model (DistributedDataParallel averages the
gradients) on its own share of the training set (a DistributedSampler
share, drawn once from --seed; --batch-size is per process). Rank 0 alone
prints, writes the checkpoint and the plots; every rank reads the
checkpoint to --resume it, on any number of processes (mpiexec -n 1
included: its weights are named as DistributedDataParallel names them,
"module.*", so resume it with --distributed).
"""
import os
import sys
import time

import _cli
import _plots
import _training
import numpy as np

import minigrad
import minigrad.distributed as dist
import minigrad.functional as F
import minigrad.nn as nn
import minigrad.optim as optim
from minigrad.data import (
    CIFAR10,
    DataLoader,
    DeviceLoader,
    DistributedSampler,
    Subset,
    TensorDataset,
    random_split,
)
from minigrad.data import transforms as T
from minigrad.training import predict

HERE = os.path.dirname(os.path.abspath(__file__))

CLASSES = CIFAR10.classes


# -------------------------------------------------------------------- models
def lenet():
    return nn.Sequential(
        nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2),     # (N, 6, 14, 14)
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),    # (N, 16, 5, 5)
        nn.Flatten(),                                       # (N, 400)
        nn.Linear(400, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10))


def conv_bn_relu(c_in, c_out):
    # No conv bias: batch norm subtracts the channel mean right after, cancelling it.
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


def vgg(dropout=0.5):
    return nn.Sequential(
        *conv_bn_relu(3, 32), *conv_bn_relu(32, 32), nn.MaxPool2d(2),    # (N, 32, 16, 16)
        *conv_bn_relu(32, 64), *conv_bn_relu(64, 64), nn.MaxPool2d(2),   # (N, 64, 8, 8)
        *conv_bn_relu(64, 128), nn.MaxPool2d(2),                         # (N, 128, 4, 4)
        nn.Flatten(), nn.Dropout(dropout),                               # (N, 2048)
        nn.Linear(128 * 4 * 4, 10))


MODELS = {"lenet": lenet, "vgg": vgg}


# ---------------------------------------------------------------------- data
MEAN, STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)  # pixels in [0, 1] -> [-1, 1]


def transforms(augment):
    """uint8 NHWC batches -> float32 NCHW in [-1, 1]; training batches are augmented
    (a random 32x32 crop of the image padded by 4 pixels, and a random flip)."""
    steps = [T.ToTensor()]
    if augment:
        steps += [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()]
    return T.Compose(steps + [T.Normalize(MEAN, STD)])


def make_loaders(args, train_set, val_set, test_set):
    """(training loader, validation loader, test loader), with either loader.

    --loader device: each set goes to the device once, as uint8, and every batch
    is cropped, flipped and normalised there (DeviceLoader). Its order and
    augmentation come from minigrad's generator, which fit seeds from (seed, epoch)
    before each epoch.
    --loader classic: a DataLoader whose worker thread prepares each batch in NumPy
    (transforms) and copies it over; its order and augmentation come from its own
    seed (its place in that sequence is saved in the checkpoint)."""
    if args.loader == "device":
        train_loader = DeviceLoader.from_dataset(
            train_set, batch_size=args.batch_size, shuffle=True, augment=not args.no_augment,
            mean=MEAN, std=STD, device=args.device)

        def eval_loader(dataset):
            return None if dataset is None else DeviceLoader.from_dataset(
                dataset, batch_size=max(args.batch_size, 500), mean=MEAN, std=STD,
                device=args.device)
    else:
        train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True,
                                  transform=transforms(not args.no_augment), device=args.device,
                                  seed=args.seed)

        def eval_loader(dataset):
            return None if dataset is None else DataLoader(
                dataset, batch_size=max(args.batch_size, 500), transform=transforms(False),
                device=args.device)
    return train_loader, eval_loader(val_set), eval_loader(test_set)


def load_data(args):
    """(train set, test set) as uint8 image datasets: CIFAR-10, or synthetic for --smoke."""
    if args.smoke:
        images, labels = _training.synthetic_images(400, 32, 32, 3, seed=args.seed)
        print("data: SYNTHETIC CIFAR-shaped images (--smoke), not CIFAR-10")
        return TensorDataset(images[:300], labels[:300]), TensorDataset(images[300:], labels[300:])
    try:
        train, test = CIFAR10(args.data, train=True), CIFAR10(args.data, train=False)
    except FileNotFoundError as error:
        print(f"{error}\n\nDownloading it instead.")
        train = CIFAR10(args.data, train=True, download=True)
        test = CIFAR10(args.data, train=False)
    print(f"data: {train.source}")
    return train, test


# ---------------------------------------------------------------------- main
def parse_args(argv):
    parser = _cli.parser(__doc__)
    parser.add_argument("--model", choices=sorted(MODELS), default="lenet")
    parser.add_argument("--optimizer", default="sgd", metavar="NAME",
                        help="any rule in optim, by class name, any case (sgd, adam, adamw, "
                             "lion, ...); the three options below go to every rule that has them")
    parser.add_argument("--lr", type=float, default=0.001, help="learning rate (default 0.001)")
    parser.add_argument("--momentum", type=float, default=0.9, help="(default 0.9)")
    parser.add_argument("--weight-decay", type=float, default=1e-4, help="(default 1e-4)")
    parser.add_argument("--schedule", choices=_training.SCHEDULES, default="step",
                        help="learning-rate schedule (default step: x0.1 every --step-size "
                             "epochs; cosine over the run; onecycle up to 10x lr; plateau: "
                             "x0.1 after 3 epochs without progress; warmup-cosine)")
    parser.add_argument("--step-size", type=_cli.positive_int, default=30, help="StepLR period (epochs)")
    parser.add_argument("--epochs", type=_cli.positive_int, default=40,
                        help="(default 40: 30 at lr, 10 at lr/10, ~60%% test accuracy; an epoch "
                             "of 50,000 images takes ~10 s for LeNet on an idle 2-core CPU, "
                             "~3 min for VGG)")
    parser.add_argument("--batch-size", type=_cli.positive_int, default=100)
    parser.add_argument("--no-augment", action="store_true", help="no random crops and flips")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (needs CuPy)")
    parser.add_argument("--loader", choices=["device", "classic"], default="device",
                        help="device (default): the data set kept on --device as uint8, batches "
                             "cropped, flipped and normalised there; classic: DataLoader and "
                             "transforms, batches made on the host in a worker thread")
    parser.add_argument("--data", default=None, metavar="PATH",
                        help="CIFAR-10 folder or archive (default: the usual places, see "
                             "minigrad.data.find_cifar10; else download it)")
    parser.add_argument("--val-size", type=_cli.non_negative_int, default=0, metavar="N",
                        help="hold out N training images as a validation set, which then "
                             "drives early stopping and the plateau schedule instead of the "
                             "test set")
    parser.add_argument("--early-stopping", type=_cli.non_negative_int, default=0, metavar="PATIENCE",
                        help="stop after PATIENCE epochs without a better validation (or test) "
                             "loss, and keep the best weights (default 0: off)")
    parser.add_argument("--limit-train", type=_cli.positive_int, default=None, metavar="N",
                        help="train on a random subset of N images")
    parser.add_argument("--limit-test", type=_cli.positive_int, default=None, metavar="N",
                        help="evaluate on a random subset of N images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None,
                        help="folder for the checkpoint and the plots (default runs/cifar10_cnn, "
                             "or runs/cifar10_cnn-smoke with --smoke)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the checkpoint in --out")
    parser.add_argument("--smoke", action="store_true",
                        help="a few batches of synthetic CIFAR-shaped data (seconds; tests)")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--distributed", action="store_true",
                        help="data-parallel over the processes started by mpiexec -n N (MPI)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.smoke:
        args.epochs = min(args.epochs, 3)
        args.batch_size = min(args.batch_size, 25)
    args.out = _cli.output_folder(args.out, "cifar10_cnn", args.smoke)
    if args.device.startswith("cuda") and not minigrad.cuda.is_available():
        parser.error("--device cuda needs CuPy and a CUDA GPU, and none was found; "
                     "use --device cpu")
    return args


def start_distributed(args):
    """Join the MPI process group; ranks other than 0 go quiet (no output, no files)."""
    dist.init_process_group("mpi")
    # Only rank 0 writes the checkpoint (all ranks hold the same model); every rank
    # still reads it to --resume.
    args.rank = dist.get_rank()
    if args.rank != 0:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the whole run
        args.quiet = args.no_plots = True
    print(f"distributed: {dist.get_world_size()} processes (MPI), batch {args.batch_size} each")


def main(argv=None):
    args = parse_args(argv)
    if args.distributed:
        start_distributed(args)
    minigrad.manual_seed(args.seed)
    train_set, test_set = load_data(args)
    val_set = None
    if args.val_size >= len(train_set):
        _cli.stop(f"cifar10_cnn.py: error: --val-size {args.val_size} leaves no training images "
                  f"(there are {len(train_set)}); give a smaller one", code=2)
    if args.val_size:
        train_set, val_set = random_split(train_set, [len(train_set) - args.val_size,
                                                      args.val_size], seed=args.seed)
    train_set = _training.random_subset(train_set, args.limit_train, args.seed)
    test_set = _training.random_subset(test_set, args.limit_test, args.seed)
    if args.distributed:  # this rank's share; equal shares (drop_last): equal steps per rank
        train_set = Subset(train_set, DistributedSampler(train_set, seed=args.seed,
                                                         drop_last=True).indices())
    train_loader, val_loader, test_loader = make_loaders(args, train_set, val_set, test_set)

    model = MODELS[args.model]().to(args.device)
    if args.distributed:  # rank 0's initial weights everywhere; gradients averaged over ranks
        model = nn.parallel.DistributedDataParallel(model)
    optimizer, hyper = _training.make_optimizer(
        args.optimizer, model.parameters(), lr=args.lr, momentum=args.momentum,
        weight_decay=args.weight_decay, batch_size=args.batch_size)
    scheduler, interval = _training.make_scheduler(args.schedule, optimizer, args.epochs,
                                                   len(train_loader), step_size=args.step_size)
    monitor = "val_loss" if val_loader is not None else "test_loss"
    callbacks = ([optim.EarlyStopping(patience=args.early_stopping, monitor=monitor)]
                 if args.early_stopping else [])
    # What a checkpoint must match to be resumed (see minigrad.training.resume).
    config = {"model": args.model, "optimizer": type(optimizer).__name__,
              **{k.replace("_", "-"): v for k, v in hyper.items()},
              "schedule": args.schedule, "step-size": args.step_size, "epochs": args.epochs,
              "batch-size": args.batch_size, "seed": args.seed, "smoke": args.smoke,
              "val-size": args.val_size, "limit-train": args.limit_train,
              "limit-test": args.limit_test, "no-augment": args.no_augment,
              "early-stopping": args.early_stopping, "loader": args.loader}
    n_params = sum(p.data.size for p in model.parameters())
    print(f"train {len(train_set)}, test {len(test_set)}"
          + (f", validation {len(val_set)}" if val_set is not None else "")
          + f" images; {args.model}: {n_params:,} parameters; {type(optimizer).__name__}"
          f"({', '.join(f'{k}={v}' for k, v in hyper.items())}); schedule {args.schedule}; "
          f"batch {args.batch_size}; device {args.device}, {args.loader} loader")

    os.makedirs(args.out, exist_ok=True)
    title = (f"{args.model} on " + ("SYNTHETIC data (--smoke)" if args.smoke else "CIFAR-10")
             + f" ({type(optimizer).__name__})")
    start = time.perf_counter()
    history, checkpoint = _training.fit_run(
        "cifar10_cnn.py", args, argv, model, optimizer, train_loader, test_loader,
        config=config, title=title, scheduler=scheduler, interval=interval,
        val_loader=val_loader, callbacks=callbacks)
    elapsed = time.perf_counter() - start
    # After early stopping the best weights are back in the model: report on those
    # (one pass over the test set gives the confusion matrix, the accuracy and the loss).
    outputs, targets = predict(model, test_loader)
    confusion = _plots.confusion_matrix(outputs, targets, len(CLASSES))
    final = {"accuracy": float(np.trace(confusion)) / len(targets),
             "loss": F.cross_entropy(minigrad.tensor(outputs), minigrad.tensor(targets)).item()}
    stopped = bool(callbacks) and callbacks[0].stopped_epoch is not None
    summary = {
        "epochs_run": len(history["train_loss"]),
        "stopped_early": stopped,
        "train_loss": history["train_loss"], "train_acc": history["train_accuracy"],
        "test_loss": history["test_loss"], "test_acc": history["test_accuracy"],
        "lr": history["lr"],
        "final_test_acc": final["accuracy"], "final_test_loss": final["loss"],
        "best_test_acc": max(history["test_accuracy"]),
        "images_per_s": float(np.mean(history["samples_per_s"])),
        "seconds": elapsed, "checkpoint": checkpoint, "plots": [],
    }
    if stopped:
        print(f"early stopping: no improvement for {args.early_stopping} epochs; best was "
              f"epoch {callbacks[0].best_epoch + 1}")
    print(f"\n{title} after {summary['epochs_run']} epoch(s): test accuracy "
          f"{final['accuracy']:.2%} (best epoch {summary['best_test_acc']:.2%}), train accuracy "
          f"{history['train_accuracy'][-1]:.2%}; {summary['images_per_s']:.0f} training images/s; "
          f"{elapsed:.0f} s in this session")
    steps, data, whole = (sum(history[k]) for k in ("step_seconds", "data_seconds", "seconds"))
    print(f"time: {steps:.1f} s in training steps, {data:.1f} s waiting for batches, "
          f"{whole - steps - data:.1f} s evaluating; epochs took {whole / max(steps, 1e-9):.2f}x "
          "their steps' time")
    per_class = np.diag(confusion) / np.maximum(confusion.sum(axis=1), 1)
    print("per class: " + ", ".join(f"{c} {a:.0%}" for c, a in zip(CLASSES, per_class)))

    if not args.no_plots:
        summary["plots"] = [
            _plots.plot_curves(history, os.path.join(args.out, "curves.png"), title),
            _plots.plot_confusion(confusion, CLASSES, os.path.join(args.out, "confusion.png"),
                                  f"test set, {final['accuracy']:.1%} correct"
                                  + _cli.synthetic_note(args.smoke))]
        print("plots written to " + " and ".join(summary["plots"]))
    return summary


if __name__ == "__main__":
    main()
