"""Recurrent layers: RNN, LSTM, GRU and their one-step cells, with PyTorch's
parameter names, shapes, gate order and initialisation, so that a PyTorch
state dict loads as it is and gives PyTorch's outputs.

Each step reads the input x_t and the previous hidden state h (W_i* of shape
(gates * H, I), W_h* of shape (gates * H, H), gates stacked in PyTorch's order):

    RNN:   h' = tanh(W_ih x + b_ih + W_hh h + b_hh)          (or relu)
    LSTM:  i, f, g, o = split(W_ih x + b_ih + W_hh h + b_hh)  (input, forget, cell, output)
           c' = sigmoid(f) * c + sigmoid(i) * tanh(g),   h' = sigmoid(o) * tanh(c')
           with proj_size = P > 0: h' = W_hr (sigmoid(o) * tanh(c')), W_hr of shape (P, H),
           so h (and W_hh's width, and the output) has P features while c keeps H
    GRU:   r, z, n from W_ih x + b_ih and W_hh h + b_hh, each split in three:
           r = sigmoid(x_r + h_r),  z = sigmoid(x_z + h_z),  n = tanh(x_n + r * h_n)
           h' = (1 - z) * n + z * h

Everything is Tensor ops, so backpropagation through time is just backward.
"""
import math

import minigrad
import minigrad.functional as F

from . import init
from .linear import new_parameter
from .module import Module

__all__ = ["RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU"]


# ------------------------------------------------------------------ one step
def rnn_step(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh"):
    pre = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)
    return F.tanh(pre) if nonlinearity == "tanh" else F.relu(pre)


def lstm_step(x, state, w_ih, w_hh, b_ih, b_hh, w_hr=None):
    h, c = state
    i, f, g, o = (F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)).chunk(4, -1)
    c = F.sigmoid(f) * c + F.sigmoid(i) * F.tanh(g)
    h = F.sigmoid(o) * F.tanh(c)
    return (h if w_hr is None else F.linear(h, w_hr)), c  # the projection: (N, H) -> (N, P)


def gru_step(x, h, w_ih, w_hh, b_ih, b_hh):
    x_r, x_z, x_n = F.linear(x, w_ih, b_ih).chunk(3, -1)
    h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, -1)
    r, z = F.sigmoid(x_r + h_r), F.sigmoid(x_z + h_z)
    n = F.tanh(x_n + r * h_n)  # the reset gate scales h's contribution, bias included
    return (1.0 - z) * n + z * h


GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def _check_nonlinearity(nonlinearity, name):
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{name}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")


# --------------------------------------------------------------------- cells
class _Cell(Module):
    """weight_ih (G*H, I), weight_hh (G*H, H), bias_ih and bias_hh (G*H,), all
    U(-1/sqrt(H), 1/sqrt(H)) as in PyTorch."""

    mode = None

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        rows = GATES[self.mode] * hidden_size
        self.weight_ih = new_parameter((rows, input_size), device, dtype)
        self.weight_hh = new_parameter((rows, hidden_size), device, dtype)
        self.bias_ih = new_parameter((rows,), device, dtype) if bias else None
        self.bias_hh = new_parameter((rows,), device, dtype) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _zeros(self, x):
        return minigrad.zeros(*x.shape[:-1], self.hidden_size, dtype=x.dtype, device=x.device)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_Cell):
    """One step of an Elman RNN: (N, I) input and (N, H) state -> (N, H) state."""

    mode = "RNN"

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype=None):
        _check_nonlinearity(nonlinearity, "RNNCell")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        hx = self._zeros(input) if hx is None else hx
        return rnn_step(input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
                        self.nonlinearity)


class LSTMCell(_Cell):
    """One LSTM step: input (N, I), state (h, c) each (N, H) -> (h', c')."""

    mode = "LSTM"

    def forward(self, input, hx=None):
        hx = (self._zeros(input), self._zeros(input)) if hx is None else hx
        return lstm_step(input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class GRUCell(_Cell):
    """One GRU step: (N, I) input and (N, H) state -> (N, H) state."""

    mode = "GRU"

    def forward(self, input, hx=None):
        hx = self._zeros(input) if hx is None else hx
        return gru_step(input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


# --------------------------------------------------------------- sequences
class _RNNBase(Module):
    """num_layers stacked, each over the whole sequence (both ways when bidirectional,
    outputs concatenated); parameters weight_ih_l{k}[_reverse] etc., as PyTorch.

    Input (L, N, I), or (N, L, I) with batch_first=True (PyTorch's default is kept
    here: batch_first=False), or unbatched (L, I). Returns (output, h_n): output
    (L, N, D*H) holds the last layer's states at every step, h_n (num_layers*D, N, H)
    every layer's final state (for LSTM, (h_n, c_n)). D = 2 if bidirectional else 1.
    LSTM's proj_size = P > 0 adds weight_hr_l{k} (P, H): h, h_n and the output have
    P features instead of H (c_n keeps H)."""

    mode = None

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"{self.mode}: dropout must be in [0, 1], got {dropout}")
        if proj_size and self.mode != "LSTM":
            raise ValueError(f"{self.mode}: proj_size is only supported by LSTM, got proj_size={proj_size}")
        if not (isinstance(proj_size, int) and 0 <= proj_size < hidden_size):
            raise ValueError(f"{self.mode}: proj_size must be an integer in [0, hidden_size) = "
                             f"[0, {hidden_size}), got {proj_size!r}")
        self.proj_size = proj_size
        self.state_size = proj_size or hidden_size  # h's features (c keeps hidden_size)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, dropout
        self.bidirectional = bidirectional
        self.directions = 2 if bidirectional else 1
        rows = GATES[self.mode] * hidden_size
        for layer in range(num_layers):
            width = input_size if layer == 0 else self.state_size * self.directions
            for suffix in self._suffixes(layer):
                setattr(self, f"weight_ih{suffix}", new_parameter((rows, width), device, dtype))
                setattr(self, f"weight_hh{suffix}", new_parameter((rows, self.state_size), device,
                                                                  dtype))
                if bias:
                    setattr(self, f"bias_ih{suffix}", new_parameter((rows,), device, dtype))
                    setattr(self, f"bias_hh{suffix}", new_parameter((rows,), device, dtype))
                if proj_size:  # registered last, as PyTorch orders its state dict
                    setattr(self, f"weight_hr{suffix}", new_parameter((proj_size, hidden_size),
                                                                      device, dtype))
        self.reset_parameters()

    def _suffixes(self, layer):
        return [f"_l{layer}", f"_l{layer}_reverse"][:self.directions]

    def reset_parameters(self):
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _weights(self, suffix):
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh") + (("weight_hr",) if self.proj_size else ())
        return [getattr(self, f"{name}{suffix}", None) for name in names]

    def extra_repr(self):
        options = [f"{self.input_size}, {self.hidden_size}"]
        options += [f"num_layers={self.num_layers}"] if self.num_layers > 1 else []
        options += ["batch_first=True"] if self.batch_first else []
        options += [f"dropout={self.dropout}"] if self.dropout else []
        options += ["bidirectional=True"] if self.bidirectional else []
        options += [f"proj_size={self.proj_size}"] if self.proj_size else []
        return ", ".join(options)

    def forward(self, input, hx=None):
        if input.ndim not in (2, 3) or input.shape[-1] != self.input_size:
            raise ValueError(f"{self.mode}: expected input (L, N, {self.input_size}) "
                             f"{'(N, L, I) with batch_first ' if self.batch_first else ''}or "
                             f"unbatched (L, {self.input_size}), got shape {input.shape}")
        unbatched = input.ndim == 2
        x = input.unsqueeze(1) if unbatched else (input.swapaxes(0, 1) if self.batch_first
                                                  else input)  # (L, N, I)
        states = self._split_states(hx, x, unbatched)
        final = []
        for layer in range(self.num_layers):
            steps = [s.squeeze(0) for s in x.split(1, dim=0)]  # L tensors (N, I)
            outputs = []
            for direction, suffix in enumerate(self._suffixes(layer)):
                state = states[layer * self.directions + direction]
                order = range(len(steps)) if direction == 0 else reversed(range(len(steps)))
                out = [None] * len(steps)
                for t in order:
                    state = self._step(steps[t], state, *self._weights(suffix))
                    out[t] = state[0] if self.mode == "LSTM" else state
                outputs.append(F.stack(out, axis=0))  # (L, N, H)
                final.append(state)
            x = outputs[0] if self.directions == 1 else F.concatenate(outputs, axis=-1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout)  # between layers, not after the last (PyTorch)
        output = x.squeeze(1) if unbatched else (x.swapaxes(0, 1) if self.batch_first else x)
        return output, self._join_states(final, unbatched)

    # hidden states: (num_layers*D, N, H) tensors <-> a list of (N, H) per layer and direction
    def _split_states(self, hx, x, unbatched):
        sizes = (self.state_size, self.hidden_size) if self.mode == "LSTM" else (self.hidden_size,)
        if hx is None:
            zeros = [minigrad.zeros(x.shape[1], n, dtype=x.dtype, device=x.device) for n in sizes]
            count = self.num_layers * self.directions
            return [tuple(zeros) if self.mode == "LSTM" else zeros[0]] * count
        parts = hx if self.mode == "LSTM" else (hx,)
        split = []
        for h, size in zip(parts, sizes):  # LSTM: h has proj_size features if set, c hidden_size
            h = h.unsqueeze(1) if unbatched else h
            expected = (self.num_layers * self.directions, x.shape[1], size)
            if h.shape != expected:
                raise ValueError(f"{self.mode}: expected hidden state of shape {expected}, got "
                                 f"{h.shape}")
            split.append([s.squeeze(0) for s in h.split(1, dim=0)])
        return list(zip(*split)) if self.mode == "LSTM" else split[0]

    def _join_states(self, final, unbatched):
        def join(states):
            h = F.stack(states, axis=0)
            return h.squeeze(1) if unbatched else h
        if self.mode == "LSTM":
            return join([h for h, _ in final]), join([c for _, c in final])
        return join(final)


class RNN(_RNNBase):
    """Elman RNN, h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (nonlinearity='relu' for relu)."""

    mode = "RNN"

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None):
        _check_nonlinearity(nonlinearity, "RNN")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device=device, dtype=dtype)

    def _step(self, x, h, *weights):
        return rnn_step(x, h, *weights, self.nonlinearity)


class LSTM(_RNNBase):
    """Long short-term memory; forward(input, (h_0, c_0)) -> (output, (h_n, c_n)).
    proj_size = P > 0: h' = W_hr h, so h_0, h_n and the output have P features."""

    mode = "LSTM"

    def _step(self, x, state, *weights):
        return lstm_step(x, state, *weights)


class GRU(_RNNBase):
    """Gated recurrent unit; forward(input, h_0) -> (output, h_n)."""

    mode = "GRU"

    def _step(self, x, h, *weights):
        return gru_step(x, h, *weights)
