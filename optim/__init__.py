"""optim: update rules, learning-rate schedules, regularization and clipping.

Files go from simple to complex; each rule's docstring gives its equations.
"""
# learning-rate schedules, penalties, gradient clipping, early stopping
from . import lr_scheduler
from .adadelta import Adadelta
from .adafactor import Adafactor
from .adagrad import Adagrad
from .adam import Adam, Adamax, AdamW
from .adam_variants import AdaBelief, AdaBound, AdaMod, DiffGrad, Yogi
from .adamp import SGDP, AdamP
from .adan import Adan
from .ademamix import AdEMAMix
from .adopt import ADOPT
from .aggmo import AggMo
from .asgd import ASGD
from .clip import clip_grad_norm_, clip_grad_value_
from .combined import Combined
from .curvature import AdaHessian, SophiaG, SophiaH

# learning-rate free, schedule free, curvature, wrappers, weight averaging
from .dadapt import DAdaptAdam, DAdaptSGD
from .early_stopping import EarlyStopping
from .layerwise import LAMB, LARS, NovoGrad
from .lbfgs import LBFGS
from .madgrad import MADGRAD
from .mars import MARS
from .muon import Muon
from .nadam import NAdam
from .optimizer import Optimizer
from .prodigy import Prodigy
from .quasi_hyperbolic import QHM, QHAdam
from .radam import RAdam
from .regularization import elastic_net_penalty, l1_penalty, l2_penalty
from .rmsprop import RMSprop
from .rprop import Rprop
from .schedule_free import ScheduleFreeAdamW, ScheduleFreeSGD
from .sgd import SGD
from .sgdw import SGDW
from .shampoo import Shampoo

# beyond torch.optim: sign and momentum variants, Adam variants, layer-wise, matrix
from .sign import Lion, Signum
from .soap import SOAP
from .sparse_adam import SparseAdam
from .swa import (
                  AveragedModel,
                  get_ema_avg_fn,
                  get_ema_multi_avg_fn,
                  get_swa_avg_fn,
                  get_swa_multi_avg_fn,
                  update_bn,
)
from .wrappers import ASAM, SAM, Lookahead, Ranger
