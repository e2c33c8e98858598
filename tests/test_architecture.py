"""The shape of the package: one-way layers, a light start, a built-ins name that cannot clash,
plugins through an entry point, and every extension point's built-ins through its registry.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter of this environment, from ``cwd``."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


# --- the layers ----------------------------------------------------------------------------------


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    return subprocess.run([exe, "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_the_layer_contracts_hold() -> None:
    done = _lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(
    ("extra", "broken"),
    [
        # foundations reaching up to the tracking store, inside a function
        ("errors.py", "def f():\n    from ablate.tracking import store\n"),
        # two siblings of one layer importing each other
        ("tracking/schema.py", "def f():\n    from ablate.tracking import tracker\n"),
    ],
    ids=["upward-import-in-a-function", "cycle-inside-a-layer"],
)
def test_the_layer_contracts_catch(tmp_path: Path, extra: str, broken: str) -> None:
    """The same contracts on a copy of the package with one bad import: CI would fail."""
    shutil.copytree(ROOT / "ablate", tmp_path / "ablate", ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with open(tmp_path / "ablate" / extra, "a", encoding="utf-8") as f:
        f.write("\n\n" + broken)
    done = _lint_imports(tmp_path)
    assert done.returncode != 0, done.stdout
    assert "BROKEN" in done.stdout


# --- a light start -------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["run"], ["nosuchcommand"]])
def test_help_and_argument_errors_import_neither_torch_nor_ray(
    tmp_path: Path, argv: list[str]
) -> None:
    done = _python(
        f"""
        import sys
        from ablate.cli import main
        try:
            main({argv!r})
        except SystemExit as exit:
            code = exit.code
        heavy = sorted(m for m in ("torch", "ray", "mlflow", "pandas") if m in sys.modules)
        print("HEAVY", heavy, "CODE", code, file=sys.stderr)
        """,
        tmp_path,
    )
    assert "HEAVY [] CODE" in done.stderr, done.stderr


def test_import_ablate_is_light_and_exports_load_on_use(tmp_path: Path) -> None:
    done = _python(
        """
        import sys
        import ablate
        assert "torch" not in sys.modules and "ray" not in sys.modules
        assert ablate.AblateError.__module__ == "ablate.errors"
        assert "torch" not in sys.modules
        assert ablate.BaseModel.__name__ == "BaseModel" and "torch" in sys.modules
        assert set(ablate.__all__) <= set(dir(ablate))
        print("ok")
        """,
        tmp_path,
    )
    assert done.stdout.strip() == "ok", done.stderr


# --- the built-ins' name -------------------------------------------------------------------------


def test_components_is_not_an_installed_name_and_builtins_register(tmp_path: Path) -> None:
    done = _python(
        """
        import importlib.util
        from ablate import BACKBONES, DATASETS, HEADS, LOSSES, NECKS
        assert importlib.util.find_spec("components") is None, "components is importable"
        assert "ResNet" in BACKBONES and "GlobalAveragePooling" in NECKS
        assert "LinearClsHead" in HEADS and "CrossEntropyLoss" in LOSSES and "Digits" in DATASETS
        assert BACKBONES.get("ResNet").__module__.startswith("ablate_components.")
        print("ok")
        """,
        tmp_path,
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_a_components_folder_in_the_working_directory_shadows_nothing(tmp_path: Path) -> None:
    """A user's own ``components/`` package (cwd is on ``sys.path``) used to hide the
    built-ins: "unknown backbone type 'ResNet'"."""
    (tmp_path / "components").mkdir()
    (tmp_path / "components" / "__init__.py").write_text("MINE = True\n")
    done = subprocess.run(
        [sys.executable, "-m", "ablate.cli", "components", "backbones"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "ResNet(" in done.stdout and "ResNet_CIFAR(" in done.stdout


def test_every_package_is_installed() -> None:
    """pyproject's explicit package list names every package of ablate/ and components/."""
    on_disk = set()
    for top, name in (("ablate", "ablate"), ("components", "ablate_components")):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top)
            on_disk.add(".".join([name, *rel.parts]))
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(setuptools["packages"]) == on_disk
    assert setuptools["package-dir"] == {"ablate_components": "components"}


# --- plugins -------------------------------------------------------------------------------------

PLUGIN = """
from torch import nn

from ablate import NECKS


@NECKS.register_module()
class ThirdPartyPooling(nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3))
"""


def test_a_third_party_package_registers_through_the_entry_point(tmp_path: Path) -> None:
    """An installed distribution declaring ``[ablate.components]`` is imported on the first
    lookup, with no custom_imports."""
    site = tmp_path / "site"
    (site / "thirdparty").mkdir(parents=True)
    (site / "thirdparty" / "__init__.py").write_text(PLUGIN)
    info = site / "thirdparty-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[ablate.components]\nthirdparty = thirdparty\n")
    code = """
        from ablate import NECKS
        from ablate.registry import plugin_modules
        assert "ThirdPartyPooling" in NECKS
        assert "GlobalAveragePooling" in NECKS  # the built-ins' entry point still loads
        print(sorted((p.module, p.dist) for p in plugin_modules()))
        """
    done = _python(code, tmp_path, PYTHONPATH=str(site))
    assert done.returncode == 0, done.stderr
    assert "('thirdparty', 'thirdparty')" in done.stdout
    assert "('ablate_components', 'ablate')" in done.stdout


def test_plugins_named_by_the_environment_load(tmp_path: Path) -> None:
    (tmp_path / "envplugin.py").write_text(PLUGIN)
    done = _python(
        "from ablate import NECKS; assert 'ThirdPartyPooling' in NECKS; print('ok')",
        tmp_path,
        PYTHONPATH=str(tmp_path),
        ABLATE_PLUGINS="envplugin",
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_a_plugin_that_cannot_be_imported_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ablate.cli", "components"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ABLATE_PLUGINS": "no_such_plugin"},
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: cannot import plugin 'no_such_plugin' (ABLATE_PLUGINS): No module named "
        "'no_such_plugin'; reinstall the package that declares it, or fix the module name"
    ]


# --- every extension point's built-ins, through its registry -------------------------------------


def test_the_cli_lists_every_component_kind() -> None:
    from ablate.cli import COMPONENT_KINDS
    from ablate.registry import REGISTRIES

    assert list(COMPONENT_KINDS) == list(REGISTRIES)


def test_a_report_imports_no_component_and_no_torch(tmp_path: Path) -> None:
    """The extension registries load their own entry-point group: a report builds no model."""
    done = _python(
        """
        import sys
        from ablate.report.sections import ordered_sections
        from ablate import SCHEDULERS, STRATEGIES
        assert len(ordered_sections()) == 9 and "asha" in SCHEDULERS and "optuna" in STRATEGIES
        print(sorted(m for m in ("torch", "ablate_components") if m in sys.modules))
        """,
        tmp_path,
    )
    assert done.stdout.strip() == "[]", done.stderr


def test_the_tune_driver_imports_no_torch(tmp_path: Path) -> None:
    """The driver names the trainable and ships the trial's context, and every trial process
    unpickles them: torch and the loop are ``ablate.run.training``'s, which a trial imports
    as it starts (the driver's torch comes with its dry builds only)."""
    done = _python(
        """
        import sys
        from ablate.run import driver, trial
        from ablate.run.context import TrialContext
        assert callable(trial.run_trial) and driver.TrialContext is TrialContext
        print("torch" in sys.modules, "ablate.train.loop" in sys.modules)
        """,
        tmp_path,
    )
    assert done.stdout.strip() == "False False", done.stderr


def test_extension_registries_list_their_builtins_in_order() -> None:
    from ablate import SCHEDULERS, SECTIONS, STRATEGIES
    from ablate.report.sections import ordered_sections

    assert list(STRATEGIES) == [
        "factorial",
        "one_at_a_time",
        "random",
        "optuna",
        "ablation_path",
    ]
    assert list(SCHEDULERS) == ["fifo", "asha"]
    assert [name for name, _ in ordered_sections()] == [
        "how_to_read",
        "leaderboard",
        "marginals",
        "interactions",
        "reference",
        "path",
        "importance",
        "curves",
        "failures",
    ]
    assert set(SECTIONS) == {name for name, _ in ordered_sections()}


def _builtins(registry_path: str) -> list[str]:
    module, _, name = registry_path.rpartition(".")
    registry = getattr(__import__(module, fromlist=[name]), name)
    return [n for n, cls in registry.items() if cls.__module__.startswith("ablate.")]


@pytest.mark.parametrize("name", _builtins("ablate.search.schedulers.SCHEDULERS"))
def test_every_scheduler_builds_its_tune_scheduler(name: str) -> None:
    from ray.tune.schedulers import TrialScheduler

    from ablate import SCHEDULERS
    from ablate.config import Config

    cls = SCHEDULERS.get(name)
    scheduler = cls.from_options(Config({}, "s.yaml"), "tune.scheduler", {})
    assert isinstance(scheduler.tune_scheduler(epochs=4), TrialScheduler)
    assert scheduler.stops_early is (name == "asha")


@pytest.mark.parametrize("name", _builtins("ablate.search.strategies.STRATEGIES"))
def test_every_strategy_plans_through_its_registry(name: str) -> None:
    import numpy as np

    from ablate import STRATEGIES
    from ablate.config import Config
    from ablate.search.space import parse_space
    from ablate.search.strategies import Planning
    from ablate.settings import TuneSettings

    cfg = Config(
        {
            "model": {"type": "ImageClassifier", "neck": {"type": "GlobalAveragePooling"}},
            "optimizer": {"type": "SGD", "lr": 0.1},
            "search": {
                "model.neck": [{"type": "GlobalAveragePooling"}, {"type": "Flatten"}],
                "optimizer.lr": [0.1, 0.01],
            },
        },
        "s.yaml",
    )
    space = parse_space(cfg)
    strategy = STRATEGIES.get(name)()
    tune = TuneSettings(
        strategy=name,
        num_samples=1 if strategy.levels_from_num_samples else 3,  # no continuous dims here
        baseline={"neck": "GlobalAveragePooling", "optimizer.lr": 0.1},
    )
    baseline = tune.baseline if strategy.varies_from_baseline else None
    target = {"neck": "Flatten", "optimizer.lr": 0.01} if strategy.rounds else None
    points = strategy.plan(
        Planning(cfg, space, tune, baseline, [], np.random.default_rng(0), target)
    )
    if strategy.proposes:
        assert points == [] and strategy.num_trials(tune, 0) == 3
        assert len(strategy.build_points(space, tune, points)) == 4
        assert strategy.searcher(space, tune) is not None
        return
    # a new one: add it (ablation_path plans the baseline, then round by round)
    expected = {"factorial": 4, "one_at_a_time": 3, "random": 3, "ablation_path": 1}[name]
    assert len(points) == expected and strategy.searcher(space, tune) is None
    neck = next(d for d in space.all_dims() if d.label == "neck")
    assert all(neck.contains(p["neck"]) for p in points)
