"""TransformerEncoderLayer, TransformerDecoderLayer and TransformerEncoder: PyTorch's
state dict loads as it is and gives PyTorch's outputs and gradients (post-norm and
pre-norm, relu and gelu, masks), dropout is off in eval mode, and the stacked
encoder's layers are independent copies."""
import numpy as np
import pytest

import minigrad
import minigrad.nn as nn

E, H, FF = 8, 2, 12


def _copy_from_torch(ours, theirs):
    state = {k: minigrad.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()}
    assert set(state) == set(ours.state_dict())  # PyTorch's names, one for one
    ours.load_state_dict(state)


@pytest.mark.parametrize("norm_first, activation", [(False, "relu"), (True, "gelu")])
def test_encoder_layer_matches_torch(norm_first, activation):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = torch.nn.TransformerEncoderLayer(E, H, FF, dropout=0.1, activation=activation,
                                              batch_first=True, norm_first=norm_first).double().eval()
    ours = nn.TransformerEncoderLayer(E, H, FF, dropout=0.1, activation=activation,
                                      norm_first=norm_first, dtype=minigrad.float64).eval()
    _copy_from_torch(ours, theirs)
    x0 = np.random.default_rng(0).normal(size=(2, 5, E))
    padding = np.zeros((2, 5), bool)
    padding[1, 3:] = True  # the second sequence has 3 tokens
    x, x_t = minigrad.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    y = ours(x, src_key_padding_mask=padding, is_causal=True)
    causal = torch.ones(5, 5, dtype=torch.bool).triu(1)  # True: may not attend
    y_t = theirs(x_t, src_mask=causal, src_key_padding_mask=torch.tensor(padding), is_causal=True)
    np.testing.assert_allclose(y.numpy(), y_t.detach().numpy(), rtol=1e-9, atol=1e-10)
    g = np.random.default_rng(1).normal(size=y.shape)
    y.backward(minigrad.tensor(g))
    y_t.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), x_t.grad.numpy(), rtol=1e-8, atol=1e-10)
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), theirs.get_parameter(name).grad.numpy(),
                                   rtol=1e-8, atol=1e-10, err_msg=name)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_matches_torch(norm_first):
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    theirs = torch.nn.TransformerDecoderLayer(E, H, FF, batch_first=True,
                                              norm_first=norm_first).double().eval()
    ours = nn.TransformerDecoderLayer(E, H, FF, norm_first=norm_first, dtype=minigrad.float64).eval()
    _copy_from_torch(ours, theirs)
    rng = np.random.default_rng(2)
    tgt0, memory0 = rng.normal(size=(2, 4, E)), rng.normal(size=(2, 6, E))
    tgt, memory = minigrad.tensor(tgt0, requires_grad=True), minigrad.tensor(memory0, requires_grad=True)
    tgt_t, memory_t = torch.tensor(tgt0, requires_grad=True), torch.tensor(memory0, requires_grad=True)
    memory_padding = np.zeros((2, 6), bool)
    memory_padding[0, 4:] = True
    y = ours(tgt, memory, memory_key_padding_mask=memory_padding, tgt_is_causal=True)
    causal = torch.ones(4, 4, dtype=torch.bool).triu(1)
    y_t = theirs(tgt_t, memory_t, tgt_mask=causal, tgt_is_causal=True,
                 memory_key_padding_mask=torch.tensor(memory_padding))
    np.testing.assert_allclose(y.numpy(), y_t.detach().numpy(), rtol=1e-9, atol=1e-10)
    g = rng.normal(size=y.shape)
    y.backward(minigrad.tensor(g))
    y_t.backward(torch.tensor(g))
    np.testing.assert_allclose(memory.grad.numpy(), memory_t.grad.numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(tgt.grad.numpy(), tgt_t.grad.numpy(), rtol=1e-8, atol=1e-10)


def test_encoder_stack_matches_torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(2)
    layer_t = torch.nn.TransformerEncoderLayer(E, H, FF, batch_first=True)
    theirs = torch.nn.TransformerEncoder(layer_t, 2, norm=torch.nn.LayerNorm(E),
                                         enable_nested_tensor=False).double().eval()
    for p in theirs.parameters():  # the copies start equal: make every layer its own
        p.data += 0.1 * torch.randn_like(p)
    ours = nn.TransformerEncoder(nn.TransformerEncoderLayer(E, H, FF, dtype=minigrad.float64), 2,
                                 norm=nn.LayerNorm(E, dtype=minigrad.float64),
                                 enable_nested_tensor=False).eval()  # PyTorch's call, unchanged
    _copy_from_torch(ours, theirs)
    x0 = np.random.default_rng(3).normal(size=(3, 5, E))
    np.testing.assert_allclose(ours(minigrad.tensor(x0)).numpy(),
                               theirs(torch.tensor(x0)).detach().numpy(), rtol=1e-9, atol=1e-10)


def test_stacked_layers_are_independent_copies_and_dropout_is_train_only():
    layer = nn.TransformerEncoderLayer(E, H, FF, dropout=0.5)
    encoder = nn.TransformerEncoder(layer, 3)
    weights = [m.linear1.weight for m in encoder.layers]
    assert len({id(w) for w in weights}) == 3 and all(w is not layer.linear1.weight for w in weights)
    np.testing.assert_array_equal(weights[0].numpy(), weights[2].numpy())  # copies of one init
    x = minigrad.randn(2, 4, E)
    encoder.eval()
    np.testing.assert_array_equal(encoder(x).numpy(), encoder(x).numpy())  # no dropout
    encoder.train()
    assert np.abs(encoder(x).numpy() - encoder(x).numpy()).max() > 1e-3  # dropout draws anew


def test_layer_backward_gradcheck_float64():
    layer = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, dtype=minigrad.float64)
    x = minigrad.tensor(np.random.default_rng(4).normal(size=(1, 3, 4)), requires_grad=True)
    assert minigrad.gradcheck(lambda t: layer(t, is_causal=True), (x,))


def test_bad_activation_is_named():
    with pytest.raises(ValueError, match="TransformerEncoderLayer: activation must be 'relu', 'gelu'"):
        nn.TransformerEncoderLayer(E, H, activation="tanh")
