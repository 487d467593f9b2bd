"""optim: update rules, learning-rate schedules, regularization and clipping.

Files go from simple to complex; each rule's docstring gives its equations.
"""
from .optimizer import Optimizer
from .sgd import SGD
from .asgd import ASGD
from .rprop import Rprop
from .adagrad import Adagrad
from .rmsprop import RMSprop
from .adadelta import Adadelta
from .adam import Adam, AdamW, Adamax
from .nadam import NAdam
from .radam import RAdam
from .sparse_adam import SparseAdam
from .adafactor import Adafactor
from .muon import Muon
from .lbfgs import LBFGS
# beyond torch.optim: sign and momentum variants, Adam variants, layer-wise, matrix
from .sign import Lion, Signum
from .quasi_hyperbolic import QHM, QHAdam
from .aggmo import AggMo
from .adam_variants import AdaBelief, Yogi, DiffGrad, AdaBound, AdaMod
from .adam_recent import ADOPT, AdEMAMix, MARS
from .adan import Adan
from .adamp import AdamP, SGDP
from .layerwise import LAMB, LARS, NovoGrad
from .madgrad import MADGRAD
from .shampoo import Shampoo
from .soap import SOAP
# learning-rate free, schedule free, curvature, wrappers, weight averaging
from .dadapt import DAdaptSGD, DAdaptAdam
from .prodigy import Prodigy
from .schedule_free import ScheduleFreeSGD, ScheduleFreeAdamW
from .curvature import AdaHessian, SophiaH, SophiaG
from .wrappers import Lookahead, Ranger, SAM, ASAM
from .swa import (AveragedModel, get_ema_avg_fn, get_ema_multi_avg_fn, get_swa_avg_fn,
                  get_swa_multi_avg_fn, update_bn)
# learning-rate schedules, penalties, gradient clipping, early stopping
from . import lr_scheduler
from .regularization import l1_penalty, l2_penalty, elastic_net_penalty
from .clip import clip_grad_norm_, clip_grad_value_
from .early_stopping import EarlyStopping
