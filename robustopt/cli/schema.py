"""Structured-config schemas (dataclasses) that validate the Hydra configs in ``conf/``, and hold their defaults.

A typo'd key, a value of the wrong type or a missing required value fails at start-up with a
message naming the key.  Each optimizer and scheduler has its own schema, so
``optimizer.momentum`` exists for SGD but not for Adam.  The defaults written here are the only ones:
``conf/optimizer/*.yaml``, ``conf/scheduler/*.yaml`` and ``conf/paths/default.yaml`` hold only what differs
(and comments).  The evaluations' options come from the evaluations themselves
(:func:`robustopt.evaluation.evaluation_defaults`, registered by :func:`robustopt.cli.app.register_configs`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from omegaconf import MISSING, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from robustopt.errors import ConfigError


@dataclass
class PathsConfig:
    data_dir: str = "${oc.env:ROBUSTOPT_DATA_DIR,data}"
    output_dir: str = "${oc.env:ROBUSTOPT_OUTPUT_DIR,outputs}"
    init_dir: str = "${paths.output_dir}/inits"
    create_data_dir: bool = (
        False  # true: a data_dir that does not exist is created (else it is an error: a typo'd path)
    )


@dataclass
class DatasetConfig:
    name: str = MISSING
    root: str = "${paths.data_dir}"
    download: bool = False
    crop_padding: int = 0
    hflip: bool = False
    # true: torchvision's RandomResizedCrop (scale (0.08, 1), ratio (3/4, 4/3), bilinear) to the data set's image
    # size, drawn from training images stored at its crop_source_size (caltech101, imagenette: 256); null = off
    # (null, not false, so that configs written before this option existed keep their identity)
    random_resized_crop: Optional[bool] = None
    normalize: bool = False  # per-channel normalisation as the model's first layer (off in the paper)
    mean: Optional[List[float]] = None  # None: the data set's own statistics
    std: Optional[List[float]] = None
    train_subset: Optional[int] = None  # first N training images (None: all)
    test_subset: Optional[int] = None
    # images held out of the training set as a validation split (class-stratified, drawn by data_seed; their
    # accuracy is recorded each epoch as validation_accuracy); null = none, the training set as before
    validation_size: Optional[int] = None


@dataclass
class ModelConfig:
    name: str = MISSING
    options: Dict[str, Any] = field(default_factory=dict)  # model-specific, checked by build_model


@dataclass
class SGDConfig:
    name: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.0
    dampening: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0


@dataclass
class AdamConfig:
    name: str = "adam"
    lr: float = 1e-3
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    weight_decay: float = 0.0
    amsgrad: bool = False
    fused: bool = False  # torch's fused kernel: the same update in one pass (3-8x faster step on the CPU)


@dataclass
class AdamWConfig(AdamConfig):
    name: str = "adamw"
    weight_decay: float = 0.01


@dataclass
class RMSpropConfig:
    name: str = "rmsprop"
    lr: float = 1e-3
    alpha: float = 0.99
    eps: float = 1e-8
    weight_decay: float = 0.0
    momentum: float = 0.0
    centered: bool = False


@dataclass
class AdagradConfig:
    name: str = "adagrad"
    lr: float = 1e-2
    lr_decay: float = 0.0
    weight_decay: float = 0.0
    initial_accumulator_value: float = 0.0
    eps: float = 1e-10


@dataclass
class SignSGDConfig:
    name: str = "signsgd"
    lr: float = 1e-4
    momentum: float = 0.0
    weight_decay: float = 0.0


@dataclass
class MomentumConfig:  # SGD with heavy-ball momentum (torch.optim.SGD)
    name: str = "momentum"
    lr: float = 0.01
    momentum: float = 0.9
    dampening: float = 0.0
    weight_decay: float = 0.0


@dataclass
class NesterovConfig:  # SGD with Nesterov momentum (torch.optim.SGD, nesterov=True)
    name: str = "nesterov"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0


@dataclass
class AdadeltaConfig:  # torch.optim.Adadelta's defaults
    name: str = "adadelta"
    lr: float = 1.0
    rho: float = 0.9
    eps: float = 1e-6
    weight_decay: float = 0.0


@dataclass
class NAdamConfig:  # torch.optim.NAdam's defaults
    name: str = "nadam"
    lr: float = 2e-3
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    weight_decay: float = 0.0
    momentum_decay: float = 4e-3


@dataclass
class AdamaxConfig:  # torch.optim.Adamax's defaults
    name: str = "adamax"
    lr: float = 2e-3
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    weight_decay: float = 0.0


@dataclass
class RAdamConfig:  # torch.optim.RAdam's defaults
    name: str = "radam"
    lr: float = 1e-3
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    weight_decay: float = 0.0


@dataclass
class LambConfig:  # pytorch_optimizer.Lamb's defaults (You et al. 2020)
    name: str = "lamb"
    lr: float = 1e-3
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 0.0
    weight_decouple: bool = True
    fixed_decay: bool = False
    rectify: bool = False
    degenerated_to_sgd: bool = False
    n_sma_threshold: int = 5
    grad_averaging: bool = True
    max_grad_norm: float = 1.0
    adam: bool = False
    pre_norm: bool = False
    eps: float = 1e-6


@dataclass
class LionConfig:  # pytorch_optimizer.Lion's defaults (Chen et al. 2023)
    name: str = "lion"
    lr: float = 1e-4
    betas: List[float] = field(default_factory=lambda: [0.9, 0.99])
    weight_decay: float = 0.0
    weight_decouple: bool = True
    fixed_decay: bool = False


@dataclass
class ShampooConfig:  # pytorch_optimizer.Shampoo's defaults (Gupta et al. 2018): one dense preconditioner per dimension
    name: str = "shampoo"
    lr: float = 1e-3
    momentum: float = 0.0
    weight_decay: float = 0.0
    weight_decouple: bool = False
    fixed_decay: bool = False
    preconditioning_compute_steps: int = 1
    matrix_eps: float = 1e-6


@dataclass
class ScalableShampooConfig:  # pytorch_optimizer.ScalableShampoo's defaults (Anil et al. 2020): blockwise, grafted
    name: str = "scalable_shampoo"
    lr: float = 1e-3
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    moving_average_for_momentum: bool = False
    weight_decay: float = 0.0
    decoupled_learning_rate: bool = True
    inverse_exponent_override: int = 0
    start_preconditioning_step: int = 25
    preconditioning_compute_steps: int = 1000
    statistics_compute_steps: int = 1
    block_size: int = 512
    skip_preconditioning_rank_lt: int = 1
    no_preconditioning_for_layers_with_dim_gt: int = 8192
    shape_interpretation: bool = True
    graft_type: int = 1  # 0 none | 1 SGD | 2 AdaGrad | 3 RMSProp | 4 SQRT_N | 5 AdaGrad normalised | 6 sign
    pre_conditioner_type: int = 0  # 0 all dimensions | 1 input | 2 output
    nesterov: bool = True
    diagonal_eps: float = 1e-10
    matrix_eps: float = 1e-6
    use_svd: bool = False


@dataclass
class LookaheadConfig:  # pytorch_optimizer.Lookahead (Zhang et al. 2019) around a base optimizer
    name: str = "lookahead"
    base: Any = "adam"  # a name (that optimizer's schema defaults) or {name: ..., <option>: <value>}
    k: int = 5
    alpha: float = 0.5
    pullback_momentum: str = "none"  # none | reset | pullback


@dataclass
class SAMConfig:  # pytorch_optimizer.SAM (Foret et al. 2021; adaptive: ASAM) around a plain base optimizer
    name: str = "sam"
    base: Any = "sgd"  # a name (that optimizer's schema defaults) or {name: ..., <option>: <value>}
    rho: float = 0.05
    adaptive: bool = False


@dataclass
class _SchedulerBase:
    name: str = MISSING
    warmup_epochs: int = 0
    warmup_start_factor: float = 0.1


@dataclass
class ConstantSchedule(_SchedulerBase):
    name: str = "constant"


@dataclass
class StepSchedule(_SchedulerBase):
    name: str = "step"
    step_size: int = 30
    gamma: float = 0.1


@dataclass
class MultiStepSchedule(_SchedulerBase):
    name: str = "multistep"
    milestones: List[int] = field(default_factory=lambda: [100, 150])
    gamma: float = 0.1


@dataclass
class CosineSchedule(_SchedulerBase):
    name: str = "cosine"
    eta_min: float = 0.0


@dataclass
class ExponentialSchedule(_SchedulerBase):
    name: str = "exponential"
    gamma: float = 0.95


@dataclass
class LoggerConfig:
    name: str = "none"  # none | wandb
    project: str = "robustopt"
    entity: Optional[str] = None
    mode: str = "offline"  # offline | online | disabled
    group: Optional[str] = None  # default: the experiment name
    tags: List[str] = field(default_factory=list)


@dataclass
class DataFilterConfig:
    name: Optional[str] = None  # None | high_frequency | low_energy (robustopt.frequency.FILTERS)
    keep_fraction: float = 1.0


@dataclass
class TrainConfig:
    seed: int = 0
    init_seed: int = "${seed}"  # type: ignore[assignment]  (interpolation)
    data_seed: int = "${seed}"  # type: ignore[assignment]
    epochs: int = 200
    epoch_size: Optional[int] = None  # images per epoch (null: one pass over the training set)
    batch_size: int = 128
    eval_batch_size: int = 1024
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = False
    precision: str = "fp32"  # fp32 | bf16 (autocast for each training step; weights, optimizer, evaluations stay fp32)
    channels_last: bool = False
    grad_clip: Optional[float] = None
    num_threads: Any = (
        "auto"  # torch CPU threads per run: auto (the cores this process really has) | N | null (torch's default)
    )
    progress: bool = True
    snapshot_epochs: Any = None  # null | "all" | [epochs]: keep those epochs' weights (matched-accuracy protocol)
    experiment_name: str = "default"
    plugins: List[str] = field(default_factory=list)  # your modules / .py files, imported before anything is built
    lr_by_optimizer: Dict[str, float] = field(default_factory=dict)
    evaluations: List[str] = field(default_factory=list)  # run after training
    eval: Dict[str, Any] = field(default_factory=dict)  # options per evaluation (conf/eval/)
    data_filter: DataFilterConfig = field(default_factory=DataFilterConfig)
    dataset: DatasetConfig = MISSING
    model: ModelConfig = MISSING
    optimizer: Any = MISSING
    scheduler: Any = MISSING
    logger: LoggerConfig = MISSING
    paths: PathsConfig = field(default_factory=PathsConfig)


@dataclass
class EvaluateConfig:
    run_dir: str = MISSING  # one run directory, or a folder of runs (a sweep)
    evaluations: List[str] = field(default_factory=lambda: ["clean"])
    eval: Dict[str, Any] = field(default_factory=dict)
    device: str = "auto"
    batch_size: int = 1024
    seed: int = 0
    progress: bool = True
    data_dir: Optional[str] = None  # default: the run's own dataset.root
    replace: bool = False  # true: drop the stored results of the evaluations run (default: merge with them)
    protocol: str = "final"  # final (the paper's: last epoch) | matched (equal standard accuracy)
    matched_target: Any = "lowest_final"  # lowest_final | an accuracy in (0, 1]
    prune_snapshots: bool = False  # protocol=matched: keep only the matched epoch's weights afterwards
    in_progress: bool = False  # protocol=matched with a fixed matched_target: also runs still training
    shard: Optional[str] = None  # i/n: evaluate every n-th run from the i-th
    num_threads: Any = "auto"  # torch CPU threads: auto | N | null
    plugins: List[str] = field(default_factory=list)  # your modules / .py files (e.g. evaluations), imported first
    logger: LoggerConfig = MISSING
    paths: PathsConfig = field(default_factory=PathsConfig)


# -- the linear theory (experiments/linear_theory.py, conf/linear_theory.yaml) ------------------------------
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
    optimizers: Dict[str, Any] = field(
        default_factory=lambda: {  # name -> hyper-parameters besides lr (torch's defaults)
            "gd": {},
            "signgd": {},
            "adam": {"betas": [0.9, 0.999], "eps": 1e-8},
            "rmsprop": {"alpha": 0.99, "eps": 1e-8},
        }
    )
    eps: List[float] = field(default_factory=lambda: [0.5, 1.0, math.sqrt(2.0), 2.0])
    record: RecordConfig = field(default_factory=RecordConfig)
    surface: SurfaceConfig = field(default_factory=SurfaceConfig)
    progress: bool = True
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)


OPTIMIZER_SCHEMAS = {
    "sgd": SGDConfig,
    "adam": AdamConfig,
    "adamw": AdamWConfig,
    "rmsprop": RMSpropConfig,
    "adagrad": AdagradConfig,
    "signsgd": SignSGDConfig,
    "momentum": MomentumConfig,
    "nesterov": NesterovConfig,
    "adadelta": AdadeltaConfig,
    "nadam": NAdamConfig,
    "adamax": AdamaxConfig,
    "radam": RAdamConfig,
    "lamb": LambConfig,
    "lion": LionConfig,
    "shampoo": ShampooConfig,
    "scalable_shampoo": ScalableShampooConfig,
    "lookahead": LookaheadConfig,
    "sam": SAMConfig,
}
#: Optimizers that wrap another (their ``base`` option; robustopt.optim.WRAPPERS).
WRAPPER_SCHEMAS = ("lookahead", "sam")


def expand_optimizer(opt: Any) -> Any:
    """A wrapper's ``base`` (a name, or a dict with a ``name``) filled in with that optimizer's schema defaults and
    checked against its schema (an unknown option or a wrong type raises OmegaConf's validation error), recursively;
    other optimizer configs (and bases that are no registered schema, e.g. a plugin's) are returned unchanged."""
    if not isinstance(opt, dict) or opt.get("name") not in WRAPPER_SCHEMAS or "base" not in opt:
        return opt
    base = opt["base"]
    given = {"name": base} if isinstance(base, str) else dict(base) if isinstance(base, dict) else None
    if given is None or given.get("name") not in OPTIMIZER_SCHEMAS:
        return opt
    try:
        node = OmegaConf.merge(OmegaConf.structured(OPTIMIZER_SCHEMAS[given["name"]]), given)
    except OmegaConfBaseException as exc:
        raise ConfigError(
            f"optimizer '{opt['name']}': its base {given} is invalid: {str(exc).splitlines()[0]}; "
            f"the options of '{given['name']}' are: {', '.join(OPTIMIZER_SCHEMAS[given['name']].__dataclass_fields__)}"
        ) from None
    return {**opt, "base": expand_optimizer(OmegaConf.to_container(node, resolve=True))}


SCHEDULER_SCHEMAS = {
    "constant": ConstantSchedule,
    "step": StepSchedule,
    "multistep": MultiStepSchedule,
    "cosine": CosineSchedule,
    "exponential": ExponentialSchedule,
}
