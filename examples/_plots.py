"""The plots the training examples share (a helper for the examples, not a script):
learning curves and a confusion matrix, written to PNG files."""
import numpy as np


def pyplot():
    import matplotlib
    matplotlib.use("Agg")  # files only: works without a display
    import matplotlib.pyplot as plt
    return plt


def save(fig, path, dpi=100):
    """Write the figure to `path` (PNG) and free it; returns the path."""
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return path


def confusion_matrix(outputs, targets, num_classes):
    """Counts of (true class, predicted class): rows true, columns predicted, from a
    classifier's outputs (N, K) and the targets (N,) (minigrad.training.predict)."""
    pairs = targets * num_classes + outputs.argmax(axis=1)  # one index per (true, predicted)
    return np.bincount(pairs, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def plot_curves(history, path, title=""):
    """Loss, accuracy and learning rate per epoch, train vs val/test (a
    minigrad.training History: train_loss, val_accuracy, ..., lr)."""
    plt = pyplot()
    epochs = list(range(1, len(history["train_loss"]) + 1))
    marker = "o" if len(epochs) <= 30 else None  # dots only while they stay apart
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for kind, ax in (("loss", axes[0]), ("accuracy", axes[1])):
        for split in ("train", "val", "test"):
            if f"{split}_{kind}" in history:
                ax.plot(epochs, history[f"{split}_{kind}"], marker=marker, label=split)
        ax.set(xlabel="epoch", ylabel="cross-entropy" if kind == "loss" else "accuracy",
               title=kind)
        ax.legend()
    axes[2].plot(epochs, history["lr"], marker=marker)
    axes[2].set(xlabel="epoch", ylabel="learning rate", title="learning rate (epoch start)")
    axes[2].set_yscale("log")
    for ax in axes:
        ax.xaxis.get_major_locator().set_params(integer=True)  # whole epochs on the x axis
    fig.suptitle(title)
    fig.tight_layout()
    return save(fig, path)


def plot_confusion(confusion, classes, path, title="confusion matrix"):
    """Rows: true class; columns: predicted. Colour is the fraction of the row."""
    plt = pyplot()
    rates = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, str(confusion[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if rates[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.colorbar(image, ax=ax, label="fraction of the true class")
    fig.tight_layout()
    return save(fig, path)
