"""einsum: sums of products named by index letters, "ij,jk->ik" for matmul.

The gradient of an einsum with respect to one operand is another einsum:
the incoming gradient (indexed by the output letters) times all the other
operands, summed to the operand's own letters. For "ij,jk->ik":
dA = einsum("ik,jk->ij", gy, B), which is gy @ B.T. Two details:

* a letter that appears only in that operand was summed away on its own, so
  its gradient is the same along it: computed without it, then broadcast;
* a repeated letter ("ii->", the trace) reads a diagonal, so its gradient lands
  on the diagonal: the repeat gets a fresh letter tied to the first by an
  identity matrix ("i,iJ->iJ" with eye).

Equations are rewritten to explicit form first ("ij,jk" -> "ij,jk->ik",
"..." -> letters), so backward only deals with letters. A dim of size 1
facing a bigger one of the same letter is broadcast before the einsum (as
PyTorch does), and the engine sums its gradient back, as for any broadcast.
"""
import builtins
import string

import numpy as np

from ..autograd import Function, _as_tensors
from ..tensor import Tensor
from .shape import ShapeError, broadcast_to, reshape

__all__ = ["einsum"]


def _explicit(equation, shapes):
    """(list of operand letter strings, output letters), with "..." and the
    implicit output (the letters used once, sorted, after the ellipsis) spelled out."""
    equation = equation.replace(" ", "")
    inputs, arrow, output = equation.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(shapes):
        raise ShapeError(f"einsum: equation {equation!r} names {len(terms)} operands but "
                         f"{len(shapes)} were given")
    used = set(equation) - set(".,->")
    free = [c for c in string.ascii_letters if c not in used]
    widest = 0
    for i, (term, shape) in enumerate(zip(terms, shapes)):
        if "..." in term:
            span = len(shape) - (len(term) - 3)
            widest = max(widest, span)
            terms[i] = term.replace("...", "".join(free[len(free) - span:]) if span else "")
        if len(terms[i]) != len(shape):
            raise ShapeError(f"einsum: operand {i} has shape {shape} but {term!r} names "
                             f"{len(term)} dims")
    ellipsis = "".join(free[len(free) - widest:]) if widest else ""
    if not arrow:
        letters = "".join(terms)
        output = ellipsis + "".join(sorted(c for c in set(letters) - set(ellipsis)
                                           if letters.count(c) == 1))
    else:
        output = output.replace("...", ellipsis)
    return terms, output


class Einsum(Function):
    save_inputs, save_outputs = True, False  # each operand's gradient needs the others

    def __init__(self, terms, output):
        self.terms, self.output_letters = terms, output

    def forward(self, *operands):
        return np.einsum(f"{','.join(self.terms)}->{self.output_letters}", *operands)

    def backward(self, gy):
        operands = self.inputs
        return tuple(self._gradient(i, gy, operands) if self.needs_input_grad[i] else None
                     for i in range(len(operands)))

    def _gradient(self, i, gy, operands):
        term = self.terms[i]
        others = [(t, x) for j, (t, x) in enumerate(zip(self.terms, operands)) if j != i]
        known = set(self.output_letters).union(*(set(t) for t, _ in others))
        # the target letters: the operand's own, each once, those known elsewhere
        unique = "".join(dict.fromkeys(term))
        kept = "".join(c for c in unique if c in known)
        sizes = dict(zip(term, operands[i].shape))
        g = einsum(f"{','.join([self.output_letters] + [t for t, _ in others])}->{kept}",
                   gy, *[x for _, x in others])
        if kept != unique:  # letters summed only here: the gradient is the same along them
            g = reshape(g, tuple(sizes[c] if c in kept else 1 for c in unique))
            g = broadcast_to(g, tuple(sizes[c] for c in unique))
        if unique == term:
            return g
        # a repeated letter: place g on the diagonal, a fresh letter per repeat
        free = [c for c in string.ascii_letters if c not in set(self.output_letters + "".join(self.terms))]
        target, eyes, seen = "", [], set()
        for c in term:
            if c in seen:
                fresh = free.pop()
                target += fresh
                eyes.append((c + fresh, Tensor._wrap(gy.xp.eye(sizes[c], dtype=gy.dtype), gy.device)))
            else:
                target += c
                seen.add(c)
        return einsum(f"{','.join([unique] + [e for e, _ in eyes])}->{target}", g,
                      *[x for _, x in eyes])


def _letter_sizes(equation, terms, output, operands):
    """Each letter's size. As in PyTorch, a dim of size 1 broadcasts against the
    same letter's size elsewhere ("...i,...i" with (2, 1, 3) and (4, 3): the
    ellipsis is (2, 4)); within one operand a repeated letter must match exactly."""
    sizes = {}
    for term, x in zip(terms, operands):
        own = {}
        for c, n in zip(term, x.shape):
            if own.setdefault(c, n) != n:
                raise ShapeError(f"einsum: {equation!r}: letter {c!r} is repeated in an operand of "
                                 f"shape {x.shape} but its sizes {own[c]} and {n} differ")
            if sizes.setdefault(c, n) != n and 1 not in (n, sizes[c]):
                raise ShapeError(f"einsum: {equation!r}: letter {c!r} (or a dim under '...') stands "
                                 f"for sizes {sizes[c]} and {n} in operand shapes "
                                 f"{[x.shape for x in operands]}; sizes must match or be 1")
            sizes[c] = builtins.max(sizes[c], n)
    missing = set(output) - set(sizes)
    if missing or len(set(output)) != len(output):
        raise ValueError(f"einsum: {equation!r}: every output letter must appear once in the "
                         f"output and in some operand")
    return sizes


def einsum(equation, *operands):
    """torch.einsum: einsum("ij,jk->ik", a, b) = a @ b, "ii->" the trace,
    "bij,bjk->bik" a batched matmul, "i,j->ij" an outer product; "..." stands
    for the leading dims, and broadcasts between operands ("...ij,...jk->...ik"
    with (5, 1, 2, 3) and (4, 3, 6) is (5, 4, 2, 6)). Operands may also come as one list."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    operands = _as_tensors(operands, "einsum")
    terms, output = _explicit(equation, [x.shape for x in operands])
    sizes = _letter_sizes(equation, terms, output, operands)
    # a dim of size 1 facing a bigger one is broadcast first; its gradient is summed back
    operands = [x if all(n == sizes[c] for c, n in zip(t, x.shape))
                else broadcast_to(x, tuple(sizes[c] for c in t)) for t, x in zip(terms, operands)]
    return Einsum(terms, output)(*operands)
