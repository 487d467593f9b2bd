"""The speedrun recipe of examples/cifar10_speedrun.py, rewritten in PyTorch: an
oracle for the whole training run, not one op at a time.

    python benchmarks/speedrun_torch_replica.py --train-size 10000 --epochs 8 --seed 0
    python examples/cifar10_speedrun.py       --train-size 10000 --epochs 8 --seed 0

If minigrad's run scored clearly below this one, some piece of the engine or the
recipe would be wrong in a way the per-op tests miss (an init, a schedule's
off-by-one, an augmentation's border). It also tests the recipe's variants at
PyTorch's speed: `--act relu` against the default GELU, `--average-bn-stats` (the
lookahead also averages the batch-norm running statistics, as airbench's does).

The same net, init (dirac on the first filters, the patch whitening with its mean
removed), data (minigrad.data.CIFAR10, so the same decoded images), Nesterov SGD
with decoupled weight decay (`--muon`: Muon on the conv filters, as the example's
`--muon`), x64 lr for the batch-norm biases, warm-up then linear decay,
lookahead every 5 steps, label smoothing, reflect-padded 2-pixel translation, the
alternating flip, and the six-view TTA. Random streams differ (PyTorch's generator),
so the two runs agree in distribution, not bit for bit: compare over seeds.
Needs PyTorch; 2 threads, as the example uses.
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from minigrad.data import CIFAR10  # noqa: E402  (the same images as the example)

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
MOMENTUM, BIAS_SCALER, LABEL_SMOOTHING, WARMUP = 0.85, 64.0, 0.2, 0.23
MUON_LR, MUON_MOMENTUM, MUON_NS_STEPS = 0.24, 0.6, 3
LR_PER_IMAGE = 11.5 / (1024 * (1 + 1 / (1 - MOMENTUM)))
WEIGHT_DECAY = 0.0153 / (11.5 * (1 - MOMENTUM))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--act", choices=["gelu", "relu"], default="gelu")
    parser.add_argument("--widths", default="64,128,128")
    parser.add_argument("--epochs", type=float, default=11.0)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--average-bn-stats", action="store_true",
                        help="the lookahead also averages BN running means and variances")
    parser.add_argument("--muon", action="store_true",
                        help="Muon for the conv filters, SGD for the rest (the example's --muon)")
    parser.add_argument("--muon-lr", type=float, default=MUON_LR,
                        help=f"Muon's peak lr with --muon (default {MUON_LR}, the example's)")
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args()


def load(args):
    """Normalised float (N, 3, 32, 32) train and test tensors, int64 labels."""
    train, test = CIFAR10(None, train=True), CIFAR10(None, train=False)
    images, labels = train.data, train.targets
    if args.train_size:  # the example's subset: the same seed, the same images
        keep = np.sort(np.random.default_rng(args.seed).permutation(len(images))[:args.train_size])
        images, labels = images[keep], labels[keep]
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)

    def normalised(u8):
        return (torch.tensor(u8).permute(0, 3, 1, 2).float() / 255 - mean) / std
    return (normalised(images), torch.tensor(labels).long(),
            normalised(test.data), torch.tensor(test.targets).long())


class BatchNormBias(nn.BatchNorm2d):
    """BN whose scale stays 1: only the bias learns (momentum 0.4, eps 1e-12)."""

    def __init__(self, channels):
        super().__init__(channels, momentum=0.4, eps=1e-12)
        self.weight.requires_grad = False


def conv3x3(c_in, c_out):
    conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
    with torch.no_grad():
        nn.init.dirac_(conv.weight[:min(c_in, c_out)])  # identity on the first filters
    return conv


class Block(nn.Module):
    def __init__(self, c_in, c_out, act):
        super().__init__()
        self.conv1, self.norm1 = conv3x3(c_in, c_out), BatchNormBias(c_out)
        self.conv2, self.norm2 = conv3x3(c_out, c_out), BatchNormBias(c_out)
        self.act = act()

    def forward(self, x):
        x = self.act(self.norm1(F.max_pool2d(self.conv1(x), 2)))
        return self.act(self.norm2(self.conv2(x)))


class Net(nn.Module):
    def __init__(self, widths, act):
        super().__init__()
        self.whiten, self.act = nn.Conv2d(3, 24, 2, bias=True), act()
        self.layers = nn.Sequential(Block(24, widths[0], act), Block(widths[0], widths[1], act),
                                    Block(widths[1], widths[2], act))
        self.head = nn.Linear(widths[2], 10, bias=False)

    def forward(self, x):
        x = self.layers(self.act(self.whiten(x)))
        return self.head(x.flatten(2).amax(2)) / 9


def whiten_(conv, images, eps=5e-4):
    """The whitening of images' 2x2 patches, mean removed: W = diag(1/sqrt(l + eps)) V^T,
    filters [W; -W], bias -W mu (nn.init.whitening_'s)."""
    x = images.double()
    patches = x.unfold(2, 2, 1).unfold(3, 2, 1).permute(0, 2, 3, 1, 4, 5).reshape(-1, 12)
    mean = patches.mean(0)
    covariance = patches.T @ patches / len(patches) - torch.outer(mean, mean)
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    w = eigenvectors.T / torch.sqrt(eigenvalues.clamp(min=0) + eps)[:, None]
    w = torch.cat([w, -w])
    with torch.no_grad():
        conv.weight.copy_(w.reshape(24, 3, 2, 2).float())
        conv.bias.copy_((-(w @ mean)).float())
    conv.weight.requires_grad = False


def newton_schulz(g, steps, a=3.4445, b=-4.7750, c=2.0315):
    """About the orthogonal factor of g (Keller Jordan's quintic iteration)."""
    x = g / (g.norm() + 1e-7)
    tall = x.size(0) > x.size(1)
    x = x.T if tall else x
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if tall else x


class Muon:
    """airbench94_muon's step for conv filters: Nesterov momentum, the weight rescaled to
    norm sqrt(F), the update orthogonalized as an (F, C*KH*KW) matrix."""

    def __init__(self, filters, lr):
        self.filters, self.buffers, self.lr = filters, [torch.zeros_like(p) for p in filters], lr

    @torch.no_grad()
    def step(self, factor):
        for p, buffer in zip(self.filters, self.buffers):
            buffer.mul_(MUON_MOMENTUM).add_(p.grad)
            update = p.grad + MUON_MOMENTUM * buffer
            p.mul_(len(p) ** 0.5 / p.norm())
            p.sub_(self.lr * factor * newton_schulz(update.reshape(len(p), -1), MUON_NS_STEPS).view(p.shape))


def lr_factor(step, total, warm):
    """0.2 -> 1 over the warm-up, then 1 -> 0.07 (two LinearLRs in sequence)."""
    if step < warm:
        return 0.2 + 0.8 * step / warm
    return 1.0 - 0.93 * min(step - warm, total - warm) / max(1, total - warm)


def tta_logits(model, x):
    """airbench's level 2: (x, flip) weighted 1/2, the two 1-pixel shifts (reflect) 1/4."""
    def mirrored(v):
        return 0.5 * model(v) + 0.5 * model(v.flip(3))
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    return (0.5 * mirrored(x) + 0.25 * mirrored(padded[:, :, 0:32, 0:32])
            + 0.25 * mirrored(padded[:, :, 2:34, 2:34]))


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    start = time.perf_counter()
    x_train, y_train, x_test, y_test = load(args)
    act = nn.ReLU if args.act == "relu" else (lambda: nn.GELU(approximate="tanh"))
    model = Net(tuple(int(w) for w in args.widths.split(",")), act)
    whiten_(model.whiten, x_train[:5000])

    B = args.batch_size
    lr = LR_PER_IMAGE * B
    norms = [m for m in model.modules() if isinstance(m, BatchNormBias)]
    biases = {id(m.bias) for m in norms}
    weights = [p for p in model.parameters() if p.requires_grad and id(p) not in biases]
    filters = [p for p in weights if p.ndim == 4] if args.muon else []
    weights = [p for p in weights if all(p is not f for f in filters)]
    muon = Muon(filters, args.muon_lr)
    sgd = torch.optim.SGD([dict(params=weights, lr=lr, decay=WEIGHT_DECAY),
                           dict(params=[m.bias for m in norms], lr=lr * BIAS_SCALER,
                                decay=WEIGHT_DECAY / BIAS_SCALER)],
                          momentum=MOMENTUM, nesterov=True)
    peak = [group["lr"] for group in sgd.param_groups]
    steps_per_epoch = len(x_train) // B
    total = max(1, round(args.epochs * steps_per_epoch))
    warm = max(1, round(WARMUP * total))

    def averaged():  # what the lookahead averages
        tensors = list(model.parameters())
        if args.average_bn_stats:
            tensors += [s for m in norms for s in (m.running_mean, m.running_var)]
        return tensors
    slow = [t.detach().clone() for t in averaged()]

    def sync(alpha):  # slow += alpha (fast - slow); fast = slow
        with torch.no_grad():
            for s, t in zip(slow, averaged()):
                s += alpha * (t - s)
                t.copy_(s)

    first_flips = torch.rand(len(x_train), generator=generator) < 0.5
    padded = F.pad(x_train, (2, 2, 2, 2), mode="reflect")
    rows, cols = torch.arange(32), torch.arange(32)
    step, epoch = 0, 0
    while step < total:
        model.whiten.bias.requires_grad = epoch < 3   # the whitening bias learns 3 epochs
        flips = first_flips ^ (epoch % 2 == 1)        # the alternating flip
        order = torch.randperm(len(x_train), generator=generator)
        model.train()
        for i in range(min(steps_per_epoch, total - step)):
            index = order[i * B:(i + 1) * B]
            dy, dx = torch.randint(0, 5, (2, B), generator=generator)  # 2-pixel translation
            x = padded[index][torch.arange(B)[:, None, None], :, (dy[:, None] + rows)[:, :, None],
                              (dx[:, None] + cols)[:, None, :]].permute(0, 3, 1, 2)
            x = torch.where(flips[index].view(-1, 1, 1, 1), x.flip(3), x).contiguous()
            factor = lr_factor(step, total, warm)  # one schedule for every group
            for group, top in zip(sgd.param_groups, peak):
                group["lr"] = top * factor
            loss = F.cross_entropy(model(x), y_train[index], label_smoothing=LABEL_SMOOTHING)
            sgd.zero_grad(set_to_none=True)
            loss.backward()
            with torch.no_grad():  # decoupled decay: theta *= 1 - lr * decay
                for group in sgd.param_groups:
                    for p in group["params"]:
                        if p.grad is not None:
                            p.mul_(1 - group["lr"] * group["decay"])
            sgd.step()
            muon.step(factor)
            step += 1
            if step % 5 == 0:
                sync(1 - 0.95 ** 5 * (step / total) ** 3)
        epoch += 1
        print(f"epoch {epoch}: last loss {loss.item():.4f}  ({time.perf_counter() - start:.0f} s)",
              flush=True)
    sync(0.0)  # the model takes the slow weights
    model.eval()
    with torch.no_grad():
        correct = sum(int((tta_logits(model, x_test[i:i + 1000]).argmax(1)
                           == y_test[i:i + 1000]).sum()) for i in range(0, len(x_test), 1000))
    print(f"test accuracy {100 * correct / len(x_test):.2f}%")
    print(f"total time {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
