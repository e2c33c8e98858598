"""The cluster commands without a cluster: the tracking rule, addresses, token mode, what ships."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from ablate.app import cluster as app_cluster
from ablate.app.options import SweepOptions
from ablate.cli import build_parser
from ablate.config import load_config
from ablate.errors import AblateError
from ablate.plan import make_plan
from ablate.run import session
from ablate.run.cluster import jobs, ship

SECRET = "s3cr3t-token-value-0123456789abcdef"


@pytest.mark.parametrize(
    "uri", [None, "sqlite:///mlflow.db", "sqlite:////abs/x.db", "file:./mlruns", "mlruns", "/a/b"]
)
def test_local_stores_are_refused_for_a_cluster(uri: str | None) -> None:
    with pytest.raises(AblateError) as err:
        app_cluster.require_server_store(uri, "a Ray Job")
    text = str(err.value)
    assert "http(s)://HOST:PORT" in text and "head node" in text and "\n" not in text


def test_a_server_store_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    assert app_cluster.require_server_store("http://mlflow:5000", "x") == "http://mlflow:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://mlflow.example")
    assert app_cluster.require_server_store(None, "x") == "https://mlflow.example"


def test_a_password_in_the_uri_is_refused_and_not_repeated() -> None:
    with pytest.raises(AblateError) as err:
        app_cluster.require_server_store("https://me:hunter2@mlflow:5000", "x")
    assert "hunter2" not in str(err.value) and "MLFLOW_TRACKING_PASSWORD" in str(err.value)


def test_client_address(monkeypatch: pytest.MonkeyPatch) -> None:
    assert session.client_address(None) is None
    assert session.client_address("auto") is None
    assert session.client_address("ray://h:10001") == "ray://h:10001"
    monkeypatch.setenv("RAY_ADDRESS", "ray://env:10001")
    assert session.client_address(None) == "ray://env:10001"
    assert session.client_address("10.0.0.1:6379") is None


def test_jobs_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_API_SERVER_ADDRESS", raising=False)
    with pytest.raises(AblateError, match="no cluster address"):
        jobs.jobs_address(None)
    with pytest.raises(AblateError, match="Ray Client address"):
        jobs.jobs_address("ray://h:10001")
    monkeypatch.setenv("RAY_ADDRESS", "ray://h:10001")  # not a Jobs address: not used
    with pytest.raises(AblateError, match="no cluster address"):
        jobs.jobs_address(None)
    monkeypatch.setenv("RAY_ADDRESS", "http://h:8265")
    assert jobs.jobs_address(None) == "http://h:8265"
    monkeypatch.setenv("RAY_API_SERVER_ADDRESS", "http://api:8265")
    assert jobs.jobs_address(None) == "http://api:8265"
    assert jobs.jobs_address("http://given:8265") == "http://given:8265"


@pytest.fixture
def no_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for var in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.setenv(var, "")  # so that the delenv below is undone after the test
        monkeypatch.delenv(var)
    monkeypatch.setattr(session, "DEFAULT_TOKEN_FILE", tmp_path / "none" / "auth_token")
    monkeypatch.setattr(session, "_reread_ray_config", lambda: None)  # this process's Ray
    return monkeypatch


def test_token_mode_follows_a_token(no_token: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    assert session.enable_token_auth() is False and "RAY_AUTH_MODE" not in os.environ
    no_token.setenv("RAY_AUTH_TOKEN", SECRET)
    assert session.enable_token_auth() is True and os.environ["RAY_AUTH_MODE"] == "token"


def test_token_mode_from_a_token_file(no_token: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    token = tmp_path / "home" / ".ray" / "auth_token"
    token.parent.mkdir(parents=True)
    token.write_text(SECRET)
    no_token.setattr(session, "DEFAULT_TOKEN_FILE", token)
    assert session.enable_token_auth() is True and os.environ["RAY_AUTH_MODE"] == "token"


def test_an_explicit_mode_is_left_alone(no_token: pytest.MonkeyPatch) -> None:
    import os

    no_token.setenv("RAY_AUTH_MODE", "disabled")
    no_token.setenv("RAY_AUTH_TOKEN", SECRET)
    assert session.enable_token_auth() is False and os.environ["RAY_AUTH_MODE"] == "disabled"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def sweep_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, root: Path) -> Iterator[Any]:
    """A sweep with a relative _base_, an override, a single-file and a package plugin."""
    plugins = tmp_path / "plugins"
    _write(
        plugins / "one_file_plugin.py",
        """
        from ablate import NECKS
        from ablate_components.necks.pooling import GlobalAveragePooling

        @NECKS.register_module()
        class OneFilePooling(GlobalAveragePooling):
            pass
        """,
    )
    _write(plugins / "pkg_plugin" / "__init__.py", "from pkg_plugin import sub  # noqa: F401\n")
    _write(
        plugins / "pkg_plugin" / "sub.py",
        """
        from ablate import NECKS
        from ablate_components.necks.pooling import GlobalAveragePooling

        @NECKS.register_module()
        class PackagePooling(GlobalAveragePooling):
            pass
        """,
    )
    monkeypatch.syspath_prepend(str(plugins))
    _write(tmp_path / "cfg" / "base.yaml", f"_base_: {root / 'configs' / 'digits_resnet.yaml'}\n")
    sweep = _write(
        tmp_path / "cfg" / "sweep.yaml",
        """
        name: shipped
        _base_: base.yaml
        custom_imports: {imports: [one_file_plugin, pkg_plugin.sub, yaml]}
        search:
          model.neck: [{type: OneFilePooling}, {type: PackagePooling}]
          seeds: [0, 1]
        """,
    )
    yield make_plan(load_config(sweep, ["train.epochs=3"]))
    for name in ("one_file_plugin", "pkg_plugin", "pkg_plugin.sub"):
        sys.modules.pop(name, None)
    from ablate.registry import NECKS

    for name in ("OneFilePooling", "PackagePooling"):
        NECKS._table.pop(name, None)


def test_shipped_code(sweep_plan: object, tmp_path: Path, root: Path) -> None:
    shipped = ship.shipped_code(sweep_plan.imports)  # type: ignore[attr-defined]
    assert shipped.packages == {
        "ablate": str(root / "ablate"),
        "ablate_components": str(root / "components"),  # the editable install's folder
        "pkg_plugin": str(tmp_path / "plugins" / "pkg_plugin"),
    }  # yaml is an installed package: the cluster has its own
    assert shipped.files == [str(tmp_path / "plugins" / "one_file_plugin.py")]
    assert shipped.plugins == ["ablate_components"]


def test_stage_ships_the_merged_sweep_and_no_environment(
    sweep_plan: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAY_AUTH_TOKEN", SECRET)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", SECRET)
    where, env = ship.stage(sweep_plan)
    work = where / "work"
    assert sorted(p.name for p in work.iterdir()) == ["one_file_plugin.py", "shipped.yaml"]
    assert env["working_dir"] == str(work)
    # Ray ships a py_modules directory under its own name: each is named as it is imported.
    assert [Path(p).name for p in env["py_modules"]] == [
        "ablate",
        "ablate_components",
        "pkg_plugin",
    ]
    assert (Path(env["py_modules"][1]) / "backbones" / "resnet.py").is_file()
    assert not list(Path(env["py_modules"][1]).rglob("__pycache__"))
    assert env["env_vars"] == {
        "RAY_CHDIR_TO_TRIAL_DIR": "0",
        "PYTHONUNBUFFERED": "1",
        "ABLATE_PLUGINS": "ablate_components",  # no package metadata may ship with the code
    }
    assert SECRET not in repr(env) and SECRET not in (work / "shipped.yaml").read_text()
    staged = yaml.safe_load((work / "shipped.yaml").read_text())
    assert "_base_" not in staged and staged["name"] == "shipped"
    assert staged["train"]["epochs"] == 3  # the override is applied
    assert staged["model"]["backbone"]["type"] == "ResNet_CIFAR"  # the base is resolved
    again = load_config(work / "shipped.yaml")  # loads on its own, as the cluster loads it
    assert again.data == {**sweep_plan.cfg.data, "name": "shipped"}  # type: ignore[attr-defined]


def test_storage_on_the_cluster(sweep_plan: object) -> None:
    args = SweepOptions("s.yaml")
    argv = app_cluster.run_argv("s.yaml", sweep_plan.name, "http://m:5000", args)
    assert argv == [
        *("run", "s.yaml", "--name", "shipped", "--tracking-uri", "http://m:5000"),
        *("--storage", "/tmp/ablate"),
    ]
    args = SweepOptions("s.yaml", storage="relative/dir", max_concurrent=2)
    with pytest.raises(AblateError, match="absolute"):
        app_cluster.run_argv("s.yaml", sweep_plan.name, "http://m", args)
    args = SweepOptions("s.yaml", storage="/nfs/ablate", max_concurrent=2)
    argv = app_cluster.run_argv("s.yaml", sweep_plan.name, "http://m", args)
    assert argv[-4:] == ["--storage", "/nfs/ablate", "--max-concurrent", "2"]
    args = SweepOptions("s.yaml", rerun_all=True)
    argv = app_cluster.run_argv("s.yaml", sweep_plan.name, "http://m", args)
    assert argv[-1] == "--rerun-all"
    # What the cluster runs parses as `ablate run`.
    parsed = build_parser().parse_args(argv)
    assert (parsed.command, parsed.rerun_all, parsed.storage) == ("run", True, "/tmp/ablate")


@pytest.mark.parametrize(
    ("status", "driver", "code"),
    [
        ("SUCCEEDED", 0, 0),
        ("FAILED", 1, 1),  # some trials failed
        ("FAILED", 3, 3),  # every trial failed
        ("FAILED", 2, 2),  # bad input, found on the cluster
        ("FAILED", None, 1),  # the job never ran its entrypoint
        ("STOPPED", None, 130),
        ("RUNNING", None, 0),
    ],
)
def test_job_exit_code(status: str, driver: int | None, code: int) -> None:
    info = SimpleNamespace(status=SimpleNamespace(value=status), driver_exit_code=driver)
    assert jobs.job_exit_code(info) == code


def test_cluster_commands_parse() -> None:
    parser = build_parser()
    a = parser.parse_args(["submit", "s.yaml", "a=1", "--address", "http://h:8265", "--follow"])
    assert (a.sweep, a.overrides, a.address, a.follow) == ("s.yaml", ["a=1"], "http://h:8265", True)
    a = parser.parse_args(["submit", "s.yaml", "--rerun-changed-code"])
    assert a.rerun_changed_code and not a.rerun_all
    a = parser.parse_args(["status", "JOB", "--wait"])
    assert (a.job, a.wait) == ("JOB", True)
    a = parser.parse_args(["logs", "JOB", "--follow", "--address", "http://h:8265"])
    assert (a.job, a.follow) == ("JOB", True)


def _job(sid: str, start: int, sweep: str = "s", terminal: bool = False) -> SimpleNamespace:
    status = SimpleNamespace(is_terminal=lambda: terminal, value="RUNNING")
    return SimpleNamespace(
        submission_id=sid, start_time=start, metadata={jobs.SWEEP_META: sweep}, status=status
    )


@pytest.mark.parametrize(
    ("listed", "mine", "first"),
    [
        ([_job("b", 2), _job("a", 1)], "b", "a"),  # raced, and lost: the earlier one
        ([_job("b", 2), _job("a", 1)], "a", None),  # raced, and won
        ([_job("a", 1), _job("b", 1)], "b", "a"),  # the same millisecond: by id
        ([_job("a", 1, terminal=True), _job("b", 2)], "b", None),  # the other had ended
        ([_job("a", 1, sweep="other"), _job("b", 2)], "b", None),  # another sweep
    ],
    ids=["lost", "won", "tie", "ended", "other-sweep"],
)
def test_of_two_racing_submits_the_later_yields(
    listed: list[SimpleNamespace], mine: str, first: str | None
) -> None:
    client = SimpleNamespace(list_jobs=lambda: listed)
    found = jobs.first_of_sweep(client, "s", mine)
    assert (found.submission_id if found is not None else None) == first


def test_a_driver_leaves_rays_working_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ray_dir = tmp_path / "session_x" / "runtime_resources" / "working_dir_files" / "_ray_pkg_1"
    ray_dir.mkdir(parents=True)
    root = tmp_path / "storage"
    monkeypatch.chdir(tmp_path)
    assert not session.leave_ray_working_dir(str(root))  # an ordinary directory: stays
    monkeypatch.chdir(ray_dir)
    assert session.leave_ray_working_dir(str(root)) and Path.cwd() == root
    # Ray replaced the directory under a process standing in it: getcwd() fails; it moves.
    monkeypatch.chdir(ray_dir)
    ray_dir.rmdir()
    ray_dir.mkdir()
    assert session.leave_ray_working_dir(str(root)) and Path.cwd() == root
