"""The use cases that need no sweep: train one config, open MLflow's UI, list components."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from ablate.app.options import TrainOptions
from ablate.config import load_config
from ablate.errors import AblateError, ExitCode
from ablate.registry import REGISTRIES
from ablate.tracking import is_server, shown, sqlite_file, tracking_uri


def train_config(opts: TrainOptions) -> int:
    """``ablate train``: one config, trained here with the sweep's worker loop."""
    from ablate.train.loop import Runtime, train

    cfg = load_config(opts.config, opts.overrides)

    class Printer(Runtime):
        def report(self, metrics: dict[str, float], images: Any, state: Any) -> None:
            if not opts.json:
                line = "  ".join(
                    f"{k}={v:.4g}"
                    for k, v in metrics.items()
                    if k != "epoch" and isinstance(v, int | float)  # not an artifact's lists
                )
                print(f"epoch {int(metrics['epoch'])}  {line}", flush=True)

    final = train(cfg, Printer())
    if opts.json:
        print(json.dumps(final, sort_keys=True))
    return ExitCode.OK


def open_ui(uri: str | None, port: int) -> int:
    """``ablate ui``: become MLflow's server on the tracking store, bound to 127.0.0.1."""
    uri = tracking_uri(uri)
    if is_server(uri):
        print(f"{shown(uri)} is an MLflow server and serves its own UI: open it in a browser")
        return ExitCode.OK
    db = sqlite_file(uri)
    if db is not None and not db.is_file():
        raise AblateError(
            f"no tracking store at {db} yet",
            hint="run a sweep here first, or pass --tracking-uri",
        )
    print(f"MLflow UI on {shown(uri)}: http://127.0.0.1:{port} (Ctrl-C stops it)", flush=True)
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    # Become the server: Ctrl-C and a terminate reach it, and no orphan keeps the port.
    os.execv(sys.executable, cmd)
    return ExitCode.OK  # not reached


def list_components(kind: str | None) -> int:
    """``ablate components``: every registered component with its arguments."""
    for name in [kind] if kind else list(REGISTRIES):
        registry = REGISTRIES[name]
        print(f"{name}:")
        for component, _ in registry.items():
            print(f"  {registry.describe(component)}")
    return ExitCode.OK


__all__ = ["list_components", "open_ui", "train_config"]
