"""Prototypes of proposed core changes, measured by the benchmarks (not used by the package).

`frozen_batch_norm_folded`: a frozen BatchNorm (fixed statistics, fixed gamma/beta) after a
convolution is the per-channel affine map `y = s * conv(x, W) + (s * b + t)` with
`s = gamma / sqrt(var + eps)` and `t = beta - s * mean`. Computing `conv(x, W * s) + (s * b + t)`
instead is the same function of `W` and `b`, so the forward values and the gradients of `W`
and `b` are unchanged (up to rounding), but the two per-activation passes (and, under mixed
precision, the casts to float32 and back that Keras' BatchNormalization adds) become one
per-kernel multiply. The prototype rebuilds our backbone with each (Conv2D, frozen BN) pair
replaced by one `FrozenBatchNormConv2D`; weights are copied, nothing else changes.
"""

from __future__ import annotations

import contextlib

import keras
from keras import ops

import keras_retinanet.models.retinanet as retinanet_module


class FrozenBatchNormConv2D(keras.layers.Conv2D):
    """A Conv2D followed by a frozen BatchNorm, computed as one convolution."""

    def __init__(self, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        super().build(input_shape)
        for name, init in (
            ("bn_gamma", "ones"),
            ("bn_beta", "zeros"),
            ("bn_mean", "zeros"),
            ("bn_variance", "ones"),
        ):
            setattr(
                self,
                name,
                self.add_weight(
                    name=name,
                    shape=(self.filters,),
                    initializer=init,
                    trainable=False,
                    autocast=False,
                ),
            )

    def call(self, inputs):
        scale = self.bn_gamma * ops.rsqrt(self.bn_variance + self.epsilon)  # float32 [C]
        offset = self.bn_beta - scale * self.bn_mean
        kernel = ops.cast(ops.cast(self.kernel, "float32") * scale, self.compute_dtype)
        outputs = self.convolution_op(inputs, kernel)
        bias = offset if not self.use_bias else ops.cast(self.bias, "float32") * scale + offset
        outputs = ops.add(outputs, ops.reshape(ops.cast(bias, self.compute_dtype), (1, 1, 1, -1)))
        return self.activation(outputs) if self.activation is not None else outputs

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


class FoldedBatchNorm(keras.layers.Layer):
    """Stands where a folded BatchNorm was (its work moved into the convolution)."""

    def call(self, inputs, training=None, mask=None):
        del training, mask
        return inputs


def _frozen_batch_norm_after_conv(model: keras.Model) -> dict[str, keras.layers.Layer]:
    """conv layer name -> the frozen BatchNorm that consumes only its output."""
    pairs = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization) and not layer.trainable:
            parents = layer._inbound_nodes[0].parent_nodes
            if len(parents) == 1 and isinstance(parents[0].operation, keras.layers.Conv2D):
                conv = parents[0].operation
                if len(conv._outbound_nodes) == 1:
                    pairs[conv.name] = layer
    return pairs


def fold_frozen_batch_norm(model: keras.Model) -> keras.Model:
    """A copy of a functional backbone with every (Conv2D -> frozen BN) pair fused."""
    pairs = _frozen_batch_norm_after_conv(model)
    folded_norms = {bn.name for bn in pairs.values()}

    def clone(layer):
        if layer.name in pairs:
            config = layer.get_config()
            config["epsilon"] = pairs[layer.name].epsilon
            return FrozenBatchNormConv2D.from_config(config)
        if layer.name in folded_norms:
            return FoldedBatchNorm(name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    clone_model = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        if not layer.weights:
            continue
        new = clone_model.get_layer(layer.name)
        if layer.name in pairs:
            bn = pairs[layer.name]
            new.set_weights(
                [
                    *layer.get_weights(),
                    *(w.numpy() for w in (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance)),
                ]
            )
        elif layer.name not in folded_norms and layer.weights:
            new.set_weights(layer.get_weights())
        new.trainable = layer.trainable
    return clone_model


@contextlib.contextmanager
def folded_backbones():
    """While active, `RetinaNet(...)` builds its backbone with frozen BatchNorms folded."""
    original = retinanet_module.build_backbone

    def build(*args, **kwargs):
        return fold_frozen_batch_norm(original(*args, **kwargs))

    retinanet_module.build_backbone = build
    try:
        yield
    finally:
        retinanet_module.build_backbone = original
