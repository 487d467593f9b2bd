"""Runs the tutorials' code blocks as tests (Sybil), so the tutorials never rot.

Every ```python block of docs/tutorials/*.md runs, in order, in one namespace
per tutorial: blocks with `>>>` lines are doctests (their printed output must
match, with NORMALIZE_WHITESPACE and ELLIPSIS), the others are plain code whose
`assert`s must hold. Blocks fenced as ```text or ```bash are not run.

Each tutorial starts from the same random state (`minigrad.manual_seed(0)`;
NumPy randomness in the tutorials comes from seeded `np.random.default_rng`),
so what it prints is the same on every run. Printed floats are rounded in the
tutorials, and float comparisons use tolerances that hold on any BLAS kernel
and thread count.
"""
from doctest import ELLIPSIS, NORMALIZE_WHITESPACE

from sybil import Sybil
from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser

import minigrad


def _seed(namespace):
    minigrad.manual_seed(0)


pytest_collect_file = Sybil(
    parsers=[PythonCodeBlockParser(doctest_optionflags=NORMALIZE_WHITESPACE | ELLIPSIS),
             SkipParser()],
    patterns=["tutorials/*.md"],
    setup=_seed,
).pytest()
