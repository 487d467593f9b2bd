"""linear, embedding, scaled_dot_product_attention and MultiheadAttention:
forward against NumPy references, gradcheck + gradgradcheck, PyTorch as an
optional oracle (weights copied over), and the error messages."""
import cupy_stand_in
import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import minigrad.nn as nn

RNG = np.random.default_rng(0)


def t64(shape, grad=True, scale=1.0, device="cpu"):
    return minigrad.tensor(RNG.normal(0, scale, shape), requires_grad=grad, device=device)


# ---------------------------------------------------------------------- linear
@pytest.mark.parametrize("x_shape", [(4,), (3, 4), (2, 3, 4)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_forward_and_gradients(x_shape, with_bias, device):
    x, w, b = (t64(shape, device=device) for shape in (x_shape, (5, 4), (5,)))
    args = (x, w, b) if with_bias else (x, w)
    expected = x.numpy() @ w.numpy().T + (b.numpy() if with_bias else 0.0)
    # a dot product of 4 terms of size ~1: round-off (which depends on the BLAS kernel's
    # summation order and FMA use) stays below 1e-15 absolute, so an element near zero
    # needs the atol, not the rtol
    np.testing.assert_allclose(F.linear(*args).numpy(), expected, rtol=1e-12, atol=1e-13)
    assert minigrad.gradcheck(F.linear, args)
    assert minigrad.gradgradcheck(F.linear, args)


def test_linear_keeps_float32_and_checks_shapes():
    x = minigrad.randn(2, 3)
    assert F.linear(x, minigrad.randn(4, 3), minigrad.randn(4)).dtype == np.float32
    with pytest.raises(ValueError, match=r"linear: input of shape \(2, 3\) does not fit weight of "
                                         r"shape \(4, 5\).*in_features = 5"):
        F.linear(x, minigrad.randn(4, 5))
    with pytest.raises(ValueError, match=r"linear: bias must have shape \(4,\)"):
        F.linear(x, minigrad.randn(4, 3), minigrad.randn(3))
    with pytest.raises(TypeError, match="linear: input, weight and bias must share one dtype"):
        F.linear(x.double(), minigrad.randn(4, 3))


# -------------------------------------------------------------------- embedding
def test_embedding_forward_and_repeated_index_gradient():
    w = t64((6, 3))
    idx = np.array([[0, 2, 2], [5, 0, 2]])
    np.testing.assert_array_equal(F.embedding(idx, w).numpy(), w.numpy()[idx])
    F.embedding(minigrad.tensor(idx), w).sum().backward()
    counts = np.bincount(idx.ravel(), minlength=6)[:, None]  # row 2 was picked 3 times
    np.testing.assert_array_equal(w.grad.numpy(), np.broadcast_to(counts, (6, 3)))
    fn = lambda w: F.embedding(idx, w)  # noqa: E731
    assert minigrad.gradcheck(fn, (w,)) and minigrad.gradgradcheck(fn, (w,))


def test_embedding_padding_idx_gets_no_gradient():
    layer = nn.Embedding(5, 2, padding_idx=-1)
    assert layer.padding_idx == 4 and (layer.weight.numpy()[4] == 0).all()
    layer(minigrad.tensor([4, 1, 4])).sum().backward()
    np.testing.assert_array_equal(layer.weight.grad.numpy()[[0, 1, 4]], [[0, 0], [1, 1], [0, 0]])
    assert repr(layer) == "Embedding(5, 2, padding_idx=4)"


def test_embedding_errors():
    w = minigrad.randn(4, 2)
    with pytest.raises(IndexError, match=r"embedding: indices must be in \[0, 4\).*from 0 to 4"):
        F.embedding([0, 4], w)
    with pytest.raises(TypeError, match="embedding: indices must be integers, got dtype float32"):
        F.embedding(minigrad.tensor([0.0, 1.0]), w)


# ------------------------------------------------------------ scaled dot-product
def np_attention(q, k, v, mask=None, causal=False, scale=None):
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale
    if causal:
        mask = np.tril(np.ones(s.shape[-2:], dtype=bool))
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)) @ v


ATTENTION_CASES = {
    "plain": {},
    "bool_mask": {"attn_mask": RNG.random((3, 4)) > 0.3},
    "float_mask": {"attn_mask": RNG.normal(size=(3, 4))},
    "causal": {"is_causal": True},
    "scale": {"scale": 0.3},
}


@pytest.mark.parametrize("case", ATTENTION_CASES)
def test_attention_matches_numpy_and_gradchecks(case, device):
    options = dict(ATTENTION_CASES[case])
    if case == "bool_mask":
        options["attn_mask"][:, 0] = True  # every query sees some key
    q, k, v = (t64(shape, device=device) for shape in [(2, 3, 5), (2, 4, 5), (2, 4, 6)])
    out = F.scaled_dot_product_attention(q, k, v, **options)
    reference = np_attention(q.numpy(), k.numpy(), v.numpy(), options.get("attn_mask"),
                             options.get("is_causal", False), options.get("scale"))
    np.testing.assert_allclose(out.numpy(), reference, rtol=1e-12, atol=1e-13)  # BLAS: see linear
    fn = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **options)  # noqa: E731
    q, k, v = (t64(shape, device=device) for shape in [(1, 3, 2), (1, 4, 2), (1, 4, 2)])
    assert minigrad.gradcheck(fn, (q, k, v))
    if device == "cpu":  # cuda: second order in op_registry's few
        assert minigrad.gradgradcheck(fn, (q, k, v))


def test_fully_masked_query_gets_zeros_not_nan(device):
    q, k, v = (t64(shape, device=device) for shape in [(3, 2), (4, 2), (4, 2)])
    mask = np.ones((3, 4), dtype=bool)
    mask[1] = False
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    np.testing.assert_array_equal(out.numpy()[1], 0.0)
    out.sum().backward()
    assert np.isfinite(q.grad.numpy()).all() and np.isfinite(k.grad.numpy()).all()


def test_masked_attention_reads_nothing_back_from_the_device(device):
    """A padded batch trains without waiting for the GPU: the fully-masked-row
    guard stays on the device (asking `any()` would copy to the host)."""
    if device == "cpu" or not cupy_stand_in.installed:
        pytest.skip("syncs are counted on the CuPy stand-in (the CPU has none)")
    mha = nn.MultiheadAttention(4, 2).double().to(device)
    x = t64((2, 3, 4), device=device)
    padding = minigrad.tensor(np.array([[False, False, True], [True, True, True]]), device=device)
    with minigrad.backend._cupyx.allow_synchronize(False):
        out, _ = mha(x, x, x, key_padding_mask=padding)
        out.sum().backward()
        causal = F.scaled_dot_product_attention(x, x, x, is_causal=True)
    assert np.isfinite(out.numpy()).all() and np.isfinite(x.grad.numpy()).all()
    np.testing.assert_allclose(out.numpy()[1], np.broadcast_to(mha.out_proj.bias.numpy(), (3, 4)))
    np.testing.assert_allclose(causal.numpy()[:, 0], x.numpy()[:, 0], rtol=1e-12)  # sees itself only


def test_attention_matches_torch_with_dropout_off():
    torch = pytest.importorskip("torch")
    q, k, v = (RNG.normal(size=s).astype(np.float32) for s in [(2, 2, 3, 4), (2, 2, 5, 4),
                                                               (2, 2, 5, 4)])
    mask = RNG.random((3, 5)) > 0.5
    mask[:, 0] = True
    for options in ({}, {"is_causal": True}, {"attn_mask": mask}):
        ours = F.scaled_dot_product_attention(*map(minigrad.tensor, (q, k, v)), **options)
        torch_options = {key: torch.tensor(val) if key == "attn_mask" else val
                         for key, val in options.items()}
        theirs = torch.nn.functional.scaled_dot_product_attention(
            *map(torch.tensor, (q, k, v)), **torch_options)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)


def test_attention_dropout_is_reproducible_and_errors():
    q = minigrad.randn(2, 3, 4)
    minigrad.manual_seed(3)
    a = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5).numpy()
    minigrad.manual_seed(3)
    np.testing.assert_array_equal(a, F.scaled_dot_product_attention(q, q, q, dropout_p=0.5).numpy())
    with pytest.raises(ValueError, match="give either attn_mask or is_causal=True, not both"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((3, 3), bool), is_causal=True)
    with pytest.raises(ValueError, match=r"must share their last axis E.*\(2, 3, 4\) and \(2, 3, 5\)"):
        F.scaled_dot_product_attention(q, minigrad.randn(2, 3, 5), q)
    with pytest.raises(ValueError, match=r"attn_mask of shape \(2, 2\) cannot be broadcast"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((2, 2), bool))


# ------------------------------------------------------------ MultiheadAttention
def np_mha(x_q, x_kv, state, heads, mask=None):
    """Reference multi-head attention on NumPy arrays (batch first)."""
    e = x_q.shape[-1]
    w, b = state["in_proj_weight"], state["in_proj_bias"]
    q, k, v = (x @ w[i * e:(i + 1) * e].T + b[i * e:(i + 1) * e]
               for i, x in enumerate((x_q, x_kv, x_kv)))
    split = lambda t: t.reshape(t.shape[0], t.shape[1], heads, -1).transpose(0, 2, 1, 3)  # noqa
    s = split(q) @ split(k).transpose(0, 1, 3, 2) / np.sqrt(e // heads)
    if mask is not None:
        s = s + mask
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    out = (p @ split(v)).transpose(0, 2, 1, 3).reshape(x_q.shape)
    return out @ state["out_proj.weight"].T + state["out_proj.bias"], p.mean(axis=1)


def test_multihead_attention_matches_numpy_and_gradchecks(device):
    mha = nn.MultiheadAttention(6, 2).double().to(device)
    x, kv = RNG.normal(size=(2, 3, 6)), RNG.normal(size=(2, 4, 6))
    padding = np.array([[False, False, True, False], [False, False, False, True]])
    on_device = lambda a: minigrad.tensor(a, device=device)  # noqa: E731
    out, weights = mha(on_device(x), on_device(kv), on_device(kv), key_padding_mask=padding)
    state = {k: v.numpy() for k, v in mha.state_dict().items()}
    expected, expected_weights = np_mha(x, kv, state, 2, np.where(padding, -np.inf, 0)[:, None, None])
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-13)  # BLAS: see linear
    np.testing.assert_allclose(weights.numpy(), expected_weights, rtol=1e-12, atol=1e-13)
    small = nn.MultiheadAttention(4, 2).double().to(device)
    fn = lambda x: small(x, x, x, attn_mask=np.triu(np.ones((3, 3), bool), 1))[0]  # noqa: E731
    x = t64((1, 3, 4), device=device)
    assert minigrad.gradcheck(fn, (x,)) and minigrad.gradgradcheck(fn, (x,), fast_mode=True)


@pytest.mark.parametrize("options", [{}, {"average_attn_weights": False}, {"causal": True},
                                     {"padding": True}, {"float_mask": True},
                                     {"batch_first": False}, {"unbatched": True}])
def test_multihead_attention_matches_torch(options):
    torch = pytest.importorskip("torch")
    batch_first = options.get("batch_first", True)
    ours = nn.MultiheadAttention(8, 2, batch_first=batch_first)
    theirs = torch.nn.MultiheadAttention(8, 2, batch_first=batch_first)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    shape = (3, 8) if options.get("unbatched") else (2, 3, 8)
    x = RNG.normal(size=shape).astype(np.float32)
    kwargs = {"average_attn_weights": options.get("average_attn_weights", True)}
    torch_kwargs = dict(kwargs)
    if options.get("causal"):
        kwargs["attn_mask"] = np.triu(np.ones((3, 3), bool), 1)
        torch_kwargs["attn_mask"] = torch.tensor(kwargs["attn_mask"])
    if options.get("padding"):
        kwargs["key_padding_mask"] = np.array([[False, True, False], [False, False, True]])
        torch_kwargs["key_padding_mask"] = torch.tensor(kwargs["key_padding_mask"])
    if options.get("float_mask"):
        kwargs["attn_mask"] = RNG.normal(size=(3, 3)).astype(np.float32)
        torch_kwargs["attn_mask"] = torch.tensor(kwargs["attn_mask"])
    xt = minigrad.tensor(x, requires_grad=True)
    out, weights = ours(xt, xt, xt, **kwargs)
    x_torch = torch.tensor(x, requires_grad=True)
    out_t, weights_t = theirs(x_torch, x_torch, x_torch, **torch_kwargs)
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(weights.numpy(), weights_t.detach().numpy(), rtol=1e-5, atol=1e-6)
    out.sum().backward()
    out_t.sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), x_torch.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours.in_proj_weight.grad.numpy(),
                               theirs.in_proj_weight.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_multihead_attention_parameters_and_errors():
    mha = nn.MultiheadAttention(8, 4, bias=False)
    assert list(mha.state_dict()) == ["in_proj_weight", "out_proj.weight"]
    assert nn.MultiheadAttention(8, 4)(minigrad.randn(2, 5, 8), minigrad.randn(2, 5, 8),
                                       minigrad.randn(2, 5, 8), need_weights=False)[1] is None
    with pytest.raises(ValueError, match=r"embed_dim \(6\) must be divisible by num_heads \(4\)"):
        nn.MultiheadAttention(6, 4)
    with pytest.raises(ValueError, match=r"MultiheadAttention\(embed_dim=8, num_heads=4\): expected "
                                         r"query with embed_dim = 8 features.*\(2, 5, 7\)"):
        mha(minigrad.randn(2, 5, 7), minigrad.randn(2, 5, 8), minigrad.randn(2, 5, 8))
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(2, 5\)"):
        x = minigrad.randn(2, 5, 8)
        mha(x, x, x, key_padding_mask=np.zeros((2, 4), bool))
