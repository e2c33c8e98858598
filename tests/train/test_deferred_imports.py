"""Building a metric imports neither scipy.signal (torchmetrics' package imports it only
for an alias, 0.9 s) nor matplotlib (its plotting module, 0.9 s), and each is whole
whenever someone does use it: the alias is kept and ``Metric.plot()`` draws as upstream,
inside matplotlib's default style. A fresh interpreter each, so the imports are real."""

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
assert "matplotlib" not in sys.modules, "building a metric imported matplotlib"
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
from ablate.train import deferred
# modules (and threads) that read scipy.signal while torchmetrics imports get the real one
with_stand_in = deferred._scipy_signal_deferred
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

PLOT = """
import sys
import torch
import ablate.train.metrics
assert "matplotlib" not in sys.modules
import torchmetrics
from torchmetrics.utilities import plot
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
plt.rcParams["lines.linewidth"] = 7.0  # torchmetrics draws in the default style: 1.5
metric = torchmetrics.classification.BinaryAccuracy()
values = []
for hits in ([1, 0, 1], [1, 1, 1]):
    metric.update(torch.tensor(hits), torch.tensor([1, 1, 1]))
    values.append(metric.compute())
    metric.reset()
fig, ax = metric.plot(values)
assert isinstance(fig, plt.Figure), type(fig)
assert [line.get_linewidth() for line in ax.get_lines()] == [1.5], ax.get_lines()
assert plot.plt is plt  # the stand-in gave way on first use
assert plot.matplotlib is not matplotlib  # not yet read: still the stand-in
assert plot.matplotlib.colors is matplotlib.colors
assert plot.matplotlib is matplotlib
matrix = torchmetrics.classification.MulticlassConfusionMatrix(num_classes=3)
matrix.update(torch.tensor([0, 1, 2]), torch.tensor([0, 2, 2]))
fig, _ = matrix.plot()
assert isinstance(fig, plt.Figure)
# a grid of axes: torchmetrics flattens what is not one Axes (its _AX_TYPE test)
labels = torchmetrics.classification.MultilabelConfusionMatrix(num_labels=3)
labels.update(torch.tensor([[1, 0, 1], [0, 1, 1]]), torch.tensor([[1, 0, 0], [0, 1, 1]]))
fig, _ = labels.plot()
assert len(fig.axes) >= 3
assert not isinstance(object(), plot._AX_TYPE) and isinstance(ax, plot._AX_TYPE)
collection = torchmetrics.MetricCollection([torchmetrics.classification.BinaryAccuracy()])
collection.update(torch.tensor([1, 0]), torch.tensor([1, 1]))
_, one = plt.subplots()
collection.plot(ax=one, together=True)  # checks ax against _AX_TYPE
try:
    collection.plot(ax="not axes", together=True)
except ValueError:
    pass
else:
    raise AssertionError("an ax that is not matplotlib's Axes was taken")
assert plt.rcParams["lines.linewidth"] == 7.0  # the style was left on the way out
print("ok")
"""

MATPLOTLIB_FIRST = """
import sys
import matplotlib.pyplot as plt
import ablate.train.metrics
from torchmetrics.utilities import plot
assert plot.plt is plt
print("ok")
"""


@pytest.mark.parametrize(
    "script",
    [DEFERRED, ALREADY, FIRST_TOUCH, PLOT, MATPLOTLIB_FIRST],
    ids=["deferred", "already-imported", "first-touch", "plot", "matplotlib-first"],
)
def test_deferred_modules_stay_whole(script: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")
