"""The speedrun's recipe (a helper for the examples, not a script; used by
examples/cifar10_speedrun.py): data, optimizer and schedule, the tricks as switches and
as callbacks of `minigrad.training.fit`, the ablation table and the curves.

Hyperparameters are airbench94's, rewritten for a mean (not summed) loss and
decoupled weight decay:
- lr: airbench's 11.5 per 1024 * (1 + 1/(1 - momentum)) images, as an lr per image
  (LR_PER_IMAGE) times the batch size, so a mean loss over the batch gets the
  same step; momentum 0.85, Nesterov.
- weight decay: airbench's coupled decay (0.0153 per the same unit of images, so
  lr * decay = 0.0153 / 11.5 of the lr's step) passes through the momentum, which
  multiplies it by 1/(1 - momentum) in the steady state. The decoupled rule
  theta <- theta * (1 - lr * weight_decay) shrinks the weights as much per step with
  weight_decay = 0.0153 / (11.5 * (1 - 0.85)) (WEIGHT_DECAY), whatever the batch size.
- BN biases: lr x 64, weight decay / 64 (the same decay per step): biases need
  large moves and have few parameters to make them noisy. The whitening conv's
  bias is not among them: it trains at the weights' lr (a x64 step on it shifts
  every patch feature at once, and ReLU can shut half of them off for good).
- schedule: linear warm-up from 0.2x over the first 23% of the steps, then linear
  decay to 0.07x.
- lookahead every 5 steps with alpha = 1 - 0.95^5 (t / T)^3: no averaging at the
  start (alpha 1), an ever longer memory towards the end; the final weights are
  the slow ones.
- with --small-crops, progressive resizing: the first 40% of the epochs train on random
  24x24 windows of the (2-pixel reflect-padded) 32x32 images, ~0.56x the arithmetic of a
  whole image in every layer; the rest, and the test, on whole images (see RecipeSteps).
  Not the default: 14 epochs so (89.48%, seed 0) scored as 11 whole-image epochs do in
  about the same time (see docs/speedrun.md), though far better in short runs.
- with --muon, Muon on the 3x3 conv filters instead (airbench94_muon's): lr 0.24,
  momentum 0.6, Nesterov, 3 Newton-Schulz steps, each kernel orthogonalized as its
  (F, C*9) matrix and rescaled to norm sqrt(F) before each step (so no weight decay).
  SGDW keeps the rest: the BN and whitening biases and the linear head. One schedule
  scales every group. Not the default: at full scale it scored as SGDW does (see
  docs/speedrun.md), though far better in short runs.
"""
import math
import time

import _plots
import _speedrun_net
import _training
import numpy as np

import minigrad
import minigrad.functional as F
import minigrad.nn as nn
import minigrad.optim as optim
from minigrad.data import DeviceLoader
from minigrad.data.flip_schedule import AlternatingFlipLoader
from minigrad.training import Callback, fit
from minigrad.training.tta import tta_accuracy

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)  # CIFAR-10's per channel
MOMENTUM = 0.85
LR_PER_IMAGE = 11.5 / (1024 * (1 + 1 / (1 - MOMENTUM)))  # x batch size = the mean-loss lr
WEIGHT_DECAY = 0.0153 / (11.5 * (1 - MOMENTUM))            # decoupled: theta *= 1 - lr * this
BIAS_SCALER = 64.0
LABEL_SMOOTHING = 0.2
WHITEN_BIAS_EPOCHS = 3          # the whitening bias learns only this long, then stays
WARMUP = 0.23                   # share of the steps spent warming up
LOOKAHEAD_EVERY = 5
TRANSLATE = 2                   # pixels of random translation, borders filled by reflection
SMALL_CROP_SHARE = 0.4          # the first 40% of the epochs train on smaller crops...
SMALL_CROP_SIDE = 0.75          # ...of 3/4 of the image's side (24x24 of 32x32)
MUON_LR, MUON_MOMENTUM, MUON_NS_STEPS = 0.24, 0.6, 3  # for the conv filters
WIDTHS = (64, 128, 128)         # airbench93's blocks (airbench94's: 64, 256, 256)

TRICKS = {
    "whiten": "the patch-whitening first conv (a plain trainable conv instead)",
    "dirac": "identity (dirac) init of the 3x3 convs (PyTorch's default init instead)",
    "bias-lr": "the x64 lr for BN and whitening biases (one lr for all)",
    "lookahead": "lookahead / EMA of the weights",
    "smoothing": "label smoothing 0.2",
    "translate": "random 2-pixel translation",
    "alt-flip": "the alternating flip (random flips instead)",
    "tta": "test-time augmentation (one view instead of six)",
}


# ---------------------------------------------------------------------- data
def load_data(args):
    """{'train': (images, labels), 'test': (images, labels)}: uint8 NHWC and int64."""
    if args.smoke:
        print("data: SYNTHETIC CIFAR-shaped images (--smoke), not CIFAR-10")
        images, labels = _training.synthetic_images(224, 16, 16, 3, seed=args.seed)  # small: seconds
        return {"train": (images[:160], labels[:160]), "test": (images[160:], labels[160:])}
    from minigrad.data import CIFAR10
    train, test = CIFAR10(args.data, train=True), CIFAR10(args.data, train=False)
    print(f"data: {train.source}")
    keep = slice(None)
    if args.train_size and args.train_size < len(train):  # a random subset: the files are sorted by class
        keep = np.sort(np.random.default_rng(args.seed).permutation(len(train))[:args.train_size])
    return {"train": (train.data[keep], train.targets[keep]), "test": (test.data, test.targets)}


def normalised(images, device):
    """uint8 (N, H, W, C) -> float32 (N, C, H, W) Tensor, normalised as the loaders do."""
    x = (images.astype(np.float32) / 255 - np.float32(MEAN)) / np.float32(STD)
    return minigrad.Tensor(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).to(device)


def loaders(args, data, off):
    images, labels = data["train"]
    options = dict(batch_size=args.batch_size, shuffle=True, drop_last=True, augment=True,
                   padding=0 if "translate" in off else TRANSLATE, padding_mode="reflect",
                   mean=MEAN, std=STD, device=args.device)
    kind = DeviceLoader if "alt-flip" in off else AlternatingFlipLoader
    train = kind(images, labels, **options)
    test = DeviceLoader(*data["test"], batch_size=1000, mean=MEAN, std=STD, device=args.device)
    return train, test


# ---------------------------------------------------------------------- model
def make_model(args, data, off):
    widths = tuple(max(1, round(w * args.width)) for w in args.widths)
    model = _speedrun_net.SpeedrunNet(widths, dirac="dirac" not in off,
                                      act=args.act).to(args.device)
    if "whiten" not in off:  # from the statistics of (up to) 5000 training images' patches
        nn.init.whitening_(model.whiten.weight, normalised(data["train"][0][:5000], args.device),
                           eps=5e-4, bias=model.whiten.bias)
        model.whiten.weight.requires_grad = False  # frozen: only its bias learns
    return model


def parameter_groups(model, lr, off):
    """SGDW groups: the weights (and the whitening bias) at lr, and the BN biases at
    lr x 64 with decay / 64; frozen parameters (BN scales, a whitening weight) left out."""
    scaler = 1.0 if "bias-lr" in off else BIAS_SCALER
    biases = [m.bias for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    ids = {id(p) for p in biases}
    weights = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    # the weights first: fit's epoch line shows the first group's lr
    return [dict(params=weights, lr=lr, weight_decay=WEIGHT_DECAY),
            dict(params=biases, lr=lr * scaler, weight_decay=WEIGHT_DECAY / scaler)]


def make_optimizer(model, lr, off, use_muon=False):
    """SGDW over parameter_groups' parameters; with use_muon, the trainable conv filters go
    to Muon instead, and optim.Combined steps the two rules as one optimizer."""
    weights, biases = parameter_groups(model, lr, off)
    filters = [p for p in weights["params"] if p.ndim == 4] if use_muon else []
    weights["params"] = [p for p in weights["params"] if all(p is not f for f in filters)]
    sgd = optim.SGDW([weights, biases], lr=lr, momentum=MOMENTUM, nesterov=True)
    if not filters:
        return sgd
    muon = optim.Muon(filters, lr=MUON_LR, momentum=MUON_MOMENTUM, nesterov=True,
                      ns_steps=MUON_NS_STEPS, weight_decay=0.0, flatten=True,
                      normalize_weights=True)
    return optim.Combined(sgd, muon)


def lookahead_alpha(step, total_steps):
    """The share of the way the slow weights move to the fast ones at a sync:
    1 - 0.95^5 (t / T)^3, from 1 (no averaging) down to 0.23 at the end."""
    return 1.0 - 0.95 ** LOOKAHEAD_EVERY * (step / total_steps) ** 3


# ---------------------------------------------------------------------- training
def small_crop_epochs(epochs, on):
    """How many of the first epochs train on small crops (none unless `on`)."""
    return round(SMALL_CROP_SHARE * epochs) if on else 0


def small_crop(loader):
    """The small crop's side: SMALL_CROP_SIDE of the image's (24 for CIFAR's 32)."""
    _, height, width = loader.image_shape
    return round(SMALL_CROP_SIDE * height), round(SMALL_CROP_SIDE * width)


class RecipeSteps(Callback):
    """The recipe's per-step and per-epoch moves, as fit callbacks: the lookahead's
    alpha before every step, small crops for the first `small_epochs` epochs, the
    whitening bias frozen after WHITEN_BIAS_EPOCHS epochs, and a stop after `total`
    steps (--epochs may be fractional).

    Small crops first (progressive resizing, as fast.ai's DAWNBench ImageNet runs): a
    24x24 window costs about 0.56x the arithmetic of the whole 32x32 image in every
    layer, and the convolutions and the global max-pool take any size. The early
    epochs, at high lr, learn the coarse features that need no more than part of the
    image; the later ones see whole images at the size the test uses."""

    def __init__(self, model, lookahead, total, loader=None, small_epochs=0):
        self.model, self.lookahead, self.total = model, lookahead, total
        self.loader, self.small_epochs = loader, small_epochs

    def on_train_begin(self, trainer):
        self.set_alpha(trainer.global_step)

    def on_epoch_begin(self, trainer, epoch):
        if self.loader is not None:  # (the loader draws the epoch's crops right after this)
            self.loader.crop = small_crop(self.loader) if epoch < self.small_epochs else None
        if epoch == WHITEN_BIAS_EPOCHS:
            self.model.whiten.bias.requires_grad = False  # no grad: SGDW leaves it as it is
            self.model.whiten.bias.grad = None

    def on_batch_end(self, trainer, step, logs):
        self.set_alpha(trainer.global_step)
        trainer.stop_training = trainer.global_step >= self.total

    def set_alpha(self, steps_done):
        if self.lookahead is not None:
            self.lookahead.alpha = lookahead_alpha(steps_done + 1, self.total)


def train(args, data, off, log=print):
    """Train with the tricks not in `off`; returns test accuracy, history and times."""
    start = time.perf_counter()
    train_loader, test_loader = loaders(args, data, off)
    model = make_model(args, data, off)
    lr = args.lr * args.batch_size / 512
    optimizer = make_optimizer(model, lr, off, use_muon=args.muon)
    lookahead = optim.Lookahead(optimizer, k=LOOKAHEAD_EVERY, alpha=1.0) if "lookahead" not in off else None
    total = max(1, round(args.epochs * len(train_loader)))
    warm = max(1, round(WARMUP * total))
    schedule = optim.lr_scheduler.SequentialLR(optimizer, [
        optim.lr_scheduler.LinearLR(optimizer, start_factor=0.2, end_factor=1.0, total_iters=warm),
        optim.lr_scheduler.LinearLR(optimizer, start_factor=1.0, end_factor=0.07,
                                    total_iters=max(1, total - warm))], milestones=[warm])
    smoothing = 0.0 if "smoothing" in off else LABEL_SMOOTHING
    epochs = math.ceil(total / len(train_loader))
    small_epochs = small_crop_epochs(epochs, args.small_crops)
    if small_epochs:
        log(f"small crops: epochs 1-{small_epochs} on {'x'.join(map(str, small_crop(train_loader)))} "
            "windows, then whole images")
    steps = RecipeSteps(model, lookahead, total, train_loader, small_epochs)
    history = fit(model, train_loader, optimizer=lookahead or optimizer, scheduler=schedule,
                  scheduler_interval="step", epochs=epochs,
                  loss_fn=lambda logits, y: F.cross_entropy(logits, y, label_smoothing=smoothing),
                  eval_loaders={"test": test_loader} if args.epoch_eval else None,
                  callbacks=[steps], seed=args.seed,
                  progress=False, log=lambda line: log(f"{line}  ({time.perf_counter() - start:.0f} s "
                                                      "in all)"))
    if lookahead is not None:
        lookahead.alpha = 0.0
        lookahead.sync()  # the model takes the slow (averaged) weights
    tta = dict(flip=False) if "tta" in off else dict(flip=True, translate=1, padding_mode="reflect")
    accuracy = tta_accuracy(_eval(model), test_loader, **tta)
    return {"test_accuracy": accuracy, "history": history, "model": model,
            "train_time": time.perf_counter() - start}


def _eval(model):
    model.eval()
    return model


# ---------------------------------------------------------------------- reports
def ablation_table(rows):
    """A Markdown table: each run's test accuracy and its difference from the first."""
    base = rows[0][1]
    lines = ["| run | test accuracy | vs full recipe | time |", "|---|---:|---:|---:|"]
    for name, acc, seconds in rows:
        lines.append(f"| {name} | {100 * acc:.2f}% | {100 * (acc - base):+.2f} | {seconds:.0f} s |")
    return "\n".join(lines)


def plot(history, path):
    """Train loss, train and test accuracy, lr per epoch, as one PNG."""
    plt = _plots.pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    epochs = range(1, len(history["train_loss"]) + 1)
    axes[0].plot(epochs, history["train_loss"], marker="o")
    axes[0].set(xlabel="epoch", ylabel="cross-entropy (smoothed labels)", title="train loss")
    axes[1].plot(epochs, history["train_accuracy"], marker="o", label="train")
    if "test_accuracy" in history:
        axes[1].plot(epochs, history["test_accuracy"], marker="o", label="test (no TTA)")
    axes[1].set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    axes[1].legend()
    axes[2].plot(epochs, history["lr"], marker="o")
    axes[2].set(xlabel="epoch", ylabel="lr of the weights", title="learning rate (epoch start)")
    for ax in axes:
        ax.xaxis.get_major_locator().set_params(integer=True)  # whole epochs on the x axis
    fig.tight_layout()
    return _plots.save(fig, path)
