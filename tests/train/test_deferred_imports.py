"""Building a metric does not import scipy.signal (torchmetrics' package imports it only
for an alias, 0.9 s), and scipy.signal is whole whenever someone does import it. A fresh
interpreter each, so the imports are real."""

from __future__ import annotations

import subprocess
import sys

import pytest

DEFERRED = """
import sys
import ablate_components
from ablate.train.metrics import build_metrics

metrics = build_metrics([{"type": "Accuracy"}])
assert len(metrics) == 1
assert "torchmetrics" in sys.modules
assert "scipy.signal" not in sys.modules, "building a metric imported scipy.signal"
import scipy, scipy.signal
assert type(scipy.signal).__name__ == "module" and scipy.signal.__spec__ is not None
assert [round(float(v), 6) for v in scipy.signal.windows.hamming(3)] == [0.08, 1.0, 0.08]
assert scipy.signal.get_window("hann", 4).shape == (4,)
assert scipy.signal.hamming is scipy.signal.windows.hamming  # torchmetrics' alias, kept
import torchmetrics.functional.audio  # the package whose alias it was still imports
print("ok")
"""

ALREADY = """
import sys
import scipy.signal
real = sys.modules["scipy.signal"]
import ablate.train.metrics
assert sys.modules["scipy.signal"] is real and scipy.signal is real
print("ok")
"""

FIRST_TOUCH = """
import sys
import ablate.train.metrics
from ablate.train import metrics
# modules (and threads) that read scipy.signal while torchmetrics imports get the real one
with_stand_in = metrics._scipy_signal_deferred
sys.modules.pop("torchmetrics")
import threading
with with_stand_in():
    import scipy.signal as inside
    assert type(inside).__name__ == "_Deferred"
    got = []
    touch = lambda: got.append(inside.get_window("hann", 4).shape)  # noqa: E731
    threads = [threading.Thread(target=touch) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
real = sys.modules["scipy.signal"]
assert got == [(4,)] * 4 and type(real).__name__ == "module", got
assert real.hamming is real.windows.hamming
print("ok")
"""


@pytest.mark.parametrize(
    "script", [DEFERRED, ALREADY, FIRST_TOUCH], ids=["deferred", "already-imported", "first-touch"]
)
def test_scipy_signal_is_deferred_and_whole(script: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")
