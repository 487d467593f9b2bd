"""Metrics for `fit` and `evaluate`: metric(output, y) -> the batch's SUM.

A metric returns a sum, not a mean, as a 0-d array (or Tensor) on the
model's device: the loop adds the batches up there and divides by the number
of samples once, at the end of the epoch (one read, and batches of unequal
size weigh by their samples). Any function with this signature is a metric;
its `__name__` names it in the history (train_<name>, val_<name>).
"""

__all__ = ["accuracy", "METRICS", "metric_functions"]


def accuracy(output, y):
    """Correct predictions in the batch: argmax over the classes (axis 1) == the label."""
    return (output.data.argmax(axis=1) == y.data).sum()


METRICS = {"accuracy": accuracy}


def metric_functions(metrics):
    """{name: function} for a list of metric names and/or functions."""
    if isinstance(metrics, str) or callable(metrics):
        metrics = (metrics,)
    functions = {}
    for metric in metrics or ():
        if callable(metric):
            functions[metric.__name__] = metric
        elif metric in METRICS:
            functions[metric] = METRICS[metric]
        else:
            raise ValueError(f"fit/evaluate: unknown metric {metric!r}; give one of "
                             f"{sorted(METRICS)} or a function metric(output, y) -> the batch's sum")
    if "loss" in functions:
        raise ValueError("fit/evaluate: a metric can't be named 'loss' (the loss is always logged)")
    return functions
