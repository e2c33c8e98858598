"""What a person sees of ``ablate plan`` and ``ablate run``: the trial plan and the results
table (pandas is imported when a table is made); while a sweep runs, :mod:`.live` and
:mod:`.screen`."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ablate.errors import AblateError, ExitCode
from ablate.layout import FAILED
from ablate.plan import SweepPlan
from ablate.registry import overrides
from ablate.search.space import describe_point, format_value

if TYPE_CHECKING:
    from ablate.report.verdicts import Power
    from ablate.train.check import BuildReport


def _dims(plan: SweepPlan) -> list[str]:
    out = []
    for d in plan.space.all_dims():
        if d.discrete:
            out.append(f"{d.label}: {', '.join(format_value(v) for v in d.options())}")
        else:
            out.append(f"{d.label}: {d.dist.kind}{list(d.dist.args)}")  # type: ignore[union-attr]
    return out


def plan_text(plan: SweepPlan, fits: int | None, fit_note: str, builds: list[BuildReport]) -> str:
    """The whole ``ablate plan`` report."""
    t, r = plan.tune, plan.resources
    lines = [f"sweep '{plan.name}' ({plan.cfg.file})"]
    lines.append(
        f"  strategy {t.strategy}, scheduler {t.scheduler_name}, metric {t.metric} ({t.mode})"
    )
    lines.append(_evaluation_line(builds))
    lines.append("  dimensions:")
    lines += [f"    {d}" for d in _dims(plan)]
    seeds = plan.space.seeds
    a = plan.space.adaptive
    if a is not None and not plan.strategy.rounds:
        n = len(plan.cells)
        lines.append(
            f"  trials: {n} cells x adaptive seeds {a.min}..{a.max} (rounds {list(a.rounds())}, "
            f"{a.spending.replace('_', '-')} spending"
            + (f", futility below {a.futility:g}" if a.futility else "")
            + f") = {n * a.min} to {n * a.max}"
        )
    else:
        n = len(plan.cells)
        say = plan.strategy.describe
        trials = (
            say(plan.planning, n) if plan.planning else plan.strategy.describe_trials(t, n, seeds)
        )
        lines.append(f"  trials: {trials}")
    spends = plan.scheduler.describe(plan.epochs, len(plan.cells), plan.strategy.proposes)
    if spends:
        lines.append(f"  scheduler: {spends}")
    if plan.baseline is not None:
        lines.append(f"  baseline: {describe_point(plan.baseline)}")
    per = ", ".join(f"{v:g} {k}" for k, v in r.total().items())
    lines.append(f"  resources per trial: {per} ({_how(plan)}); backend: {_backend(plan)}")
    if r.trials_per_gpu > 1:
        lines.append(
            f"  packing: {r.trials_per_gpu} trials share each GPU ({r.worker['GPU']:g} GPU each)"
        )
    amp = plan.train.amp_dtype
    if amp or plan.train.compile or plan.train.channels_last:
        extras = [f"amp {amp}" if amp else "", "channels_last" if plan.train.channels_last else ""]
        extras.append("torch.compile" if plan.train.compile else "")
        lines.append(f"  precision and speed: {', '.join(e for e in extras if e)}")
    lines.append(
        f"  concurrency: {fit_note}"
        if fits is None
        else f"  concurrency: up to {fits} trials at once ({fit_note})"
    )
    if r.use_gpu and not r.inline:
        import torch.distributed as dist

        if not dist.is_nccl_available():
            lines.append("  note: this torch has no NCCL; the cluster's torch must (a CUDA build)")
    # A user's class that takes a built-in's name wins; say so, so it is never silent. (By
    # decorator: the registry knows; found by class name, OpenGait style: the build does.)
    notes = [*overrides(), *(n for b in builds for n in b.replaced)]
    lines += [f"  note: your class wins over the built-in: {n}" for n in dict.fromkeys(notes)]
    lines.append(f"  model combinations built on a sample batch: {len(builds)}")
    rows = []
    for b in builds:
        shapes = "; ".join(
            f"{p}: " + ", ".join(f"{k}{list(v)}" for k, v in s.items()) for p, s in b.shapes.items()
        )
        rows.append(
            {
                "combination": describe_point(b.point) or "(base)",
                "cell": b.cell,
                "params": f"{b.params:,}" if not b.error else "-",
                "training_feat": shapes if not b.error else "ERROR",
            }
        )
    if rows:
        import pandas as pd

        lines.append(_indent(pd.DataFrame(rows).to_string(index=False)))
    synthetic = {b.synthetic for b in builds if b.synthetic}
    lines += [f"  note: {s}" for s in sorted(synthetic)]
    return "\n".join(lines)


def power_text(p: Power) -> str:
    """The plan's power lines: the seed spread and its source, the detectable effect of the
    planned seeds, and the seeds ``tune.min_effect`` needs."""
    from ablate.report.verdicts import detectable_effect

    m, holm = p.comparisons, 0.05 / p.comparisons
    lines = [
        f"  power (two-sided t-test, 80% power, alpha 0.05; Holm over {m}: down to {holm:.3g}):"
    ]
    known = p.sd == p.sd
    lines.append(
        f"    seed sd {p.sd:.4g}, from {p.source}"
        if known
        else f"    seed sd {p.source}: effects in seed sd; set tune.seed_sd (a prior) or tune.pilot"
    )
    if p.seeds < 2:
        lines.append("    one seed: no seed spread, so no test and no detectable effect")
        return "\n".join(lines)
    sd = p.sd if known else 1.0
    one, worst = detectable_effect(p.seeds, sd), detectable_effect(p.seeds, sd, holm)
    unit = "" if known else " sd"
    ratio = f" ({one / p.sd:.2f} sd)" if known else ""
    lines.append(
        f"    detectable with {p.seeds} seeds: {one:.4g}{unit}{ratio}, Holm worst case "
        f"{worst:.4g}{unit}"
    )
    if p.min_effect is not None:
        if known:
            lines.append(
                f"    seeds needed for min_effect {p.min_effect:g}: {p.needed()} per cell "
                f"(Holm worst case {p.needed(holm)})"
            )
        else:
            lines.append(
                f"    seeds needed for min_effect {p.min_effect:g}: unknown without a seed sd"
            )
    return "\n".join(lines)


def _how(plan: SweepPlan) -> str:
    r = plan.resources
    if r.inline:
        gpu = r.worker.get("GPU", 0.0)
        held = f", holding {gpu:g} GPU" if gpu else ""
        return f"trains in the Tune trial process{held}: no worker group, no process group"
    return f"Ray Train, {r.num_workers} workers x {r.worker}, driver holds no CPU"


def _backend(plan: SweepPlan) -> str:
    r = plan.resources
    if r.inline:
        return "single process on GPU" if r.use_gpu else "single process"
    return "nccl on GPU" if r.use_gpu else "gloo on CPU"


def _evaluation_line(builds: list[BuildReport]) -> str:
    """Which metrics the trials report, and which split selects and which reports."""
    names = sorted({n for b in builds for n in b.modes if not n.endswith("/loss")})
    val = [n for n in names if n.startswith("val/")]
    test = [n for n in names if n.startswith("test/")]
    reports = "test reports (once, at each trial's end)" if test else "no test split"
    return f"  evaluation: {', '.join(val) or 'val/loss'}; val selects, {reports}"


def _indent(text: str, by: str = "    ") -> str:
    return "\n".join(by + ln for ln in text.splitlines())


def results_table(trials: Iterable[Any], metric: str, mode: str) -> str:
    """Cells ranked by mean metric over seeds, with the spread across seeds."""
    rows = [
        {
            "cell": t.cell,
            "seed": t.seed,
            "status": t.status,
            "value": t.metrics.get(metric),
            "point": describe_point(t.point),
            "seconds": t.duration_s,
        }
        for t in trials
    ]
    if not rows:
        return "no trials ran"
    import pandas as pd

    df = pd.DataFrame(rows)
    ok = df[df["status"] != FAILED].dropna(subset=["value"])
    failed = df[df["status"] == FAILED].groupby("cell").size()
    if ok.empty:
        return "no trial finished"
    g = ok.groupby("cell").agg(
        mean=("value", "mean"),
        std=("value", "std"),
        n=("value", "size"),
        seconds=("seconds", "sum"),
        point=("point", "first"),
    )
    g["failed"] = failed.reindex(g.index).fillna(0).astype(int)
    g = g.sort_values("mean", ascending=(mode == "min"))
    g.insert(0, "rank", range(1, len(g) + 1))
    g[metric] = [
        f"{m:.4g} ± {s:.2g}" if pd.notna(s) else f"{m:.4g}" for m, s in zip(g["mean"], g["std"])
    ]
    g["seconds"] = g["seconds"].map(lambda v: f"{v:.0f}")
    # Cells by their choices: the hashes stay in MLflow and the report's files.
    out = g.reset_index()[["rank", metric, "n", "failed", "seconds", "point"]]
    return out.rename(columns={"point": "cell"}).to_string(index=False)


def print_error(err: AblateError) -> None:
    """``error: ...`` on stderr: each of several problems on its own line, then the summary."""
    for problem in getattr(err, "problems", ()):
        print(f"error: {problem}", file=sys.stderr)
    print(f"error: {err}", file=sys.stderr)


def guarded(fn: Callable[..., int], *args: Any) -> int:
    """``fn(*args)``'s exit code, with a user's mistake as one line and its exit code (2, or
    4 for a lost tracking store) and Ctrl-C as 130. Our bugs keep their traceback."""
    try:
        return int(fn(*args))
    except AblateError as err:
        print_error(err)
        return int(err.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED


__all__ = ["guarded", "plan_text", "power_text", "print_error", "results_table"]
