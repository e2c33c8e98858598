"""The typed options of the use cases: what the CLI (or a script, or the cluster) asks for."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SweepOptions:
    """One sweep, as ``ablate plan``, ``run`` and ``submit`` take it.

    Attributes:
        sweep: The sweep file.
        overrides: ``key.path=value`` overrides, applied in order.
        name: The sweep's name (default: the file's ``name:``, else its stem).
        address: A Ray address: a cluster (``HOST:PORT``), Ray Client (``ray://``), or for
            submit the Jobs API (``http://HOST:8265``). Default: ``RAY_ADDRESS``, else local.
        max_concurrent: At most this many trials at once.
        storage: Where Ray Tune keeps trial state.
        tracking_uri: The MLflow store (default: ``MLFLOW_TRACKING_URI``, else ./mlflow.db).
        reports: Where reports are written (``<reports>/<name>/``).
        rerun_all: Run every trial, even finished (cell, seed) pairs.
        rerun_changed_code: Also run finished trials whose code changed since.
        follow: (submit) stream the job's output and exit with its result.
        command: The command line to record with the sweep (passwords masked).
        quiet: (run) keep the terminal for ablate's own words: other libraries' output goes
            to a log file in the sweep's directory.
    """

    sweep: str
    overrides: tuple[str, ...] = ()
    name: str | None = None
    address: str | None = None
    max_concurrent: int | None = None
    storage: str | None = None
    tracking_uri: str | None = None
    reports: str = "reports"
    rerun_all: bool = False
    rerun_changed_code: bool = False
    follow: bool = False
    command: str = ""
    quiet: bool = False


@dataclass(frozen=True)
class JobOptions:
    """A submitted sweep, as ``ablate status`` and ``logs`` take it."""

    job: str
    address: str | None = None
    wait: bool = False
    follow: bool = False
    poll_s: float = 2.0


@dataclass(frozen=True)
class TrainOptions:
    """One config trained locally (``ablate train``)."""

    config: str
    overrides: tuple[str, ...] = field(default_factory=tuple)
    json: bool = False


__all__ = ["JobOptions", "SweepOptions", "TrainOptions"]
