"""The typed sections of a config: ``train:``, ``data:``, ``evaluation:``, ``tune:`` and
``scaling:``.

Each section is a frozen dataclass read by one function, :func:`read_section`: unknown keys
and wrong value types are errors naming the config path and the accepted fields. Checks
that need a registry (a strategy's or scheduler's name) live with the plan, which knows them.
torch-free: ``ablate plan`` reads every section before anything heavy is imported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal, TypeVar

from ablate.config import Config
from ablate.errors import AblateError, did_you_mean
from ablate.signature import check_kwargs

S = TypeVar("S")


def read_section(
    cfg: Config, name: str, cls: type[S], *, non_negative: bool = False, empty_ok: bool = False
) -> S:
    """The ``name:`` section of ``cfg`` as a ``cls``; a missing section takes the defaults.

    Args:
        non_negative: Every whole-number field must be >= 0.
        empty_ok: Any empty value (``[]``, ``''``) is an empty section too.

    Raises:
        AblateError: not a mapping, an unknown or missing key, or a value of the wrong type.
    """
    raw = cfg.data.get(name)
    if raw is None or (empty_ok and not raw):
        raw = {}
    if not isinstance(raw, Mapping):
        raise cfg.error(f"expected a mapping, got {raw!r}", name)
    try:
        check_kwargs(cls, raw, key=name, type_name=name)
    except AblateError as err:
        raise cfg.locate(err) from None
    values = cls(**raw)
    if non_negative:
        for field_name, value in asdict(values).items():  # type: ignore[call-overload]
            if isinstance(value, int) and not isinstance(value, bool) and value < 0:
                raise cfg.error(
                    f"expected a non-negative number, got {value}", f"{name}.{field_name}"
                )
    return values


# --- train: and data: ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSettings:
    """The ``data:`` section.

    Attributes:
        dataset: ``{type, ...}``; built with ``split='train'`` and ``split='val'``.
        batch_size: Per worker.
        val_batch_size: Defaults to ``batch_size``.
        loader_workers: DataLoader worker processes (None: 0 on CPU, up to 4 on a GPU).
        pin_memory: Page-locked host batches (None: on a GPU only).
        persistent_workers: Keep loader workers between epochs (None: when there are any).
        val_dataset: Optional overrides merged into ``dataset`` for the val split.
        test_dataset: The same for the test split (``evaluation.test``).
        sampler: ``{type, ...}``, a registered sampler of training batches (``SAMPLERS``);
            by default a seeded shuffle, sharded across DDP ranks.
        batch_format: What a model's forward gets: ``dict`` (the batch) or ``opengait``
            (``(ipts, labs, typs, viws, seqL)``); the default is ``opengait`` for a
            ``model_cfg`` config, else ``dict``.
    """

    dataset: dict[str, Any]
    batch_size: int = 64
    val_batch_size: int | None = None
    loader_workers: int | None = None
    pin_memory: bool | None = None
    persistent_workers: bool | None = None
    val_dataset: dict[str, Any] | None = None
    test_dataset: dict[str, Any] | None = None
    sampler: dict[str, Any] | None = None
    batch_format: str | None = None


@dataclass(frozen=True)
class TrainSettings:
    """The ``train:`` section.

    Attributes:
        epochs: Passes over the training set.
        seed: Seeds torch, numpy, python and the data order.
        grad_clip: Max gradient norm, or None.
        num_threads: torch intra-op threads per worker (None: torch's default).
        image_every: Log ``visual_summary`` images every this many epochs (0: never).
        max_batches: Cap on training batches per epoch (for smoke runs).
        amp: Mixed precision, ``{dtype: bf16 | fp16}`` (fp16 adds a GradScaler); None: fp32.
        channels_last: Train in the channels-last memory format (faster convolutions on GPUs).
        compile: ``torch.compile`` the training forward.
    """

    epochs: int = 10
    seed: int = 0
    grad_clip: float | None = None
    num_threads: int | None = None
    image_every: int = 5
    max_batches: int | None = None
    amp: dict[str, Any] | None = None
    channels_last: bool = False
    compile: bool = False

    @property
    def amp_dtype(self) -> str | None:
        """``'bf16'``, ``'fp16'`` or None (full precision)."""
        return None if not self.amp else str(self.amp["dtype"])


#: The mixed-precision dtypes ``train.amp.dtype`` accepts.
AMP_DTYPES = ("bf16", "fp16")


def data_settings(cfg: Config) -> DataSettings:
    if "data" not in cfg.data:
        raise cfg.error("a config needs a data: section with a dataset: {type: ...}", "data")
    settings = read_section(cfg, "data", DataSettings, non_negative=True)
    if settings.batch_size < 1:
        raise cfg.error("expected at least 1", "data.batch_size")
    if settings.persistent_workers and not settings.loader_workers:
        raise cfg.error(
            "persistent_workers needs loader_workers of 1 or more", "data.persistent_workers"
        )
    return settings


def train_settings(cfg: Config) -> TrainSettings:
    settings = read_section(cfg, "train", TrainSettings, non_negative=True)
    if settings.epochs < 1:
        raise cfg.error("expected at least 1", "train.epochs")
    _check_amp(cfg, settings.amp)
    return settings


def _check_amp(cfg: Config, amp: Any) -> None:
    if amp is None:
        return
    if not isinstance(amp, Mapping) or set(amp) != {"dtype"}:
        raise cfg.error(f"expected {{dtype: bf16 | fp16}}, got {amp!r}", "train.amp")
    if amp["dtype"] not in AMP_DTYPES:
        raise cfg.error(
            f"unknown dtype {amp['dtype']!r}{did_you_mean(str(amp['dtype']), list(AMP_DTYPES))}; "
            f"expected one of {', '.join(AMP_DTYPES)}",
            "train.amp.dtype",
        )


@dataclass(frozen=True)
class EvaluationSettings:
    """The ``evaluation:`` section.

    Attributes:
        metrics: ``[{type: <METRICS name>, ...}]``; None: the model kind's default
            (``Accuracy`` on logits, ``Retrieval`` on embeddings).
        test: Also build the dataset with ``split='test'`` and evaluate it once, at the
            end of each trial (``test/<name>``); ``val`` still selects.
    """

    metrics: list[dict[str, Any]] | None = None
    test: bool = False


def evaluation_settings(cfg: Config) -> EvaluationSettings:
    settings = read_section(cfg, "evaluation", EvaluationSettings, empty_ok=True)
    for i, m in enumerate(settings.metrics or []):
        if not isinstance(m, Mapping) or "type" not in m:
            raise cfg.error(
                f"expected a metric {{type: <name>, ...}}, got {m!r}", f"evaluation.metrics.{i}"
            )
    return settings


#: The sections whose fields a search dimension may name (``train.epochs``, ``data.batch_size``).
SECTION_FIELDS: dict[str, type] = {
    "train": TrainSettings,
    "data": DataSettings,
    "evaluation": EvaluationSettings,
}


# --- tune: ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TuneSettings:
    """The ``tune:`` block.

    Attributes:
        strategy: A registered search strategy: factorial, one_at_a_time, random, optuna,
            ablation_path.
        metric: The metric to rank and search by: any name the evaluation logs
            (``val/top1``, ``val/mse``, ``val/success_auc``).
        mode: ``max`` or ``min``; omitted, the metric's own (``val/mse`` min), which the
            plan resolves from the built metrics (:func:`guess_mode` until then).
        scheduler: A registered scheduler (``fifo``, ``asha``), or ``{type: name, **options}``.
        num_samples: Points drawn by random/optuna, or levels of continuous dims.
        baseline: The reference cell (required by one_at_a_time).
        exclude: Partial points whose matching cells are dropped.
        seed: Seed of the sampling (not of training).
        asha: ASHAScheduler options: grace_period, reduction_factor, max_t.
        max_failures: Times Tune retries a failed trial (-1: forever).
        trial_timeout: Seconds after which a trial is stopped and marked failed.
        max_concurrent: Upper bound on trials at once (the cluster's size bounds it too).
        min_effect: The smallest difference of the metric that matters: with it, a cell
            within ±min_effect of the reference is ``equivalent`` (TOST), and the plan says
            how many seeds detect it.
        seed_sd: A stated prior of the metric's seed standard deviation, for the plan's
            power when neither this sweep's runs nor a pilot give one.
        pilot: Another sweep in the tracking store whose seed spread the plan's power uses.
        target: The ablation path's end (dimension -> value); default (or ``best``): the
            best cell of a screening round.
    """

    strategy: str = "factorial"
    metric: str = "val/top1"
    mode: Literal["max", "min"] | None = None
    scheduler: str | dict[str, Any] = "fifo"
    num_samples: int = 1
    baseline: dict[str, Any] | None = None
    exclude: list[dict[str, Any]] | None = None
    seed: int = 0
    asha: dict[str, Any] | None = None
    max_failures: int = 0
    trial_timeout: float | None = None
    max_concurrent: int | None = None
    min_effect: float | None = None
    seed_sd: float | None = None
    pilot: str | None = None
    target: dict[str, Any] | Literal["best"] | None = None

    @property
    def scheduler_name(self) -> str:
        s = self.scheduler
        return str(s.get("type")) if isinstance(s, Mapping) else s


def tune_settings(cfg: Config) -> TuneSettings:
    """The ``tune:`` block, its keys and value types checked. The plan checks the rest, in
    the order a person reads the block: names, bounds, then what the strategy and the
    scheduler say."""
    return read_section(cfg, "tune", TuneSettings, empty_ok=True)


def guess_mode(metric: str) -> Literal["max", "min"]:
    """A metric's mode before any metric is built: losses and errors low, the rest high."""
    last = metric.rsplit("/", 1)[-1].lower()
    return "min" if last.endswith("loss") or last in ("mse", "mae", "rmse") else "max"


def check_tune_bounds(cfg: Config, t: TuneSettings) -> None:
    """Counts and the metric name of the ``tune:`` block."""
    low = {"num_samples": 1, "seed": 0, "max_failures": -1, "max_concurrent": 1}
    for key, lo in low.items():
        value = getattr(t, key)
        if value is not None and value < lo:
            raise cfg.error(f"expected at least {lo}, got {value}", f"tune.{key}")
    for key in ("min_effect", "seed_sd"):
        value = getattr(t, key)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise cfg.error(f"expected a positive number, got {value}", f"tune.{key}")
    if not t.metric.strip():
        raise cfg.error("expected a metric name, e.g. val/top1", "tune.metric")
    if t.metric.startswith("test/"):
        raise cfg.error(
            f"'{t.metric}' is measured once, at a trial's end, and selecting on it would bias "
            f"the test; select on val/{t.metric[5:]} (the report shows test/* beside it)",
            "tune.metric",
        )


def check_trial_timeout(cfg: Config, t: TuneSettings) -> None:
    if t.trial_timeout is not None and t.trial_timeout <= 0:
        raise cfg.error(
            f"expected a positive number of seconds, got {t.trial_timeout}", "tune.trial_timeout"
        )


# --- scaling: ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScalingSettings:
    """The ``scaling:`` block: Ray Train's ScalingConfig for every trial.

    Attributes:
        num_workers: DDP workers per trial.
        use_gpu: One GPU per worker (nccl); else CPU workers (gloo).
        resources_per_worker: e.g. ``{CPU: 2, GPU: 1}``; default ``{CPU: 1}``.
        placement_strategy: Ray placement strategy of a trial's workers.
        max_failures: Times Ray Train restarts a failed worker group from its checkpoint.
        ray_train: Force Ray Train even for a single worker (normally run in-process).
        gpus_per_trial: The GPU share of a one-worker trial (``0.25``: 4 trials share a GPU);
            implies ``use_gpu``.
    """

    num_workers: int = 1
    use_gpu: bool = False
    resources_per_worker: dict[str, float] | None = None
    placement_strategy: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = "PACK"
    max_failures: int = 1
    ray_train: bool = False
    gpus_per_trial: float | None = None


def scaling_settings(cfg: Config) -> ScalingSettings:
    """The validated ``scaling:`` block of a sweep file."""
    s = read_section(cfg, "scaling", ScalingSettings, empty_ok=True)
    if s.num_workers < 1:
        raise cfg.error(f"expected at least 1 worker, got {s.num_workers}", "scaling.num_workers")
    if s.max_failures < -1:
        raise cfg.error(
            f"expected -1 (retry forever) or more, got {s.max_failures}", "scaling.max_failures"
        )
    for k, v in (s.resources_per_worker or {}).items():
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v < math.inf:
            raise cfg.error(
                f"expected a non-negative number, got {v!r}", f"scaling.resources_per_worker.{k}"
            )
    _check_gpus_per_trial(cfg, s)
    return s


def _check_gpus_per_trial(cfg: Config, s: ScalingSettings) -> None:
    g, key = s.gpus_per_trial, "scaling.gpus_per_trial"
    if g is None:
        return
    if isinstance(g, bool) or not isinstance(g, int | float) or not 0 < g <= 1:
        raise cfg.error(f"expected a GPU share in (0, 1], e.g. 0.25, got {g!r}", key)
    if s.num_workers != 1:
        raise cfg.error(
            f"gpus_per_trial packs one-worker trials, but num_workers is {s.num_workers}",
            key,
            hint="give each worker its share in scaling.resources_per_worker: {GPU: ...}",
        )
    gpu = {k.upper(): v for k, v in (s.resources_per_worker or {}).items()}.get("GPU")
    if gpu is not None and gpu != g:
        raise cfg.error(
            f"gpus_per_trial is {g:g} but resources_per_worker.GPU is {gpu:g}; keep one", key
        )


__all__ = [
    "AMP_DTYPES",
    "SECTION_FIELDS",
    "DataSettings",
    "EvaluationSettings",
    "ScalingSettings",
    "TrainSettings",
    "TuneSettings",
    "check_trial_timeout",
    "check_tune_bounds",
    "data_settings",
    "evaluation_settings",
    "guess_mode",
    "read_section",
    "scaling_settings",
    "train_settings",
    "tune_settings",
]
