"""Alternating flip: each image is seen mirrored every other epoch, never twice alike in a row.

A random flip shows an image in the same orientation two epochs running half the
time; over a short run some images are never seen mirrored at all. The
alternating schedule (airbench, Jordan 2024) removes that waste of the few epochs a
speedrun has:

    epoch 0:  flip a random half of the images (a coin per image, drawn once)
    epoch e:  flip exactly the images NOT flipped in epoch e - 1

so flip_e(k) = flip_0(k) XOR (e is odd), and every pair of consecutive epochs shows
each image once each way. The crops (random translation) stay random every epoch.
"""
from .. import backend
from .device_loader import DeviceLoader, EpochPlan

__all__ = ["alternating_flips", "AlternatingFlipLoader"]


def alternating_flips(first, epoch):
    """Which images (by sample index) are flipped in `epoch`, given epoch 0's coins
    `first` (a bool array): the same in even epochs, the complement in odd ones."""
    return ~first if epoch % 2 else first


class AlternatingFlipLoader(DeviceLoader):
    """A DeviceLoader (augment=True) whose flips follow the alternating schedule above.

        loader = AlternatingFlipLoader(images, labels, batch_size=512, shuffle=True,
                                       augment=True, padding=2, mean=..., std=...)

    Everything else (order, crops, normalisation) is DeviceLoader's. Epoch 0's coins
    are drawn from the device's generator the first time an epoch is planned;
    `self.epoch` (the count of epochs started) decides which half is flipped, so
    setting it resumes the schedule."""

    def __init__(self, images, labels, **options):
        if not options.get("augment", False):
            raise ValueError("AlternatingFlipLoader: the flip schedule is an augmentation; "
                             "pass augment=True (and padding=0 for flips without translation)")
        super().__init__(images, labels, **options)
        self.first_flips = None  # epoch 0's coins, by sample index (drawn on first use)

    def plan_epoch(self):
        plan = super().plan_epoch()  # order and crops as usual; its random flips are replaced
        with backend.device_scope(self.device):
            if self.first_flips is None:
                self.first_flips = backend.rng(self.device).random(self.num_samples) < 0.5
            flips = alternating_flips(self.first_flips, self.epoch)   # (N,), by sample index
            return EpochPlan(plan.order, plan.top, plan.left, flips[plan.order])  # by position

