"""Scalable Shampoo with a checkpointable state (plain tensors only).

pytorch-optimizer is imported on the first call of :func:`scalable_shampoo_class` (importing it takes about a
second: it loads torch.distributed), as the optimizer registry does for its other entries.
"""

from __future__ import annotations

import functools

import torch

_OBJECTS = ("pre_conditioner", "graft")


def _tensor_attributes(obj) -> dict:
    return {
        k: v
        for k, v in vars(obj).items()
        if isinstance(v, torch.Tensor) or (isinstance(v, list) and v and all(isinstance(t, torch.Tensor) for t in v))
    }


@functools.cache
def scalable_shampoo_class() -> type:
    """The class :class:`ScalableShampoo` below (built on first use, see the module docstring)."""
    import pytorch_optimizer as po
    from pytorch_optimizer.optimizer.utils.graft import build_graft
    from pytorch_optimizer.optimizer.utils.preconditioner import PreConditioner

    class ScalableShampoo(po.ScalableShampoo):
        """``pytorch_optimizer.ScalableShampoo`` (Anil et al. 2020, "Scalable second order optimization for deep
        learning"), unchanged in its update, whose ``state_dict()`` holds only tensors and plain containers.

        The package keeps each parameter's preconditioner and grafting statistics in Python objects
        (``PreConditioner``, ``Graft``), which robustopt's weights-only checkpoints cannot hold.  ``state_dict()``
        stores their tensor attributes instead, and ``load_state_dict()`` rebuilds the objects as the package does
        (its ``init_group``) and puts the tensors back, so a resumed run continues bitwise identically.
        """

        def state_dict(self) -> dict:
            sd = super().state_dict()
            state = {}
            for key, entry in sd["state"].items():
                entry = dict(entry)
                for name in _OBJECTS:
                    if name in entry:
                        entry[name] = _tensor_attributes(entry[name])
                state[key] = entry
            return {**sd, "state": state}

        def load_state_dict(self, state_dict: dict) -> None:
            saved = {
                key: {name: entry[name] for name in _OBJECTS if name in entry}
                for key, entry in state_dict["state"].items()
            }
            plain = {
                key: {k: v for k, v in entry.items() if k not in _OBJECTS} for key, entry in state_dict["state"].items()
            }
            super().load_state_dict({**state_dict, "state": plain})
            index = 0
            for group in self.param_groups:
                _, beta2 = group["betas"]
                for p in group["params"]:
                    objects = saved.get(index, {})
                    index += 1
                    if not objects:
                        continue
                    state = self.state[p]
                    if "pre_conditioner" in objects:
                        pre = PreConditioner(
                            p,
                            beta2,
                            self.inverse_exponent_override,
                            self.block_size,
                            self.skip_preconditioning_rank_lt,
                            self.no_preconditioning_for_layers_with_dim_gt,
                            self.shape_interpretation,
                            self.pre_conditioner_type,
                            self.matrix_eps,
                            self.use_svd,
                        )
                        state["pre_conditioner"] = _restore(pre, objects["pre_conditioner"], p.device)
                    if "graft" in objects:
                        state["graft"] = _restore(
                            build_graft(p, self.graft_type, self.diagonal_eps), objects["graft"], p.device
                        )

    ScalableShampoo.__module__ = __name__
    return ScalableShampoo


def _restore(obj, tensors: dict, device: torch.device):
    for name, value in tensors.items():
        value = [t.to(device).clone() for t in value] if isinstance(value, list) else value.to(device).clone()
        setattr(obj, name, value)
    return obj
