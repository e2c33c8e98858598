"""``ablate run``'s dry builds in a forked child (:mod:`ablate.app.prebuild`): the same
answer as building in the driver, mistake for mistake, and the driver builds nothing.

Each forked case runs in a fresh interpreter (a fork needs a process of one thread, which a
test session need not be); the in-process answer it is compared with is
:func:`ablate.train.check.check_builds` itself.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import NamedTuple

import pytest
from test_bad_input_many import BASE, SEARCH  # one small base config for these tests

from ablate.app.options import SweepOptions
from ablate.app.sweep import statically_checked
from ablate.errors import AblateError, AblateErrors

ROOT = Path(__file__).resolve().parents[1]


class Case(NamedTuple):
    body: str
    error: type[AblateError] | None  # what check_builds raises, None: it builds


CASES = {
    "builds": Case(SEARCH, None),
    # A mistake only the build finds (the data has one channel), once per combination.
    "every-combination-fails": Case(
        "model:\n  backbone: {in_channels: 3}\n" + SEARCH, AblateErrors
    ),
    # One combination of two fails.
    "one-combination-fails": Case(
        "search:\n  model.neck: [{type: GlobalAveragePooling}, {type: Flatten}]\n"
        "  model.head.in_channels: [32]\n",
        AblateErrors,
    ),
    # A static mistake and a build mistake together, in one answer.
    "static-and-built": Case(
        "model:\n  backbone: {in_channels: 3}\n  head: {num_clases: 10}\n" + SEARCH, AblateErrors
    ),
    # The metric no combination reports: one AblateError, located at tune.metric.
    "no-such-metric": Case("tune: {metric: val/top7}\n" + SEARCH, AblateError),
}

CHILD = textwrap.dedent(
    """
    import json, os, pickle, signal, sys
    from ablate.app.options import SweepOptions
    from ablate.app.prebuild import Prebuild
    from ablate.app.sweep import statically_checked
    from ablate.errors import AblateError
    plan = statically_checked(SweepOptions(sweep="sweep.yaml"))
    builds = Prebuild.start(plan)
    forked = builds.pid != 0
    if forked and os.environ.get("KILL_THE_CHILD"):
        os.kill(builds.pid, signal.SIGKILL)  # it dies without an answer
    try:
        builds.result()
        error = None
    except AblateError as err:
        error = err
    try:
        os.waitpid(-1, os.WNOHANG)
        reaped = False  # a child is left
    except ChildProcessError:
        reaped = True
    sys.stdout.buffer.write(pickle.dumps({
        "forked": forked, "error": error, "mode": plan.tune.mode, "reaped": reaped,
        "built_here": "ablate.train.check" in sys.modules,
    }))
    """
)


def _forked(where: Path, env: dict[str, str] | None = None) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        cwd=where,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return pickle.loads(done.stdout)


@pytest.mark.parametrize("case", [pytest.param(c, id=k) for k, c in CASES.items()])
def test_a_forked_build_answers_as_the_driver_would(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ablate.train.check import check_builds

    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "sweep.yaml").write_text("_base_: base.yaml\n" + case.body)
    monkeypatch.chdir(tmp_path)
    plan = statically_checked(SweepOptions(sweep="sweep.yaml"))
    expected: AblateError | None = None
    try:
        check_builds(plan)
    except AblateError as err:
        expected = err
    assert type(expected) is (case.error or type(None))

    got = _forked(tmp_path)
    assert got["forked"] and got["reaped"]
    assert not got["built_here"], "the driver built too: the child's answer was not used"
    assert got["mode"] == plan.tune.mode  # resolved by the build, brought back
    if expected is None:
        assert got["error"] is None
        return
    err = got["error"]
    assert type(err) is type(expected)
    assert str(err) == str(expected)
    assert (err.file, err.key, err.hint) == (expected.file, expected.key, expected.hint)
    assert getattr(err, "problems", None) == getattr(expected, "problems", None)


def test_a_child_that_dies_without_an_answer_leaves_the_build_to_the_driver(
    tmp_path: Path,
) -> None:
    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "sweep.yaml").write_text(
        "_base_: base.yaml\nmodel:\n  backbone: {in_channels: 3}\n" + SEARCH
    )
    got = _forked(tmp_path, {"KILL_THE_CHILD": "1"})
    assert got["forked"] and got["built_here"] and got["reaped"]
    assert isinstance(got["error"], AblateErrors)
    assert all("3 channels" in line for line in got["error"].problems)


def test_the_mode_the_child_resolved_becomes_the_plans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ablate.app import prebuild

    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "sweep.yaml").write_text("_base_: base.yaml\n" + SEARCH)
    monkeypatch.chdir(tmp_path)
    plan = statically_checked(SweepOptions(sweep="sweep.yaml"))
    builds = prebuild.Prebuild(plan)
    flipped = "min" if plan.tune.mode == "max" else "max"
    answer = prebuild._Outcome(ok=True, mode=flipped)
    monkeypatch.setattr(builds, "_wait", lambda: answer)
    builds.result()
    assert plan.tune.mode == flipped


def test_without_the_fork_the_driver_builds_itself(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "sweep.yaml").write_text(
        "_base_: base.yaml\nmodel:\n  backbone: {in_channels: 3}\n" + SEARCH
    )
    got = _forked(tmp_path, {"ABLATE_FORK_BUILDS": "0"})
    assert not got["forked"] and got["built_here"]
    assert all("3 channels" in line for line in got["error"].problems)


@pytest.mark.parametrize(
    "err",
    [
        AblateError("bad", file="a.yaml", key="model.x", hint="fix it"),
        AblateErrors("2 problems; nothing ran", ["one", "two"], file="a.yaml"),
    ],
    ids=["one", "several"],
)
def test_a_user_error_pickles_whole(err: AblateError) -> None:
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err) and str(back) == str(err) and back.args == err.args
    assert back.__dict__ == err.__dict__
    json.dumps(back.__dict__)  # plain data only
