"""deploy/: the crontab line and the Kubernetes CronJob parse, have what Kubernetes and cron
need, and call real ``ablate`` subcommands and flags (a renamed flag fails here)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from ablate import cli
from ablate.errors import EXIT_USER_ERROR

ROOT = Path(__file__).resolve().parents[1]
CRONTAB = ROOT / "deploy" / "crontab"
CRONJOB = ROOT / "deploy" / "k8s" / "cronjob.yaml"
SHELL_OPERATORS = {">", ">>", "2>&1", "&&", "||", ";", "|", "&", "<"}
#: Environment variables ablate (or Ray's and MLflow's clients under it) reads.
ABLATE_ENV = {"RAY_API_SERVER_ADDRESS", "MLFLOW_TRACKING_URI", "RAY_AUTH_TOKEN_PATH"}
CRON_ENV = {"PATH", "SHELL", "MAILTO", "HOME", "CRON_TZ"}
CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")


def ablate_args(argv: list[str]) -> Any:
    """The ``ablate`` command among shell commands (``cd x && ablate ... >> log``), through
    the real parser (argparse exits 2 on an unknown subcommand or flag)."""
    commands: list[list[str]] = [[]]
    for word in argv:
        if word in SHELL_OPERATORS:
            commands.append([])
        else:
            commands[-1].append(word)
    found = [c for c in commands if c and Path(c[0]).name == "ablate"]
    assert len(found) == 1, f"expected one ablate command in {argv}"
    return cli.build_parser().parse_args(found[0][1:])


def _env_read_by_ablate(name: str) -> bool:
    """Some ablate module names the variable, so a rename fails this test."""
    return any(name in p.read_text() for p in (ROOT / "ablate").rglob("*.py"))


def _job_lines() -> tuple[list[str], dict[str, str]]:
    jobs, env = [], {}
    for line in CRONTAB.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([A-Z_][A-Z0-9_]*)=(.*)$", line)
        if m:
            env[m.group(1)] = m.group(2)
        else:
            jobs.append(line)
    return jobs, env


def test_crontab_schedule_and_command() -> None:
    jobs, env = _job_lines()
    assert len(jobs) == 1
    fields = jobs[0].split(None, 5)
    assert len(fields) == 6, "5 schedule fields and a command"
    for field in fields[:5]:
        assert CRON_FIELD.match(field), field
    args = ablate_args(shlex.split(fields[5]))
    assert args.command == "submit" and args.follow
    assert (ROOT / args.sweep).is_file()  # the crontab cds into a checkout of this repo
    assert args.storage.startswith("/")
    assert args.address is None and env["RAY_API_SERVER_ADDRESS"].startswith("http")
    assert env["MLFLOW_TRACKING_URI"].startswith(("http://", "https://"))


def test_crontab_env_is_read_by_ablate() -> None:
    _, env = _job_lines()
    assert "RAY_AUTH_TOKEN" not in env, "a token belongs in a file, not in the crontab"
    for name in env:
        assert name in CRON_ENV or (name in ABLATE_ENV and _env_read_by_ablate(name)), name


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(CRONJOB.read_text()) if d]
    for d in docs:
        assert {"apiVersion", "kind", "metadata"} <= set(d) and d["metadata"]["name"]
    by_kind = {d["kind"]: d for d in docs}
    assert set(by_kind) == {"ConfigMap", "CronJob"}
    return by_kind


def test_cronjob_has_what_kubernetes_needs(manifests: dict[str, dict[str, Any]]) -> None:
    cron = manifests["CronJob"]
    assert cron["apiVersion"] == "batch/v1"
    spec = cron["spec"]
    assert len(spec["schedule"].split()) == 5
    assert spec["concurrencyPolicy"] == "Forbid"
    for key in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit", "startingDeadlineSeconds"):
        assert isinstance(spec[key], int) and spec[key] > 0, key
    job = spec["jobTemplate"]["spec"]
    assert isinstance(job["backoffLimit"], int) and 0 <= job["backoffLimit"] <= 5
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"  # required by podFailurePolicy
    (container,) = pod["containers"]
    assert container["name"] and container["image"]
    mounts = {m["name"] for m in container.get("volumeMounts", [])}
    assert mounts == {v["name"] for v in pod["volumes"]}


def test_cronjob_does_not_retry_the_sweeps_own_results(
    manifests: dict[str, dict[str, Any]],
) -> None:
    job = manifests["CronJob"]["spec"]["jobTemplate"]["spec"]
    (rule,) = job["podFailurePolicy"]["rules"]
    assert rule["action"] == "FailJob"
    assert rule["onExitCodes"]["containerName"] == "submit"
    assert set(rule["onExitCodes"]["values"]) == {
        cli.EXIT_SOME_FAILED,
        EXIT_USER_ERROR,
        cli.EXIT_ALL_FAILED,
        130,
    }  # EXIT_TRACKING_LOST (4) is retried: a resubmitted sweep resumes


def test_cronjob_submits_with_real_flags(manifests: dict[str, dict[str, Any]]) -> None:
    pod = manifests["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    args = ablate_args([*container.get("command", []), *container.get("args", [])])
    assert args.command == "submit" and args.follow
    assert (ROOT / args.sweep).is_file()  # the image carries this repo's search_spaces/
    assert re.match(r"^http://[a-z0-9-]+-head-svc(\.[a-z0-9.-]+)?:8265$", args.address)
    assert args.tracking_uri is None  # from the ConfigMap, through MLFLOW_TRACKING_URI
    assert args.storage.startswith("/")


def test_cronjob_env_comes_from_the_configmap_and_the_secret(
    manifests: dict[str, dict[str, Any]],
) -> None:
    config = manifests["ConfigMap"]
    pod = manifests["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    for name in env:
        assert name in ABLATE_ENV and _env_read_by_ablate(name), name
    assert "RAY_AUTH_TOKEN" not in env, "the token is mounted as a file"
    ref = env["MLFLOW_TRACKING_URI"]["valueFrom"]["configMapKeyRef"]
    assert ref["name"] == config["metadata"]["name"]
    assert config["data"][ref["key"]].startswith(("http://", "https://"))
    token_dir = Path(env["RAY_AUTH_TOKEN_PATH"]["value"]).parent
    (mount,) = [m for m in container["volumeMounts"] if Path(m["mountPath"]) == token_dir]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"]["secretName"]
    assert [i["path"] for i in volume["secret"]["items"]] == [
        Path(env["RAY_AUTH_TOKEN_PATH"]["value"]).name
    ]


def test_a_renamed_flag_would_fail() -> None:
    with pytest.raises(SystemExit):
        ablate_args(["ablate", "submit", "s.yaml", "--no-such-flag"])
