"""Cross-entropy on 2-D logits: fused log-softmax + NLL, forward and backward.

For logits x (N, C), integer targets t (N,), keep_i = (t_i != ignore_index),
and reduction 'mean' (what ops/loss.py's CrossEntropy computes with no class
weights and no label smoothing):

    lse_i  = max_c x_ic + log sum_c exp(x_ic - max_c x_ic)   (log-sum-exp, never overflows)
    loss   = sum_i keep_i * (lse_i - x_{i,t_i}) / sum_i keep_i   (all ignored: 0/0 = nan)
    dx_ic  = gy / sum_i keep_i * keep_i * (exp(x_ic - lse_i) - [c = t_i])   (softmax - onehot)

The NumPy path makes shifted = x - max, exp(shifted), its sum, logp, then
picks; its backward builds the one-hot q and a softmax from Tensor ops. Here
the forward is one block per row (three reads of the row, from cache after
the first) and the backward one elementwise pass.

Use (the lead wires it into ops/loss.py for weight=None, label_smoothing=0,
reduction='mean', 2-D x):
    loss, lse, weight_sum = cross_entropy_forward(x, target, ignore_index)
    gx = cross_entropy_backward(x, target, lse, gy, weight_sum, ignore_index)
"""
import functools

import numpy as np

from . import build

_CODE = r"""
// NVRTC has no math.h macros: -inf and nan from their bit patterns.
#define MINUS_INF __longlong_as_double(0xfff0000000000000ULL)
#define QUIET_NAN __longlong_as_double(0x7ff8000000000000ULL)

template <typename T>
__device__ T block_reduce(T value, T* shared, bool take_max) {
    // Every thread brings a value; every thread gets the block's max (or sum).
    shared[threadIdx.x] = value;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) {
            T a = shared[threadIdx.x], b = shared[threadIdx.x + half];
            // max that lets a NaN win, so a NaN logit gives a NaN loss (as NumPy's max)
            shared[threadIdx.x] = take_max ? ((a > b || a != a) ? a : b) : a + b;
        }
        __syncthreads();
    }
    T result = shared[0];
    __syncthreads();  // shared is reused by the next reduction
    return result;
}

template <typename T>
__global__ void cross_entropy_forward(const T* x, const long long* target, long long ignore_index,
                                      int N, int C, T* loss, T* lse) {
    // One block of 256 threads per row i of x (N, C).
    __shared__ T shared[256];
    const int i = blockIdx.x;
    const T* row = x + (long long)i * C;
    T row_max = (T)MINUS_INF;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        T v = row[c];
        row_max = (v > row_max || v != v) ? v : row_max;
    }
    row_max = block_reduce(row_max, shared, true);
    T sum = 0;
    for (int c = threadIdx.x; c < C; c += blockDim.x) sum += exp(row[c] - row_max);
    sum = block_reduce(sum, shared, false);
    if (threadIdx.x == 0) {
        T row_lse = row_max + log(sum);
        lse[i] = row_lse;
        long long t = target[i];
        if (t == ignore_index) loss[i] = 0;
        else if (t < 0 || t >= C) loss[i] = (T)QUIET_NAN;  // unreachable: ops/loss.py checks targets
        else loss[i] = row_lse - row[t];
    }
}
"""
_NAMES = ("cross_entropy_forward<float>", "cross_entropy_forward<double>")


def cross_entropy_forward(x, target, ignore_index=-100):
    """Mean cross-entropy of logits x (N, C) (float32/64, CuPy) with int64 targets (N,).

    Returns (loss, lse, weight_sum): loss a 0-d array, lse (N,) the per-row
    log-sum-exp (keep it for backward), weight_sum a 0-d array, the number of
    samples not ignored, in x's dtype. No host sync."""
    cp = build.cupy()
    x = cp.ascontiguousarray(x)
    target = cp.ascontiguousarray(target, dtype=cp.int64)
    N, C = x.shape
    per_sample = cp.empty(N, dtype=x.dtype)
    lse = cp.empty(N, dtype=x.dtype)
    kernel = build.raw_module(_CODE, _NAMES).get_function(
        f"cross_entropy_forward<{build.c_type(x.dtype)}>")
    if N:
        kernel((N,), (256,), (x, target, np.int64(ignore_index), np.int32(N), np.int32(C),
                              per_sample, lse))
    weight_sum = (target != ignore_index).sum(dtype=x.dtype)
    return per_sample.sum() / weight_sum, lse, weight_sum


@functools.cache
def _backward():
    """gx = gy / weight_sum * keep_i * (exp(x - lse_i) - [c = t_i]) over (N, C)."""
    return build.cupy().ElementwiseKernel(
        "T x, raw T lse, raw int64 target, raw T gy, raw T weight_sum, int64 ignore_index, "
        "int64 C", "T gx",
        """
        const long long row = i / C, t = target[row];
        if (t == ignore_index) {
            gx = (T)0;
        } else {
            T p = exp(x - lse[row]);
            gx = gy[0] / weight_sum[0] * (i % C == t ? p - (T)1 : p);
        }
        """, "minigrad_cross_entropy_backward")


def cross_entropy_backward(x, target, lse, gy, weight_sum, ignore_index=-100):
    """dloss/dx (N, C) for upstream gradient gy (a 0-d or (1,) array), from
    cross_entropy_forward's lse and weight_sum. No host sync."""
    cp = build.cupy()
    target = cp.ascontiguousarray(target, dtype=cp.int64)
    gy = cp.asarray(gy, dtype=x.dtype).reshape(1)
    return _backward()(x, lse, target, gy, weight_sum.reshape(1), np.int64(ignore_index),
                       x.shape[1])
