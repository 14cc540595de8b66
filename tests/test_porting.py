"""PyTorch's own ConvTranspose modules against layers carrying their ported weights.

Torch is the truth here: its module and our layer see the same input and the
same weights (converted one way or the other) and must give the same output.
float32 throughout (JAX has no float64 unless asked), hence the 1e-5 tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest

from keras_deconv import porting

torch = pytest.importorskip("torch")

# (rank, in_channels, out_channels, kernel, stride, padding, output_padding, dilation, groups)
CASES = [
    (1, 4, 6, 3, 2, 1, 1, 1, 2),
    (1, 3, 2, 4, 3, 0, 2, 2, 1),
    (2, 4, 6, (3, 2), (2, 1), (1, 0), (1, 0), 1, 2),
    (2, 6, 3, 3, 2, 2, 0, (1, 2), 3),
    (3, 2, 4, (2, 3, 2), (2, 1, 2), (0, 1, 1), (1, 0, 1), 1, 2),
]
IDS = [f"{case[0]}d-groups{case[-1]}-{i}" for i, case in enumerate(CASES)]


def make_module(case, bias=True):
    rank, cin, cout, kernel, stride, padding, output_padding, dilation, groups = case
    module_class = {1: torch.nn.ConvTranspose1d, 2: torch.nn.ConvTranspose2d, 3: torch.nn.ConvTranspose3d}
    return module_class[rank](
        cin, cout, kernel, stride=stride, padding=padding, output_padding=output_padding,
        groups=groups, bias=bias, dilation=dilation, dtype=torch.float32,
    )


def make_input(case, rng):
    rank, cin = case[0], case[1]
    spatial = (5, 4, 3)[:rank]
    return rng.standard_normal((2, cin) + spatial).astype("float32")


def torch_output(module, x):
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_layer_from_torch_matches_torch(case, use_bias, rng, assert_close):
    torch.manual_seed(0)
    module = make_module(case, bias=use_bias)
    if use_bias:
        # Torch's default bias is small; a larger one would show a misplaced channel.
        with torch.no_grad():
            module.bias.normal_()
    x = make_input(case, rng)
    expected = torch_output(module, x)
    layer = porting.layer_from_torch(module)
    assert_close(layer(x), expected)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_weights_to_torch_match_layer(case, rng, assert_close):
    import keras_deconv

    rank, cin, cout, kernel, stride, padding, output_padding, dilation, groups = case
    layer_class = {1: keras_deconv.Conv1DTranspose, 2: keras_deconv.Conv2DTranspose,
                   3: keras_deconv.Conv3DTranspose}[rank]
    layer = layer_class(
        cout, kernel, strides=stride, padding=padding, output_padding=output_padding,
        data_format="channels_first", dilation_rate=dilation, groups=groups,
        bias_initializer="random_normal",
    )
    x = make_input(case, rng)
    got = layer(x)
    weight, bias = porting.layer_to_torch_weights(layer)
    module = make_module(case)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(weight))
        module.bias.copy_(torch.from_numpy(bias))
    assert_close(got, torch_output(module, x))


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_kernel_round_trip_and_layout(rank, rng):
    weight = rng.standard_normal((4, 3) + (2, 3, 5)[:rank])
    kernel, _ = porting.kernel_from_torch(weight)
    assert kernel.shape == (2, 3, 5)[:rank] + (3, 4)
    # One element checked by hand: torch weight[in=1, out=2, k...] is kernel[k..., out=2, in=1].
    k_index = (1, 2, 4)[:rank]
    assert kernel[k_index + (2, 1)] == weight[(1, 2) + k_index]
    back, none = porting.kernel_to_torch(kernel)
    assert none is None
    np.testing.assert_array_equal(back, weight)


def test_bias_is_passed_through_and_checked(rng):
    weight = rng.standard_normal((4, 3, 2))
    _, bias = porting.kernel_from_torch(weight, np.arange(6.0))
    np.testing.assert_array_equal(bias, np.arange(6.0))
    with pytest.raises(ValueError, match="bias"):
        porting.kernel_from_torch(weight, np.zeros(5))
    with pytest.raises(ValueError, match="bias"):
        porting.kernel_to_torch(np.zeros((2, 3, 4)), np.zeros((3, 1)))


def test_bad_weights_and_modules_are_rejected():
    with pytest.raises(ValueError, match="weight"):
        porting.kernel_from_torch(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="kernel"):
        porting.kernel_to_torch(np.zeros((1, 1, 1, 1, 1, 1)))
    module = torch.nn.ConvTranspose2d(2, 2, 3)
    module.padding_mode = "reflect"
    with pytest.raises(ValueError, match="padding_mode"):
        porting.layer_arguments_from_torch(module)


def test_layer_arguments_from_torch_module():
    module = torch.nn.ConvTranspose3d(4, 8, (3, 2, 1), stride=2, padding=(1, 0, 0), output_padding=1,
                                      groups=4, dilation=(1, 1, 2), bias=False)
    arguments = porting.layer_arguments_from_torch(module)
    assert arguments == {
        "filters": 8, "kernel_size": (3, 2, 1), "strides": (2, 2, 2), "padding": (1, 0, 0),
        "output_padding": (1, 1, 1), "data_format": "channels_first", "dilation_rate": (1, 1, 2),
        "groups": 4, "use_bias": False,
    }
