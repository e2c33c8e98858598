"""The ``ablate`` command line: argparse only. Each command parses its arguments into the
typed options of a use case (:mod:`ablate.app`) and calls it, importing it only then, so
``ablate --help`` and a mistyped argument import neither torch nor Ray.

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
import gc
import sys
from collections.abc import Sequence
from typing import Any

from ablate import timeline
from ablate.errors import ExitCode

#: ``ablate components KIND``: kept here, so that ``--help`` imports no registry.
COMPONENT_KINDS = (
    "backbones",
    "necks",
    "heads",
    "losses",
    "datasets",
    "models",
    "metrics",
    "samplers",
)
EXIT_SOME_FAILED, EXIT_ALL_FAILED = ExitCode.SOME_FAILED, ExitCode.ALL_FAILED
EXIT_TRACKING_LOST = ExitCode.TRACKING_LOST


def _sweep_options(args: argparse.Namespace) -> Any:
    """The parsed arguments as :class:`~ablate.app.options.SweepOptions`."""
    from ablate.app.options import SweepOptions
    from ablate.app.sweep import command_line

    fields = set(SweepOptions.__dataclass_fields__) - {"command"}  # argparse: the subcommand
    given = {k: v for k, v in vars(args).items() if k in fields}
    given["overrides"] = tuple(args.overrides)
    return SweepOptions(**given, command=command_line())


def _job_options(args: argparse.Namespace) -> Any:
    from ablate.app.options import JobOptions

    return JobOptions(
        job=args.job,
        address=args.address,
        wait=getattr(args, "wait", False),
        follow=getattr(args, "follow", False),
        poll_s=getattr(args, "poll", 2.0),
    )


def _cmd_train(args: argparse.Namespace) -> int:
    from ablate.app.local import train_config
    from ablate.app.options import TrainOptions

    return train_config(TrainOptions(args.config, tuple(args.overrides), args.json))


def _cmd_plan(args: argparse.Namespace) -> int:
    from ablate.app.sweep import plan_sweep

    return plan_sweep(_sweep_options(args))


def _cmd_run(args: argparse.Namespace) -> int:
    from ablate.app.run import run_sweep

    return run_sweep(_sweep_options(args))


def _cmd_submit(args: argparse.Namespace) -> int:
    from ablate.app.cluster import submit_sweep

    return submit_sweep(_sweep_options(args))


def _cmd_status(args: argparse.Namespace) -> int:
    from ablate.app.cluster import job_status

    return job_status(_job_options(args))


def _cmd_logs(args: argparse.Namespace) -> int:
    from ablate.app.cluster import job_logs

    return job_logs(_job_options(args))


def _cmd_report(args: argparse.Namespace) -> int:
    from ablate.app.sweep import report_sweep

    return report_sweep(args.name, args.tracking_uri, args.out)


def _cmd_ui(args: argparse.Namespace) -> int:
    from ablate.app.local import open_ui

    return open_ui(args.tracking_uri, args.port)


def _cmd_components(args: argparse.Namespace) -> int:
    from ablate.app.local import list_components

    return list_components(args.kind)


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
    p.set_defaults(func=_cmd_run, quiet=True)

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
    p.set_defaults(func=_cmd_submit)

    p = sub.add_parser("status", help="a submitted sweep's state (exit code: its result)")
    p.add_argument("job", help="the job id ablate submit printed")
    jobs_address(p)
    p.add_argument("--wait", action="store_true", help="wait until the job has ended")
    p.add_argument("--poll", type=float, default=2.0, help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser("logs", help="a submitted sweep's output")
    p.add_argument("job", help="the job id ablate submit printed")
    jobs_address(p)
    p.add_argument("--follow", action="store_true", help="keep streaming until the job ends")
    p.set_defaults(func=_cmd_logs)

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
    p.add_argument("kind", nargs="?", choices=COMPONENT_KINDS)
    p.set_defaults(func=_cmd_components)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ablate.console import guarded

    return guarded(args.func, args)


def run() -> None:
    """The ``ablate`` command: :func:`main`, then exit without a last full garbage
    collection. The interpreter's final collection walks every object torch, MLflow, pandas
    and matplotlib made (seconds after a sweep, measured in BENCHMARKS.md); frozen objects
    are left out of it, and the process ends anyway."""
    code = main()
    timeline.mark("main returned")
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
