"""The ``ablate`` command line.

Exit codes:
    0  success
    1  the sweep ran, but some trials failed (``run``)
    2  bad input: a config, search space, argument or environment mistake; nothing started
    3  every trial failed (``run``)
  130  interrupted
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from ablate.errors import EXIT_USER_ERROR, AblateError

EXIT_SOME_FAILED = 1
EXIT_ALL_FAILED = 3


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
    return make_plan(cfg, getattr(args, "name", None))


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
    from ablate.plan import concurrency, local_nodes

    plan = _load_plan(args)
    builds = _check_builds(plan)
    if args.address:
        from ablate.sweep import cluster_nodes, connect

        connect(args.address)
        fits: int | None = concurrency(
            plan.resources, cluster_nodes(), args.max_concurrent or plan.tune.max_concurrent
        )
        note = f"cluster at {args.address}"
    else:
        nodes = local_nodes()
        try:
            fits = concurrency(
                plan.resources, nodes, args.max_concurrent or plan.tune.max_concurrent
            )
            note = f"this machine: {nodes[0]['CPU']:g} CPU, {nodes[0]['GPU']:g} GPU"
        except AblateError as err:
            fits, note = (
                None,
                f"does not fit on this machine ({err.message}); give --address to check a cluster",
            )
    print(plan_text(plan, fits, note, builds))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from ablate.console import results_table
    from ablate.sweep import FAILED, run_sweep

    plan = _load_plan(args)
    _check_builds(plan)
    outcome = run_sweep(
        plan, address=args.address, max_concurrent=args.max_concurrent, storage=args.storage
    )
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
    if failed and len(failed) == len(outcome.trials):
        return EXIT_ALL_FAILED
    return EXIT_SOME_FAILED if failed else 0


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

    p = sub.add_parser(
        "plan", help="show what a sweep would run and build every model combination; starts nothing"
    )
    sweep_args(p)
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser("run", help="run (or resume) a sweep on Ray Tune")
    sweep_args(p)
    p.add_argument(
        "--name", default=None, help="sweep name (default: the file's name:, else its stem)"
    )
    p.add_argument(
        "--storage", default=None, help="where Ray Tune keeps trial state (default: ./.ablate/ray)"
    )
    p.set_defaults(func=_cmd_run)

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
    except AblateError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
