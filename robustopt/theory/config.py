"""Structured-config schema of the linear-theory entry point (``conf/linear_theory.yaml``).

Plain dataclasses (no Hydra import); ``experiments/linear_theory.py`` registers
:class:`LinearTheoryConfig` with Hydra's ConfigStore as ``linear_theory_schema`` so a typo'd key
or a wrong type fails at start-up with a message naming the key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from robustopt.tracking.schema import LoggerConfig, PathsConfig


@dataclass
class DataModelConfig:
    sigma_tilde: List[float] = field(default_factory=lambda: [0.1, 0.05, 0.0])  # per-frequency input std
    w_star_tilde: List[float] = field(default_factory=lambda: [5.0, 10.0, 0.0])
    noise_std: float = 0.0  # label noise


@dataclass
class RecordConfig:
    spacing: str = "log"  # log | linear | all
    points: int = 600


@dataclass
class SurfaceConfig:
    enabled: bool = True
    irrelevant_index: int = 2
    variances: List[float] = field(default_factory=lambda: [0.0, 1e-5, 3e-5, 1e-4, 1e-3])
    eps: List[float] = field(default_factory=lambda: [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0])
    adaptive: List[str] = field(default_factory=lambda: ["signgd", "adam"])
    reference: str = "gd"
    gradient: str = "population"
    n_steps: Optional[int] = None  # None: the main n_steps


@dataclass
class LinearTheoryConfig:
    experiment_name: str = "linear_theory"
    seed: int = 0  # seed of the sampled batches
    data: DataModelConfig = field(default_factory=DataModelConfig)
    w0_tilde: List[float] = field(default_factory=lambda: [0.01, -0.01, 0.02])
    lr: float = 1e-2
    n_steps: int = 200_001
    gradients: List[str] = field(default_factory=lambda: ["population", "sampled"])
    batch_size: int = 5000
    sampler: str = "wishart"  # wishart | explicit
    optimizers: Dict[str, Any] = field(default_factory=lambda: {"gd": {}, "signgd": {}, "adam": {}, "rmsprop": {}})
    eps: List[float] = field(default_factory=lambda: [0.5, 1.0, math.sqrt(2.0), 2.0])
    record: RecordConfig = field(default_factory=RecordConfig)
    surface: SurfaceConfig = field(default_factory=SurfaceConfig)
    progress: bool = True
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
