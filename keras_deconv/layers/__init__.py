"""The layers: rank-generic bases, thin rank subclasses, and the ModReLU activation layer."""

from keras_deconv.layers.base_conv import BaseConv
from keras_deconv.layers.base_conv_transpose import BaseConvTranspose
from keras_deconv.layers.base_convolution import BaseConvolution
from keras_deconv.layers.conv1d import Conv1D, Convolution1D
from keras_deconv.layers.conv1d_transpose import Conv1DTranspose, Convolution1DTranspose
from keras_deconv.layers.conv2d import Conv2D, Convolution2D
from keras_deconv.layers.conv2d_transpose import Conv2DTranspose, Convolution2DTranspose
from keras_deconv.layers.conv3d import Conv3D, Convolution3D
from keras_deconv.layers.conv3d_transpose import Conv3DTranspose, Convolution3DTranspose
from keras_deconv.layers.modrelu import ModReLU

__all__ = [
    "BaseConv",
    "BaseConvTranspose",
    "BaseConvolution",
    "Conv1D",
    "Conv1DTranspose",
    "Conv2D",
    "Conv2DTranspose",
    "Conv3D",
    "Conv3DTranspose",
    "Convolution1D",
    "Convolution1DTranspose",
    "Convolution2D",
    "Convolution2DTranspose",
    "Convolution3D",
    "Convolution3DTranspose",
    "ModReLU",
]
