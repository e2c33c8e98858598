"""The report's imports wait for the sweep's first epoch result (ablate/app/sweep.py): they
take 2 to 4 s of CPU, which the first trials' processes need while they start."""

from __future__ import annotations

import threading
import time

import pytest

import ablate.report
from ablate.app import sweep
from ablate.run import progress


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    seen: list[bool] = []
    monkeypatch.setattr(ablate.report, "warm_imports", seen.append)
    monkeypatch.setattr(progress, "first_result", threading.Event())
    return seen


def test_the_report_warms_up_only_after_the_first_result(calls: list[bool]) -> None:
    thread = threading.Thread(target=sweep._warm_report, args=(True,), daemon=True)
    thread.start()
    time.sleep(0.3)
    assert calls == [] and thread.is_alive()  # still waiting on the start-up
    progress.first_result.set()
    thread.join(5)
    assert calls == [True] and not thread.is_alive()


def test_a_sweep_with_no_result_yet_warms_up_after_the_longest_wait(
    calls: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweep, "WARM_REPORT_WAIT_S", 0.2)
    t0 = time.monotonic()
    sweep._warm_report(False)
    assert calls == [False] and time.monotonic() - t0 >= 0.2


def test_the_warm_imports_leave_out_all_of_statsmodels() -> None:
    """``statsmodels.api`` imports every model statsmodels has: 0.2 s of CPU that no part of
    the report uses (it imports the modules it needs)."""
    import subprocess
    import sys

    code = (
        "import sys, ablate.report as r; r.warm_imports(True); "
        "assert 'statsmodels.formula.api' in sys.modules; "
        "print('statsmodels.api' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
