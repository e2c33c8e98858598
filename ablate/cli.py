"""The ``ablate`` command line.

Exit codes:
    0  success
    1  the sweep ran, but some trials failed (``run``)
    2  bad input: a config, search space, argument or environment mistake; nothing started
    3  every trial failed (``run``)
    4  the tracking store stopped answering mid-sweep (``run``); run it again to resume
  130  interrupted
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from ablate.errors import EXIT_USER_ERROR, AblateError

EXIT_SOME_FAILED = 1
EXIT_ALL_FAILED = 3
EXIT_TRACKING_LOST = 4


def _cmd_train(args: argparse.Namespace) -> int:
    from ablate.config import load_config
    from ablate.loop import Runtime, train

    cfg = load_config(args.config, args.overrides)

    class Printer(Runtime):
        def report(self, metrics, images, state):  # type: ignore[no-untyped-def]
            if not args.json:
                shown = "  ".join(f"{k}={v:.4g}" for k, v in metrics.items() if k != "epoch")
                print(f"epoch {int(metrics['epoch'])}  {shown}", flush=True)

    final = train(cfg, Printer())
    if args.json:
        print(json.dumps(final, sort_keys=True))
    return 0


def _load_plan(args: argparse.Namespace) -> Any:
    from ablate.config import load_config
    from ablate.plan import make_plan

    cfg = load_config(args.sweep, args.overrides)
    plan = make_plan(cfg, getattr(args, "name", None))
    at_once = getattr(args, "max_concurrent", None)
    if at_once is not None and at_once < 1:
        raise AblateError(
            f"expected at least 1 trial at once, got {at_once}",
            file="<command line>",
            key="--max-concurrent",
        )
    return plan


def _check_builds(plan: Any) -> list[Any]:
    """Dry-build every combination; incompatible ones are listed together, then exit 2."""
    from ablate.plan import check_metric, dry_build

    builds = dry_build(plan)
    bad = [b for b in builds if b.error]
    if bad:
        from ablate.space import describe_point

        for b in bad:
            print(f"error: [{describe_point(b.point)}] {b.error}", file=sys.stderr)
        raise AblateError(
            f"{len(bad)} of {len(builds)} model combinations do not build",
            file=plan.cfg.file,
            key="search",
        )
    problem = check_metric(plan, builds)
    if problem:
        raise plan.cfg.error(problem, "tune.metric")
    return builds


def _cmd_plan(args: argparse.Namespace) -> int:
    from ablate.console import plan_text
    from ablate.plan import check_fits, local_nodes

    plan = _load_plan(args)
    builds = _check_builds(plan)
    if args.address:
        from ablate.sweep import cluster_nodes, connect

        connect(args.address)
        fits: int | None = check_fits(plan, cluster_nodes(), args.max_concurrent)
        note = f"cluster at {args.address}"
    else:
        nodes = local_nodes()
        try:
            fits = check_fits(plan, nodes, args.max_concurrent)
            note = f"this machine: {nodes[0]['CPU']:g} CPU, {nodes[0]['GPU']:g} GPU"
        except AblateError as err:
            fits, note = (
                None,
                f"does not fit on this machine ({err.message}); give --address to check a cluster",
            )
    print(plan_text(plan, fits, note, builds))
    print(_plan_skips(plan, args))
    return 0


def _plan_skips(plan: Any, args: argparse.Namespace) -> str:
    """What ``ablate run`` would skip, from the tracking store, without creating one."""
    from ablate.tracking import open_store, shown, sqlite_file, tracking_uri

    uri = tracking_uri(args.tracking_uri)
    db = sqlite_file(uri)
    if db is not None and not db.exists():
        return (
            f"  incremental: no tracking store at {db} yet: all {len(plan.trials)} trials would run"
        )
    try:
        store = open_store(uri)
    except AblateError as err:
        return f"  incremental: cannot read {shown(uri)} ({err.message}): cannot tell what would be skipped"
    import io
    from contextlib import redirect_stdout

    with redirect_stdout(io.StringIO()):
        left = _incremental(
            plan, store, argparse.Namespace(**{**vars(args), "storage": None}), dry=True
        )
    skipped = len(plan.trials) - len(left.trials)
    return f"  incremental: {len(left.trials)} trials would run, {skipped} already finished in {shown(uri)} would be skipped"


def _cmd_run(args: argparse.Namespace) -> int:
    from ablate.cluster import client_address

    if client_address(args.address):  # ray://: the driver runs on the cluster (ablate.cluster)
        from ablate.cluster import run_on_cluster

        return run_on_cluster(args)
    from ablate.console import results_table
    from ablate.sweep import FAILED, run_sweep
    from ablate.tracking import SweepTracker, open_store

    plan = _load_plan(args)
    _check_builds(plan)
    if not (args.address or os.environ.get("RAY_ADDRESS")):
        from ablate.plan import check_fits, local_nodes

        # A trial that can never fit on this machine is exit 2 before Ray or the store start.
        check_fits(plan, local_nodes(), args.max_concurrent)
    # The store must answer before Ray starts: an unreachable one is exit 2, nothing ran.
    from ablate.sweep import experiment_root, tune_experiment

    store = open_store(args.tracking_uri)
    plan = _incremental(plan, store, args)
    if not plan.trials and plan.tune.strategy != "optuna":
        return _nothing_new(plan, store, args)
    root = experiment_root(args.storage)
    experiment = tune_experiment(root, plan)
    tracker = SweepTracker(
        store,
        plan,
        command=_command_line(),
        tune_experiment=os.path.join(experiment[0], experiment[1]),
    )
    tracker.start()
    try:
        outcome = run_sweep(
            plan,
            address=args.address,
            max_concurrent=args.max_concurrent,
            storage=args.storage,
            callbacks=[tracker.callback()],
            experiment=experiment,
        )
    except BaseException as err:
        tracker.abort(interrupted=isinstance(err, KeyboardInterrupt))
        if tracker.lost is not None:
            raise TrackingLost(tracker.lost) from None
        raise
    print()
    print(results_table(outcome.trials, plan.tune.metric, plan.tune.mode))
    failed = [t for t in outcome.trials if t.status == FAILED]
    for t in failed:
        print(
            f"failed: {t.name} [{', '.join(f'{k}={v}' for k, v in t.point.items())}]: {t.error}",
            file=sys.stderr,
        )
    print(
        f"{len(outcome.trials) - len(failed)} of {len(outcome.trials)} trials finished in {outcome.wall_s:.0f}s"
    )
    from ablate.tracking import TrackingError

    try:
        out = _sweep_report(tracker.store, plan.name, args.reports)
        tracker.finish({"total": len(outcome.trials), "failed": len(failed)}, out)
    except TrackingError as err:
        raise TrackingLost(err) from None
    print(f"mlflow: {tracker.where()}")
    if failed and len(failed) == len(outcome.trials):
        return EXIT_ALL_FAILED
    return EXIT_SOME_FAILED if failed else 0


def _command_line() -> str:
    """The command as typed, less any password in a URI (it is recorded in MLflow)."""
    from ablate.tracking import shown

    return " ".join(shown(a) if "://" in a else a for a in sys.argv)


def _incremental(plan: Any, store: Any, args: argparse.Namespace, dry: bool = False) -> Any:
    """The plan less the (cell, seed) pairs that already FINISHED in the tracking store.

    ``--rerun-all`` keeps every trial; ``--rerun-changed-code`` keeps the finished ones whose
    run recorded another code fingerprint. A finished trial that runs again trains afresh.
    """
    import dataclasses
    import shutil
    from pathlib import Path

    from ablate.fingerprint import code_fingerprint
    from ablate.sweep import experiment_root
    from ablate.tracking.history import finished_pairs

    code = code_fingerprint(plan.imports) if getattr(args, "rerun_changed_code", False) else None
    done = set() if getattr(args, "rerun_all", False) else finished_pairs(store, plan.name, code)
    keep = [t for t in plan.trials if (t.cell, t.seed) not in done]
    skipped = len(plan.trials) - len(keep)
    if skipped:
        print(f"skipping {skipped} of {len(plan.trials)} trials already finished in MLflow")
    rerun = finished_pairs(store, plan.name) & {(t.cell, t.seed) for t in keep}
    if rerun and not dry:  # a finished checkpoint would only re-report, not train again
        ckpts = Path(experiment_root(args.storage)) / plan.name / "checkpoints"
        for cell, seed in rerun:
            shutil.rmtree(ckpts / f"{cell}-s{seed}", ignore_errors=True)
    return dataclasses.replace(plan, trials=keep)


def _nothing_new(plan: Any, store: Any, args: argparse.Namespace) -> int:
    """Every trial already finished: record the invocation and refresh the report."""
    from ablate.tracking import SweepTracker

    print(
        f"nothing new to run: every trial of '{plan.name}' already finished (--rerun-all runs them again)"
    )
    tracker = SweepTracker(store, plan, command=_command_line())
    tracker.start()
    out = _sweep_report(store, plan.name, args.reports)
    tracker.finish({"total": 0, "failed": 0}, out)
    return 0


class TrackingLost(AblateError):
    """The tracking store stopped answering mid-sweep (exit 4; the sweep resumes)."""

    def __init__(self, err: AblateError) -> None:
        super().__init__(err.message, hint=err.hint)


def _sweep_report(store: Any, name: str, out_root: str) -> Any:
    """Write the sweep's report from MLflow alone; returns its directory."""
    from pathlib import Path

    from ablate.report.mlflow_source import write_sweep_report

    paths = write_sweep_report(store, name, out_root)
    print(f"report: {paths['html']} ({paths['md'].name}, {paths['csv'].name})")
    return Path(paths["md"]).parent


def _cmd_report(args: argparse.Namespace) -> int:
    from ablate.tracking import open_store

    _sweep_report(open_store(args.tracking_uri), args.name, args.out)
    return 0


def _cmd_ui(args: argparse.Namespace) -> int:
    from ablate.tracking import is_server, shown, sqlite_file, tracking_uri

    uri = tracking_uri(args.tracking_uri)
    if is_server(uri):
        print(f"{shown(uri)} is an MLflow server and serves its own UI: open it in a browser")
        return 0
    db = sqlite_file(uri)
    if db is not None and not db.is_file():
        raise AblateError(
            f"no tracking store at {db} yet",
            hint="run a sweep here first, or pass --tracking-uri",
        )
    print(f"MLflow UI on {shown(uri)}: http://127.0.0.1:{args.port} (Ctrl-C stops it)", flush=True)
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri]
    cmd += ["--host", "127.0.0.1", "--port", str(args.port), "--workers", "1"]
    # Become the server: Ctrl-C and a terminate reach it, and no orphan keeps the port.
    os.execv(sys.executable, cmd)
    return 0  # not reached


def _cmd_cluster(args: argparse.Namespace) -> int:
    """``submit``, ``status`` and ``logs``: Ray Jobs, in :mod:`ablate.cluster`."""
    from ablate import cluster

    return int(getattr(cluster, args.command)(args))


def _cmd_components(args: argparse.Namespace) -> int:
    from ablate.registry import REGISTRIES

    kinds = [args.kind] if args.kind else list(REGISTRIES)
    for kind in kinds:
        registry = REGISTRIES[kind]
        print(f"{kind}:")
        for name, _ in registry.items():
            print(f"  {registry.describe(name)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ablate",
        description="Component ablations and hyperparameter search for PyTorch models.",
        epilog="exit codes: 0 ok, 1 some trials failed, 2 bad input (nothing started), 3 all trials failed",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train one config locally")
    p.add_argument("config", help="a training config YAML")
    p.add_argument("overrides", nargs="*", metavar="key.path=value", help="config overrides")
    p.add_argument("--json", action="store_true", help="print the final metrics as one JSON line")
    p.set_defaults(func=_cmd_train)

    def sweep_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("sweep", help="a sweep YAML (a training config plus search/tune/scaling)")
        p.add_argument("overrides", nargs="*", metavar="key.path=value", help="config overrides")
        p.add_argument(
            "--address",
            default=None,
            help="Ray cluster address (default: RAY_ADDRESS, else a local Ray)",
        )
        p.add_argument(
            "--max-concurrent", type=int, default=None, help="at most this many trials at once"
        )

    def tracking_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--tracking-uri",
            default=None,
            help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here)",
        )

    def rerun_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--rerun-all",
            action="store_true",
            help="run every trial, even the (cell, seed) pairs that already finished",
        )
        p.add_argument(
            "--rerun-changed-code",
            action="store_true",
            help="also run finished trials whose code (ablate, components, custom_imports) changed",
        )

    p = sub.add_parser(
        "plan", help="show what a sweep would run and build every model combination; starts nothing"
    )
    sweep_args(p)
    p.add_argument(
        "--tracking-uri",
        default=None,
        help="read finished trials from this store (default: MLFLOW_TRACKING_URI, else ./mlflow.db)",
    )
    rerun_args(p)
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser("run", help="run (or resume) a sweep on Ray Tune")
    sweep_args(p)
    p.add_argument(
        "--name", default=None, help="sweep name (default: the file's name:, else its stem)"
    )
    p.add_argument(
        "--storage",
        default=None,
        help="where Ray Tune keeps trial state (default: ./.ablate/ray; with a ray:// address, "
        "/tmp/ablate on the cluster's head)",
    )
    tracking_arg(p)
    p.add_argument(
        "--reports", default="reports", help="where the report is written (default: reports/)"
    )
    rerun_args(p)
    p.set_defaults(func=_cmd_run)

    def jobs_address(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--address",
            default=None,
            help="the cluster's Jobs API, http://HOST:8265 (default: RAY_API_SERVER_ADDRESS)",
        )

    p = sub.add_parser("submit", help="submit a sweep to a Ray cluster as a Ray Job")
    p.add_argument("sweep", help="a sweep YAML (a training config plus search/tune/scaling)")
    p.add_argument("overrides", nargs="*", metavar="key.path=value", help="config overrides")
    jobs_address(p)
    p.add_argument(
        "--name", default=None, help="sweep name (default: the file's name:, else its stem)"
    )
    p.add_argument(
        "--tracking-uri",
        default=None,
        help="an MLflow server the cluster can reach, http(s)://HOST:PORT "
        "(default: MLFLOW_TRACKING_URI)",
    )
    p.add_argument(
        "--storage",
        default=None,
        help="trial state on the cluster: an absolute path every node mounts "
        "(default: /tmp/ablate on the head)",
    )
    p.add_argument(
        "--max-concurrent", type=int, default=None, help="at most this many trials at once"
    )
    rerun_args(p)
    p.add_argument(
        "--follow", action="store_true", help="stream the job's output and exit with its result"
    )
    p.set_defaults(func=_cmd_cluster)

    p = sub.add_parser("status", help="a submitted sweep's state (exit code: its result)")
    p.add_argument("job", help="the job id ablate submit printed")
    jobs_address(p)
    p.add_argument("--wait", action="store_true", help="wait until the job has ended")
    p.add_argument("--poll", type=float, default=2.0, help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_cluster)

    p = sub.add_parser("logs", help="a submitted sweep's output")
    p.add_argument("job", help="the job id ablate submit printed")
    jobs_address(p)
    p.add_argument("--follow", action="store_true", help="keep streaming until the job ends")
    p.set_defaults(func=_cmd_cluster)

    p = sub.add_parser(
        "report", help="regenerate a sweep's report from the tracking store alone (no Ray)"
    )
    p.add_argument("name", help="the sweep's name (its MLflow experiment)")
    tracking_arg(p)
    p.add_argument("--out", default="reports", help="report root; files go to OUT/NAME/")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("ui", help="start MLflow's UI on the tracking store (127.0.0.1)")
    tracking_arg(p)
    p.add_argument("--port", type=int, default=5000, help="port to serve on (default: 5000)")
    p.set_defaults(func=_cmd_ui)

    p = sub.add_parser("components", help="list registered components and their arguments")
    p.add_argument(
        "kind", nargs="?", choices=["backbones", "necks", "heads", "losses", "datasets", "models"]
    )
    p.set_defaults(func=_cmd_components)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except TrackingLost as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_TRACKING_LOST
    except AblateError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
