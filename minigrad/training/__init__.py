"""minigrad.training: the training loop as a library feature, Keras-style.

    import minigrad.functional as F
    import minigrad.nn as nn
    import minigrad.optim as optim
    from minigrad.data import DataLoader, TensorDataset
    from minigrad.training import CSVLogger, Checkpoint, fit

    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = optim.AdamW(model.parameters(), lr=1e-3)
    history = fit(model, DataLoader(train, batch_size=128, shuffle=True, seed=0),
                  loss_fn=F.cross_entropy, optimizer=opt, epochs=10,
                  val_loader=DataLoader(val, batch_size=512),
                  scheduler=optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10),
                  callbacks=[optim.EarlyStopping(monitor="val_loss", patience=3),
                             CSVLogger("runs/log.csv"), Checkpoint("runs/last.ckpt")])
    print(history["val_accuracy"][-1])

`fit` runs the loop every example writes by hand (see examples/gradient_descent.py
for it spelled out): forward, backward, step, with what the update rule declares
it needs (a closure for LBFGS, create_graph for AdaHessian), per-step or per-epoch
learning-rate schedules, validation (and more evaluation sets: eval_loaders), and
the callbacks' hooks. `evaluate` is its validation pass on its own, `predict` the
outputs themselves (e.g. for a confusion matrix). Files: loop.py (fit),
evaluation.py (evaluate, predict), callbacks.py (the protocol, LambdaCallback,
CSVLogger), checkpoint.py (Checkpoint, resume, ResumeError), metrics.py. The
core never imports minigrad.nn or minigrad.optim: the model, optimizer and
scheduler are used through their methods alone.
"""
from .batch_size import BatchSizeSchedule
from .callbacks import Callback, CSVLogger, LambdaCallback
from .checkpoint import Checkpoint, ResumeError, config_changes, resume
from .evaluation import evaluate, predict
from .loop import History, Trainer, TrainingDiverged, epoch_seed, fit
from .metrics import accuracy
from .stopping import GradientNormStopping
from .tta import tta_accuracy, tta_predict

__all__ = ["fit", "evaluate", "predict", "History", "Trainer", "TrainingDiverged", "epoch_seed",
           "Callback", "LambdaCallback", "CSVLogger", "Checkpoint", "resume", "ResumeError",
           "config_changes", "accuracy", "GradientNormStopping", "BatchSizeSchedule",
           "tta_predict", "tta_accuracy"]
