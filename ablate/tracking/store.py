"""The tracking store: where it is, a quick reachability check, and calls that are retried
with backoff while their error is transient; MLflow's batch limits and value formats.

MLflow is imported on first use: ``import mlflow`` takes seconds.
"""

from __future__ import annotations

import contextlib
import json
import logging
import numbers
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ablate.errors import AblateError, first_line
from ablate.layout import RESULT_ARTIFACT_PREFIX
from ablate.tracking import template
from ablate.tracking.schema import METRIC_ARTIFACT_DIR

log = logging.getLogger("ablate.tracking")

DEFAULT_URI = "sqlite:///mlflow.db"
RETRY_ENV = "ABLATE_TRACKING_RETRY_S"
DEFAULT_RETRY_S = 60.0

# MLflow's log_batch limits (mlflow.utils.validation).
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
MAX_BATCH_BYTES = 900_000  # the REST request limit is 1 MB
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000

# Errors no retry can fix: a bad request is our bug, a missing run is gone for good.
_PERMANENT = frozenset(
    {
        "INVALID_PARAMETER_VALUE",
        "RESOURCE_DOES_NOT_EXIST",
        "RESOURCE_ALREADY_EXISTS",
        "INVALID_STATE",
        "PERMISSION_DENIED",
        "UNAUTHENTICATED",
        "CUSTOMER_UNAUTHORIZED",
        "BAD_REQUEST",
        "MALFORMED_REQUEST",
        "ENDPOINT_NOT_FOUND",
        "FEATURE_DISABLED",
        "NOT_IMPLEMENTED",
        "INVALID_STATE_TRANSITION",
    }
)


class TrackingError(AblateError):
    """The tracking store cannot be reached, or stopped answering."""


def tracking_uri(uri: str | None = None) -> str:
    """``--tracking-uri``, else ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db`` here.

    A relative SQLite path is made absolute, so every message and ``ablate ui`` name the
    same file whatever the working directory of whoever reads it.
    """
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        path, sep, query = uri[len(prefix) :].partition("?")
        uri = f"{prefix}{Path(path).resolve()}{sep}{query}"  # sqlite:////abs/path
    return uri


def shown(uri: str) -> str:
    """The URI without a password, for messages."""
    return re.sub(r"//[^/@]*@", "//***@", uri)


def sqlite_file(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///") :].partition("?")[0])


def is_server(uri: str) -> bool:
    return uri.split(":", 1)[0] in ("http", "https")


def _gist(err: BaseException) -> str:
    """The gist of a store error: ``[Errno 111] Connection refused`` rather than urllib3's
    nested retry report."""
    errno = re.search(r"\[Errno -?\d+\][^'\")\]]*", str(err))
    return errno.group(0).strip() if errno else first_line(err, limit=200)


def transient(err: BaseException) -> bool:
    """Worth retrying: a connection failure, a timeout, a 5xx/429, a locked database."""
    code = getattr(err, "error_code", None)
    if code is not None:  # an MlflowException
        return code not in _PERMANENT
    return isinstance(err, OSError | TimeoutError)


@dataclass(frozen=True)
class Retry:
    """Exponential backoff within a time budget."""

    budget_s: float = DEFAULT_RETRY_S
    first_s: float = 0.5
    max_s: float = 15.0

    @classmethod
    def from_env(cls) -> Retry:
        raw = os.environ.get(RETRY_ENV)
        try:
            return cls(budget_s=float(raw)) if raw else cls()
        except ValueError:
            raise AblateError(f"{RETRY_ENV} must be a number of seconds, got {raw!r}") from None

    def delays(self) -> Iterator[float]:
        spent, delay = 0.0, self.first_s
        while spent < self.budget_s - 1e-9:
            step = min(delay, self.max_s, self.budget_s - spent)
            yield step
            spent += step
            delay *= 2


def _quiet_mlflow() -> None:
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


class Store:
    """An ``MlflowClient`` on one tracking URI whose calls are retried while transient.

    ``seconds`` and ``calls`` add up the time spent in MLflow, for the overhead benchmark.
    """

    def __init__(self, uri: str, client: Any, retry: Retry | None = None) -> None:
        self.uri = uri
        self.client = client
        self.retry = retry or Retry.from_env()
        self.seconds = 0.0
        self.calls = 0
        self.by_call: dict[str, float] = {}

    def call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        delays = self.retry.delays()
        attempt = 0
        try:
            while True:
                attempt += 1
                try:
                    return fn(*args, **kwargs)
                except Exception as err:
                    if not transient(err):
                        raise
                    delay = next(delays, None)
                    if delay is None:
                        raise TrackingError(
                            f"the tracking store at {shown(self.uri)} stopped answering: "
                            f"{what} failed {attempt} times in "
                            f"{time.perf_counter() - t0:.0f}s ({_gist(err)})",
                            hint="the sweep stopped; bring the store back and run the same "
                            "command again to resume",
                        ) from None
                    log.warning("tracking: %s failed (%s); retrying in %.1fs", what, err, delay)
                    time.sleep(delay)
        finally:
            dt = time.perf_counter() - t0
            self.seconds += dt
            self.calls += 1
            self.by_call[what] = self.by_call.get(what, 0.0) + dt

    def log_batch(
        self,
        run_id: str,
        metrics: Iterable[Any] = (),
        params: Iterable[Any] = (),
        tags: Iterable[Any] = (),
    ) -> None:
        for m, p, t in batches(metrics, params, tags):
            self.call("log_batch", self.client.log_batch, run_id, metrics=m, params=p, tags=t)

    def all_runs(self, experiment_id: str, filter_string: str) -> list[Any]:
        """Every run matching the filter, through all pages."""
        runs: list[Any] = []
        token = None
        while True:
            page = self.call(
                "search_runs",
                self.client.search_runs,
                [experiment_id],
                filter_string=filter_string,
                max_results=1000,
                page_token=token,
            )
            runs += list(page)
            token = page.token
            if not token:
                return runs


def tracking_env() -> None:
    """MLflow's settings for ablate, in this process's environment. :func:`open_store` sets
    them; a command that opens its store while other threads run sets them first (setenv
    is not safe beside other threads)."""
    # Our retries (Store.call) replace MLflow's per-request ones, which wait ~4 minutes.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    # MLflow prints two links per ended run on a server; `ablate run` prints one at the end.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


def open_store(uri: str | None = None) -> Store:
    """Connect to the tracking store and check it answers, quickly.

    Raises:
        TrackingError: it does not (one line; ``ablate`` exits 2 before anything starts).
    """
    uri = tracking_uri(uri)
    tracking_env()
    t0 = time.perf_counter()
    try:
        _quiet_mlflow()
        with _first_opener(uri):
            db = sqlite_file(uri)
            new = db is not None and template.is_new(db)
            copied = new and db is not None and template.copy_template(db)
            client = _answering(uri)
            if new and not copied and db is not None:
                template.keep_template(db)
    except Exception as err:
        hint = (
            "start it (mlflow server), or point --tracking-uri / MLFLOW_TRACKING_URI elsewhere"
            if is_server(uri)
            else "check --tracking-uri / MLFLOW_TRACKING_URI"
        )
        raise TrackingError(
            f"cannot reach the tracking store at {shown(uri)}: {_gist(err)}", hint=hint
        ) from None
    store = Store(uri, client)
    store.seconds += time.perf_counter() - t0
    return store


def _answering(uri: str) -> Any:
    """An MLflow client of ``uri`` that has answered (MLflow creates and migrates a new
    store on this first call)."""
    from mlflow.tracking import MlflowClient

    _write_ahead_log(uri)
    client = MlflowClient(tracking_uri=uri)
    client.search_experiments(max_results=1)
    return client


@contextlib.contextmanager
def _first_opener(uri: str) -> Iterator[None]:
    """One process at a time opens a SQLite store: MLflow creates and migrates its tables
    on first use, and two doing so at once fail (``table _alembic_tmp_tags already
    exists``). An exclusive ``flock`` next to the file; the kernel drops it with its
    holder."""
    db = sqlite_file(uri)
    if db is None or not db.parent.is_dir():
        yield
        return
    import fcntl

    with open(f"{db}.open-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write_ahead_log(uri: str) -> None:
    """Put a SQLite store in WAL mode (it stays so): a commit costs about a third of the
    default rollback journal's, and a reader (``ablate ui``) never blocks the sweep's writes.
    A store that refuses (a read-only file) is left as it is."""
    import sqlite3

    db = sqlite_file(uri)
    if db is None or not db.parent.is_dir():
        return  # not SQLite, or a path MLflow will report better
    try:
        with sqlite3.connect(db, timeout=5) as con:
            con.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as err:
        log.debug("tracking: %s stays in its journal mode: %s", db, err)


# --- values and batches --------------------------------------------------------------------------


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def param_value(value: Any) -> str:
    """A param as MLflow stores it: a string of at most 6000 characters."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool) or value is None:
        text = str(value)
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, numbers.Number):
        text = str(value)
    else:
        text = json.dumps(value, sort_keys=True, default=str)
    return _clip(text, MAX_PARAM_VALUE)


def tag_value(value: Any) -> str:
    return _clip(str(value), MAX_TAG_VALUE)


def trial_params(point: Mapping[str, Any], seed: int) -> dict[str, str]:
    """Every dimension's chosen value under its readable label, and ``seed``."""
    return {**{k: param_value(v) for k, v in point.items()}, "seed": str(seed)}


def result_metrics(result: Mapping[str, Any], ignore: Iterable[str] = ()) -> dict[str, float]:
    """The numeric entries of a Tune result that are the trial's own metrics."""
    skip = {*ignore, "epoch"}
    return {
        k: float(v)
        for k, v in result.items()
        if k not in skip and isinstance(v, numbers.Real) and not isinstance(v, bool)
    }


def result_artifacts(result: Mapping[str, Any]) -> dict[str, str]:
    """A Tune result's non-scalar metric results as ``{artifact path: JSON text}``."""
    return {
        f"{METRIC_ARTIFACT_DIR}/{k[len(RESULT_ARTIFACT_PREFIX) :]}.json": json.dumps(v)
        for k, v in result.items()
        if k.startswith(RESULT_ARTIFACT_PREFIX)
    }


def result_step(result: Mapping[str, Any]) -> int:
    return int(result.get("epoch") or result.get("training_iteration") or 0)


def _size(entity: Any) -> int:
    return len(str(entity.key)) + len(str(entity.value)) + 64


def batches(
    metrics: Iterable[Any] = (), params: Iterable[Any] = (), tags: Iterable[Any] = ()
) -> Iterator[tuple[list[Any], list[Any], list[Any]]]:
    """Split entities into ``log_batch`` calls within MLflow's limits: at most 1000 metrics,
    100 params, 100 tags and 1000 entities per call, and under 1 MB of request."""
    out: dict[str, list[Any]] = {"m": [], "p": [], "t": []}
    caps = {
        "m": MAX_METRICS_PER_BATCH,
        "p": MAX_PARAMS_TAGS_PER_BATCH,
        "t": MAX_PARAMS_TAGS_PER_BATCH,
    }
    size = 0
    items = [("p", e) for e in params] + [("t", e) for e in tags] + [("m", e) for e in metrics]
    for kind, entity in items:
        n = _size(entity)
        count = sum(len(v) for v in out.values())
        full = (
            len(out[kind]) >= caps[kind]
            or count >= MAX_ENTITIES_PER_BATCH
            or size + n > MAX_BATCH_BYTES
        )
        if full and count:
            yield out["m"], out["p"], out["t"]
            out, size = {"m": [], "p": [], "t": []}, 0
        out[kind].append(entity)
        size += n
    if any(out.values()):
        yield out["m"], out["p"], out["t"]


def run_filter(**tags: str) -> str:
    return " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
