"""The layers: one rank-generic base and thin rank subclasses."""

from keras_deconv.layers.base_conv_transpose import BaseConvTranspose
from keras_deconv.layers.conv1d_transpose import Conv1DTranspose, Convolution1DTranspose
from keras_deconv.layers.conv2d_transpose import Conv2DTranspose, Convolution2DTranspose
from keras_deconv.layers.conv3d_transpose import Conv3DTranspose, Convolution3DTranspose

__all__ = [
    "BaseConvTranspose",
    "Conv1DTranspose",
    "Conv2DTranspose",
    "Conv3DTranspose",
    "Convolution1DTranspose",
    "Convolution2DTranspose",
    "Convolution3DTranspose",
]
