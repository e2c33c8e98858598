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

    p = sub.add_parser("components", help="list registered components and their arguments")
    p.add_argument("kind", nargs="?", choices=["backbones", "necks", "heads", "losses", "datasets", "models"])
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
