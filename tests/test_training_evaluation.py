"""fit's evaluation options and reports: more evaluation sets (eval_loaders), the key a
ReduceLROnPlateau steps on (monitor), the per-epoch summary line (log), the history a
Ctrl-C leaves on the KeyboardInterrupt, and `predict` (the outputs themselves)."""
import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import minigrad.nn as nn
import minigrad.optim as optim
from minigrad.data import DataLoader, TensorDataset
from minigrad.training import LambdaCallback, TrainingDiverged, evaluate, fit, predict


def loader(n, seed, shuffle=False):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    return DataLoader(TensorDataset(x, y), batch_size=8, shuffle=shuffle, seed=seed,
                      num_workers=0)


def model_and_optimizer():
    minigrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    return model, optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def test_eval_loaders_are_evaluated_every_epoch_and_logged_under_their_names():
    model, opt = model_and_optimizer()
    train, val, test = loader(48, 0, shuffle=True), loader(16, 1), loader(24, 2)
    lines = []
    history = fit(model, train, loss_fn=F.cross_entropy, optimizer=opt, epochs=2, val_loader=val,
                  eval_loaders={"test": test}, progress=False, log=lines.append, seed=0)
    assert len(history["test_loss"]) == len(history["test_accuracy"]) == 2
    final = evaluate(model, test, loss_fn=F.cross_entropy)  # the last epoch's weights
    assert history["test_loss"][-1] == pytest.approx(final["loss"], rel=1e-12)
    assert history["test_accuracy"][-1] == pytest.approx(final["accuracy"], rel=1e-12)
    assert all(s > 0 for s in history["samples_per_s"]) and history["steps"] == [6, 6]
    # one summary line per epoch, through `log`, naming every set
    assert len(lines) == 2 and lines[1].startswith("epoch   2/2  lr 1.00e-01  train loss ")
    assert f"test loss {history['test_loss'][1]:.4f} acc {history['test_accuracy'][1]:6.2%}" in lines[1]
    assert " val loss " in lines[1] and lines[1].endswith(" s")
    with pytest.raises(ValueError, match="eval_loaders can't be named 'val'"):
        fit(model, train, loss_fn=F.cross_entropy, optimizer=opt, epochs=1,
            eval_loaders={"val": test}, progress=False)


class Recorder:
    """A metric-driven scheduler that records what it is given."""
    steps_on_metric = True

    def __init__(self):
        self.seen = []

    def step(self, metric):
        self.seen.append(metric)


def test_a_metric_driven_scheduler_steps_on_the_monitored_key():
    model, opt = model_and_optimizer()
    train, test = loader(32, 0, shuffle=True), loader(16, 2)
    scheduler = Recorder()
    history = fit(model, train, loss_fn=F.cross_entropy, optimizer=opt, epochs=3,
                  eval_loaders={"test": test}, scheduler=scheduler, monitor="test_loss",
                  progress=False, seed=0)
    assert scheduler.seen == history["test_loss"]
    scheduler = Recorder()  # default without a val_loader: the training loss
    history = fit(model, train, loss_fn=F.cross_entropy, optimizer=opt, epochs=1,
                  scheduler=scheduler, progress=False)
    assert scheduler.seen == history["train_loss"]
    with pytest.raises(KeyError, match="monitor='val_loss'.*train_loss"):
        fit(model, train, loss_fn=F.cross_entropy, optimizer=opt, epochs=1,
            scheduler=Recorder(), monitor="val_loss", progress=False)


def test_ctrl_c_leaves_the_completed_epochs_on_the_exception():
    model, opt = model_and_optimizer()

    def interrupt(trainer, step, logs):
        if trainer.epoch == 2:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt) as info:
        fit(model, loader(32, 0), loss_fn=F.cross_entropy, optimizer=opt, epochs=4,
            callbacks=[LambdaCallback(on_batch_end=interrupt)], progress=False)
    assert info.value.history.interrupted and len(info.value.history["train_loss"]) == 2


def test_a_non_finite_loss_carries_its_value_and_where_it_was_measured():
    model, opt = model_and_optimizer()

    def blow_up(trainer, step, logs):  # the weights go to inf after the epoch's last step
        if step == len(trainer.train_loader) - 1:
            trainer.model[2].weight.data[...] = np.inf
    with pytest.raises(TrainingDiverged) as info:
        fit(model, loader(32, 0), loss_fn=F.cross_entropy, optimizer=opt, epochs=2,
            eval_loaders={"test": loader(16, 2)}, progress=False,
            callbacks=[LambdaCallback(on_batch_end=blow_up)])
    error = info.value
    assert (error.epoch, error.step, error.split) == (0, None, "test") and np.isnan(error.loss)
    assert "the test loss after epoch 0 is nan" in str(error)


def test_predict_gives_the_outputs_in_eval_mode_and_restores_training_mode():
    minigrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 2))
    data = loader(20, 3)  # batches of 8, 8, 4
    outputs, targets = predict(model, data)
    assert model.training  # put back as it was
    x = np.concatenate([b[0].numpy() for b in data])
    model.eval()
    np.testing.assert_allclose(outputs, model(minigrad.tensor(x)).numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(targets, np.concatenate([b[1].numpy() for b in data]))
    with pytest.raises(ValueError, match="predict: the loader yielded no batch"):
        predict(model, [])


def test_the_history_splits_the_training_pass_into_waiting_for_data_and_steps():
    import time

    class SlowLoader:  # each batch takes 20 ms to arrive, as from a slow disk
        def __init__(self, inner):
            self.inner = inner

        def __iter__(self):
            for batch in self.inner:
                time.sleep(0.02)
                yield batch

        def __len__(self):
            return len(self.inner)

    model, opt = model_and_optimizer()
    history = fit(model, SlowLoader(loader(48, 0)), loss_fn=F.cross_entropy, optimizer=opt,
                  epochs=2, progress=False)
    for epoch in range(2):
        assert history["data_seconds"][epoch] >= 6 * 0.02  # six batches, each waited for
        assert history["step_seconds"][epoch] > 0
        assert history["data_seconds"][epoch] + history["step_seconds"][epoch] <= \
            history["seconds"][epoch]
