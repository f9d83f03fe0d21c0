"""The model registry.

A builder has the signature ``builder(in_channels, num_classes, image_size, **kwargs) -> nn.Module``
and returns the network *without* input normalisation; :func:`robustopt.models.build_model`
prepends the optional :class:`~robustopt.models.layers.Normalize` layer.
"""

from __future__ import annotations

from robustopt.registry import Registry

MODELS: Registry = Registry("model")
register_model = MODELS.register
