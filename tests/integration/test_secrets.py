"""Secrets in the environment of ``ablate run`` never reach what it records: the MLflow store
(database and artifacts), the report, Tune's state or the output."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from cli_runner import ablate, write

pytestmark = pytest.mark.integration


def test_tokens_in_the_environment_are_never_recorded(tmp_path: Path, tiny_base: Path) -> None:
    ray_token = secrets.token_hex(16)
    mlflow_password = secrets.token_hex(12)
    sweep = write(
        tmp_path,
        "sweep.yaml",
        """
        name: secrets
        _base_: base.yaml
        search:
          model.neck: [{type: GlobalAveragePooling}, {type: GeneralizedMeanPooling}]
          seeds: [0]
        train: {epochs: 1}
        """,
    )
    ran = ablate(
        "run",
        str(sweep),
        cwd=tmp_path,
        env={
            # The local Ray runs with token authentication on this token.
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": ray_token,
            "MLFLOW_TRACKING_PASSWORD": mlflow_password,
        },
    )
    assert ran.code == 0, ran.err[-3000:]
    assert (tmp_path / "mlflow.db").is_file()
    assert (tmp_path / "reports" / "secrets" / "report.html").is_file()
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) > 20  # the store, its artifacts, the report, Tune's state
    for secret in (ray_token, mlflow_password):
        leaked = [str(p) for p in written if secret.encode() in p.read_bytes()]
        assert not leaked, f"a secret was written to {leaked}"
        assert secret not in ran.out and secret not in ran.err
