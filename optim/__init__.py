"""optim: update rules, learning-rate schedules, regularization and clipping.

Files go from simple to complex; each rule's docstring gives its equations.
"""
from .optimizer import Optimizer
from .sgd import SGD
