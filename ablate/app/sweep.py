"""The use cases of one sweep: plan it, run it with this process as the driver, report it.
The CLI and the cluster call these; each takes typed options and returns an exit code
(:class:`ablate.errors.ExitCode`). ``ablate run`` itself is :func:`ablate.app.run.run_sweep`,
which picks this driver or the cluster's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

from ablate import heap, timeline
from ablate.app.incremental import skips_line, still_to_run
from ablate.app.options import SweepOptions
from ablate.app.power import plan_power
from ablate.app.prebuild import Prebuild
from ablate.app.rounds import in_rounds, path_tags, run_rounds
from ablate.config import Config, load_config
from ablate.console import plan_text, power_text, results_table
from ablate.console.live import sink_for
from ablate.console.screen import Screen, plain_screen, quiet
from ablate.errors import AblateError, AblateErrors, ExitCode, TrackingLost, problems_line
from ablate.layout import FAILED, console_log, experiment_root, lock_file
from ablate.plan import SweepPlan, check_fits, local_nodes, make_plan
from ablate.run import progress, reaper
from ablate.tracking import (
    Store,
    SweepTracker,
    TrackingError,
    open_store,
    shown,
    sqlite_file,
    tracking_env,
    tracking_uri,
)
from ablate.tracking.lease import Lease
from ablate.tracking.read import SweepData, load_sweep


def load_plan(opts: SweepOptions) -> SweepPlan:
    """The sweep file, merged and overridden, as a validated plan."""
    cfg = load_config(opts.sweep, opts.overrides)
    plan = make_plan(cfg, opts.name)
    if opts.max_concurrent is not None and opts.max_concurrent < 1:
        raise AblateError(
            f"expected at least 1 trial at once, got {opts.max_concurrent}",
            file="<command line>",
            key="--max-concurrent",
        )
    return plan


def checked_plan(opts: SweepOptions) -> tuple[SweepPlan, list]:
    """The plan, with every cell checked statically and its model built on a sample batch
    (exit 2 with every problem found, if any)."""
    from ablate.train.check import check_builds

    plan = statically_checked(opts)
    return plan, check_builds(plan)


def statically_checked(opts: SweepOptions) -> SweepPlan:
    """The plan; a mistake in it comes with every static mistake of the training config."""
    try:
        return load_plan(opts)
    except AblateError as err:
        raise _with_static(opts, err) from None


def _with_static(opts: SweepOptions, err: AblateError) -> AblateError:
    """A sweep-file mistake, with the static mistakes of its training config: a bad search
    dimension must not hide a misspelt argument."""
    from ablate.search.space import base_config
    from ablate.train.static import choice_problems, config_problems

    try:
        cfg = load_config(opts.sweep, opts.overrides)
    except AblateError:
        return err
    base = Config(base_config(cfg), cfg.file, dict(cfg.origins), list(cfg.order))
    first = list(getattr(err, "problems", [])) or [str(err)]
    found = [str(e) for e in [*config_problems(base), *choice_problems(cfg)]]
    more = [line for line in dict.fromkeys(found) if line not in first]
    if not more:
        return err
    lines = first + more
    return AblateErrors(problems_line(len(lines)), lines, file=cfg.file)


def plan_sweep(opts: SweepOptions) -> int:
    """``ablate plan``: the trial table, resources, concurrency and dry builds; starts nothing."""
    plan, builds = checked_plan(opts)
    if opts.address:
        from ablate.run.session import cluster_nodes, connect

        connect(opts.address)
        fits: int | None = check_fits(plan, cluster_nodes(), opts.max_concurrent)
        note = f"cluster at {opts.address}"
    else:
        nodes = local_nodes()
        try:
            fits = check_fits(plan, nodes, opts.max_concurrent)
            note = f"this machine: {nodes[0]['CPU']:g} CPU, {nodes[0]['GPU']:g} GPU"
        except AblateError as err:
            fits, note = (
                None,
                f"does not fit on this machine ({err.message}); give --address to check a cluster",
            )
    print(plan_text(plan, fits, note, builds))
    print(power_text(plan_power(plan, opts)))
    print(skips_line(plan, opts))
    return ExitCode.OK


def run_here(opts: SweepOptions) -> int:
    """``ablate run`` with this process as the driver: only what is new, resumed where a run
    was cut short, tracked in MLflow, then the results table and the report.

    A Ray Job's driver starts in Ray's copy of the job's ``working_dir``, which Ray may
    replace while the sweep runs: it reads the sweep file there and then works from the
    storage root (its report goes to ``<storage>/<reports>``)."""
    from ablate.run.session import leave_ray_working_dir

    opts = dataclasses.replace(opts, sweep=os.path.abspath(opts.sweep))
    leave_ray_working_dir(experiment_root(opts.storage))
    # No automatic collections while the driver imports and starts (ablate.heap); Tune's start
    # settles the heap.
    with heap.paused():
        return _run_here(opts)


def _run_here(opts: SweepOptions) -> int:
    plan = statically_checked(opts)
    with _terminal(plan, opts) as screen:
        warm_trials = False
        if _own_ray(opts):
            # A trial that can never fit on this machine is exit 2 before the store opens.
            # (A CPU plan needs no GPU count: its Ray starts before torch is imported.)
            nodes = local_nodes(gpus=plan.resources.use_gpu)
            at_once = check_fits(plan, nodes, opts.max_concurrent)
            # Inline trials run in the raylet's early workers (one per CPU), warmed for them
            # when all of them will host trials (ablate.run.warm), not 62 of 64 for nothing.
            warm_trials = plan.resources.inline and at_once >= int(nodes[0]["CPU"])
        timeline.mark("plan checked")
        # The dry builds start now, in a child of their own (ablate.app.prebuild).
        builds = Prebuild.start(plan)
        try:
            tracking_env()
            if not _on_this_machine(tracking_uri(opts.tracking_uri)):
                # An unreachable server or database is exit 2 before Ray starts.
                store = open_store(opts.tracking_uri)
                timeline.mark("store open")
                with _local_ray(opts, plan, warm_trials):
                    return _checked_and_leased(plan, builds, store, opts, screen)
            # A SQLite file in a directory that exists has nothing to be down: the local
            # Ray starts while MLflow opens it (and a new one is made), and the builds run.
            with _local_ray(opts, plan, warm_trials):
                store = open_store(opts.tracking_uri)
                timeline.mark("store open")
                return _checked_and_leased(plan, builds, store, opts, screen)
        finally:
            builds.cancel()


def _on_this_machine(uri: str) -> bool:
    """Whether the store is a SQLite file in a directory that exists."""
    db = sqlite_file(uri)
    return db is not None and db.parent.is_dir()


def _checked_and_leased(
    plan: SweepPlan, builds: Prebuild, store: Store, opts: SweepOptions, screen: Screen
) -> int:
    """The dry builds' outcome (the local Ray starting meanwhile), the lease, then what is
    new."""
    builds.result()
    timeline.mark("builds checked")
    # One driver per sweep and store; what is still to run is read once the lease is ours.
    lock = lock_file(experiment_root(opts.storage), plan.name)
    with Lease(store, plan.name, opts.command or "ablate run", lock) as lease:
        timeline.mark("lease taken")
        # The report ranks the dimensions of the whole sweep, finished pairs included.
        ranks = plan.strategy.proposes or len(plan.cells) > 1
        if in_rounds(plan):  # each round skips what already finished
            return _run(plan, store, opts, screen, lease, ranks)
        plan, skipped = still_to_run(plan, store, opts)
        if skipped:
            screen.say(
                f"skipping {skipped} of {len(plan.trials) + skipped} trials already "
                "finished in MLflow"
            )
        if not plan.trials and not plan.strategy.proposes:
            return _nothing_new(plan, store, opts, screen)
        return _run(plan, store, opts, screen, lease, ranks)


def _own_ray(opts: SweepOptions) -> bool:
    """Whether this command starts a Ray of its own (no ``--address``, no ``RAY_ADDRESS``)."""
    return not (opts.address or os.environ.get("RAY_ADDRESS"))


@contextmanager
def _one_more_ctrl_c(screen: Screen) -> Iterator[None]:
    """While the runs are marked (a second or so): a Ctrl-C is said, not raised, so the
    runs do not stay RUNNING; a Ctrl-C after that one stops at once."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed: list[int] = []

    def held(sig: int, frame: object) -> None:
        if pressed:
            raise KeyboardInterrupt
        pressed.append(sig)
        threading.Thread(target=screen.warn, args=(MARKING,), daemon=True).start()

    previous = signal.signal(signal.SIGINT, held)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


MARKING = "Ctrl-C: marking the runs in MLflow first; press it again to stop at once"


@contextmanager
def _local_ray(opts: SweepOptions, plan: SweepPlan, warm_trials: bool) -> Iterator[None]:
    """This command's own Ray, started in the background while the driver builds and takes
    the lease (a cluster's is connected to later); stopped again if the command ends
    before the sweep starts. Inline trials need neither Ray's state API nor its runtime env
    agent; Ray Train's placement group cleaner asks the state API, unless this driver
    reaps instead, and its workers each have a runtime env."""
    from ablate.run.session import start_local, stop_local

    if not _own_ray(opts):
        yield
        return
    inline = plan.resources.inline
    start_local(
        warm_trials=warm_trials,
        state_api=not inline and not reaper.enabled(),
        runtime_envs=not inline,
    )
    try:
        yield
    finally:
        stop_local()


@contextmanager
def _terminal(plan: SweepPlan, opts: SweepOptions) -> Iterator[Screen]:
    """The terminal for ``ablate run``: with ``opts.quiet``, other libraries' output goes to
    the sweep's log file, named once here."""
    if not opts.quiet:
        yield plain_screen()
        return
    log = console_log(experiment_root(opts.storage), plan.name, time.strftime("%Y%m%d-%H%M%S"))
    with quiet(log) as screen:
        screen.say(f"log of Ray, Tune and the trials: {_shown_path(log)}")
        yield screen


def _shown_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _run(
    plan: SweepPlan, store: Store, opts: SweepOptions, screen: Screen, lease: Lease, ranks: bool
) -> int:
    from ablate.run.driver import run_sweep as drive
    from ablate.run.driver import tune_experiment
    from ablate.tracking.callback import tracker_callback

    root = experiment_root(opts.storage)
    experiment: tuple[str, str, bool] | None = tune_experiment(root, plan)
    assert experiment is not None
    tracker = SweepTracker(
        store,
        plan,
        command=opts.command,
        tune_experiment=os.path.join(experiment[0], experiment[1]),
    )
    lease.name_run(tracker.start())
    sink = sink_for(screen, "starting Ray and the first trials")

    def one_round(sub: SweepPlan) -> list:
        nonlocal experiment
        experiment = experiment or tune_experiment(root, sub)
        tracker.next_experiment(os.path.join(experiment[0], experiment[1]))
        outcome = drive(
            sub,
            address=opts.address,
            max_concurrent=opts.max_concurrent,
            storage=opts.storage,
            callbacks=[tracker_callback(tracker)],
            printer=sink.say,
            sink=sink,
            experiment=experiment,
        )
        experiment = None  # the next round is another Tune experiment
        return outcome.trials

    # The driver waits on Tune while trials train: the report's imports fit in there.
    # (Optuna's importance, 1.6 s, only where the report will rank dimensions.)
    progress.first_result.clear()  # this sweep's first result (a process may run several)
    warming = threading.Thread(
        target=_warm_report, args=(ranks,), name="ablate-warm-report", daemon=True
    )
    warming.start()
    t0 = time.perf_counter()
    try:
        with sink:
            if in_rounds(plan):
                trials = run_rounds(plan, tracker.store, opts, one_round, tracker.settle)
            else:
                trials = one_round(plan)
    except BaseException as err:
        interrupted = isinstance(err, KeyboardInterrupt)
        with _one_more_ctrl_c(screen):
            if interrupted:
                screen.warn("interrupted: the unfinished trials are marked INTERRUPTED in MLflow")
            tracker.abort(interrupted=interrupted)
        if tracker.lost is not None:
            raise TrackingLost(tracker.lost) from None
        raise
    outcome = SimpleNamespace(trials=trials, wall_s=time.perf_counter() - t0)
    if opts.quiet and _own_ray(opts):
        _stop_ray_meanwhile()  # the command's own local Ray, nobody else's
    screen.say()
    screen.say(results_table(outcome.trials, plan.tune.metric, str(plan.tune.mode)))
    failed = [t for t in outcome.trials if t.status == FAILED]
    screen.say(
        f"{len(outcome.trials) - len(failed)} of {len(outcome.trials)} trials finished in {outcome.wall_s:.0f}s"
    )
    # The report imports what the thread does: never both at once (two threads importing one
    # package can fail with a _DeadlockError), as when no result came, or one came late.
    progress.first_result.set()
    warming.join()
    try:
        heap.settle()  # collecting again, if no round had anything to run (ablate.heap)
        with heap.frozen():  # the sweep's objects too
            tracker.settle()
            for tag, value in path_tags(plan, tracker.store).items():
                tracker.store.call(
                    "log the path", tracker.store.client.set_tag, tracker.parent_id, tag, value
                )
            data = load_sweep(tracker.store, plan.name)  # read once for the report and the cells
            out = write_report(tracker.store, plan.name, opts.reports, say=screen.say, data=data)
            tracker.log_cells(_summaries(data))
            tracker.finish({"total": len(outcome.trials), "failed": len(failed)}, out["md"].parent)
            timeline.mark("report written")
    except TrackingError as err:
        raise TrackingLost(err) from None
    screen.say(f"mlflow: {tracker.where()}")
    if failed and len(failed) == len(outcome.trials):
        return ExitCode.ALL_FAILED
    return ExitCode.SOME_FAILED if failed else ExitCode.OK


#: The longest the report's imports wait for the first epoch result before they start.
WARM_REPORT_WAIT_S = 20.0


def _warm_report(importance: bool) -> None:
    from ablate.report import warm_imports

    # Not while the first trials start: 2 to 4 s of CPU, taken from their processes.
    progress.first_result.wait(WARM_REPORT_WAIT_S)
    with contextlib.suppress(Exception):  # only a head start: the report imports them itself
        warm_imports(importance)


def _stop_ray_meanwhile() -> None:
    """Shut Ray down while the report is written: the exit does not wait for it after."""
    from ablate.run.session import shutdown_in_background

    shutdown_in_background()


def _summaries(data: SweepData) -> dict:
    from ablate.report.summary import cell_summaries

    return cell_summaries(data.trials, data.curves, data.meta)


def _nothing_new(plan: SweepPlan, store: Store, opts: SweepOptions, screen: Screen) -> int:
    """Every trial already finished: record the invocation and refresh the report."""
    screen.say(
        f"nothing new to run: every trial of '{plan.name}' already finished (--rerun-all runs them again)"
    )
    tracker = SweepTracker(store, plan, command=opts.command)
    tracker.start()
    out = write_report(store, plan.name, opts.reports, say=screen.say)["md"].parent
    tracker.finish({"total": 0, "failed": 0}, out)
    return ExitCode.OK


def write_report(
    store: Store,
    name: str,
    out_root: str | Path,
    say: Callable[[str], None] = print,
    data: SweepData | None = None,
) -> dict[str, Path]:
    """Write ``<out_root>/<name>/`` from the tracking store alone (or ``data`` read from it
    already); the report's paths."""
    from ablate.report import write_report as write

    data = data if data is not None else load_sweep(store, name)
    paths = write(data.trials, data.curves, data.meta, Path(out_root) / name)
    say(f"report: {paths['html']} ({paths['md'].name}, {paths['csv'].name})")
    return paths


def report_sweep(name: str, tracking_uri: str | None = None, out: str = "reports") -> int:
    """``ablate report``: regenerate ``<out>/<name>/`` from the tracking store (no Ray)."""
    write_report(open_store(tracking_uri), name, out)
    return ExitCode.OK


def command_line(argv: list[str] | None = None) -> str:
    """The command as typed, less any password in a URI (it is recorded in MLflow)."""
    return " ".join(shown(a) if "://" in a else a for a in (argv if argv is not None else sys.argv))


__all__ = [
    "checked_plan",
    "command_line",
    "load_plan",
    "plan_sweep",
    "report_sweep",
    "run_here",
    "write_report",
]
