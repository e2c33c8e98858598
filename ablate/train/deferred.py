"""What ``import torchmetrics`` does not need to import: the optional packages its
``__init__`` pulls in for features a training run does not use, deferred until something
uses them.

- ``scipy.signal``: imported only to add a ``hamming`` alias to it (for its audio package).
- ``matplotlib`` (with ``pyplot``): imported by ``torchmetrics.utilities.plot`` for
  ``Metric.plot()``.

Together 0.6 s of every process that builds a metric (``import ablate.run.trial``, now ``ablate.run.training``, after
torch: 0.99–1.12 s before, 0.41–0.45 s after; BENCHMARKS.md): ``ablate plan``, the driver's
dry builds and each trial process. Both stay whole: the first use imports the real
module, and what torchmetrics does with it is what it would have done.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.util
import sys
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: What torchmetrics' package ``__init__`` imports only to add an alias to it.
_DEFERRED = "scipy.signal"
_SWAP = threading.Lock()  # the stand-in leaves sys.modules once, whichever thread removes it


def _drop(stand_in: types.ModuleType) -> None:
    with _SWAP:
        if sys.modules.get(_DEFERRED) is stand_in:
            del sys.modules[_DEFERRED]


def _aliased(module: types.ModuleType) -> types.ModuleType:
    """torchmetrics' patch, on the real module: ``hamming`` as ``windows.hamming`` (where
    SciPy has both, so a SciPy that changed them still imports)."""
    hamming = getattr(getattr(module, "windows", None), "hamming", None)
    if hamming is not None and not hasattr(module, "hamming"):
        module.hamming = hamming  # type: ignore[attr-defined]
    return module


class _Deferred(types.ModuleType):
    """Stands in for :data:`_DEFERRED` while torchmetrics is imported: the first attribute
    it does not have imports the real module (and leaves it in ``sys.modules``)."""

    def __getattr__(self, name: str) -> Any:
        _drop(self)
        return getattr(_aliased(importlib.import_module(_DEFERRED)), name)


class _AliasOnImport(importlib.abc.MetaPathFinder):
    """Gives the real module torchmetrics' alias when it is imported later, then leaves
    ``sys.meta_path``."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != _DEFERRED:
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        loader = getattr(spec, "loader", None)
        if loader is not None and hasattr(loader, "exec_module"):
            run = loader.exec_module

            def exec_module(module: types.ModuleType) -> None:
                run(module)
                _aliased(module)

            loader.exec_module = exec_module
        return spec


def _hamming(*args: Any, **kwargs: Any) -> Any:
    return importlib.import_module(_DEFERRED + ".windows").hamming(*args, **kwargs)


@contextmanager
def _scipy_signal_deferred() -> Iterator[None]:
    """torchmetrics' ``__init__`` imports ``scipy.signal`` to give it a ``hamming`` alias
    (for an audio package); SciPy 1.17 rewrites some 800 docstrings on that import, 0.9 s
    of every process that builds a metric: ``ablate plan``, the driver's dry builds and
    each trial. The alias is what the stand-in has; anything else on it, within the
    import or after, is the real module's, and the real module gets the alias whenever it
    is imported. Without SciPy, or with ``scipy.signal`` already imported, nothing is
    done."""
    if _DEFERRED in sys.modules or "torchmetrics" in sys.modules:
        yield
        return
    try:
        spec = importlib.util.find_spec(_DEFERRED)
    except ImportError:
        spec = None
    if spec is None:
        yield
        return
    stand_in = _Deferred(_DEFERRED)
    stand_in.__spec__, stand_in.__loader__ = spec, spec.loader
    stand_in.__file__, stand_in.__package__ = spec.origin, _DEFERRED
    stand_in.__path__ = list(spec.submodule_search_locations or ())
    stand_in.hamming = _hamming  # type: ignore[attr-defined]
    sys.modules[_DEFERRED] = stand_in
    try:
        yield
    finally:
        _drop(stand_in)
        scipy = sys.modules.get("scipy")
        if scipy is not None and vars(scipy).get("signal") is stand_in:
            delattr(scipy, "signal")
        if _DEFERRED not in sys.modules:
            sys.meta_path.insert(0, _AliasOnImport())


#: torchmetrics' plotting module, and the module holding the flag it reads on import.
_PLOT = "torchmetrics.utilities.plot"
_IMPORTS = "torchmetrics.utilities.imports"


class _LazyModule:
    """Stands in for ``matplotlib`` or ``pyplot`` in the plotting module's namespace (what
    its functions read when they draw): the first attribute read imports the real module
    and puts it there."""

    def __init__(self, namespace: dict[str, Any], key: str, name: str) -> None:
        self._namespace, self._key, self._name = namespace, key, name

    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self._name)
        if self._namespace.get(self._key) is self:
            self._namespace[self._key] = module
        return getattr(module, attr)


def _style_context(*args: Any, **kwargs: Any) -> Iterator[None]:
    """The body of torchmetrics' plot style once matplotlib is deferred: matplotlib's own
    ``style.context``, imported when a plot is drawn."""
    import matplotlib.pyplot as plt

    with plt.style.context(*args, **kwargs):
        yield


class _AxesMeta(type):
    def __instancecheck__(cls, obj: Any) -> bool:
        import matplotlib.axes

        return isinstance(obj, matplotlib.axes.Axes)

    def __subclasscheck__(cls, sub: type) -> bool:
        import matplotlib.axes

        return issubclass(sub, matplotlib.axes.Axes)


class _Axes(metaclass=_AxesMeta):
    """torchmetrics' ``_AX_TYPE``, which it tests plot axes against (``trim_axs``,
    ``MetricCollection.plot``): matplotlib's ``Axes``, imported at the first test. Without
    matplotlib it would be ``object``, which everything passes."""


def _wire(module: types.ModuleType) -> None:
    """After the plotting module ran as if matplotlib were missing: its functions read the
    real modules on first use, and their style decorator enters matplotlib's style."""
    namespace = vars(module)
    namespace.setdefault("matplotlib", _LazyModule(namespace, "matplotlib", "matplotlib"))
    namespace.setdefault("plt", _LazyModule(namespace, "plt", "matplotlib.pyplot"))
    if namespace.get("_AX_TYPE") is object:  # read by modules importing it from here next
        namespace["_AX_TYPE"] = _Axes
    # The no-op style torchmetrics defines without matplotlib is a contextmanager; every
    # decorated plot function recreates it per call from this one generator function.
    raw = getattr(namespace.get("style_change"), "__wrapped__", None)
    if isinstance(raw, types.FunctionType) and not raw.__code__.co_freevars:
        raw.__code__ = _style_context.__code__


class _PlotWithoutMatplotlib(importlib.abc.MetaPathFinder):
    """Runs the plotting module with torchmetrics' matplotlib flag reading false (so its
    import-time ``import matplotlib.pyplot`` is skipped), then restores the flag and wires
    the module to import matplotlib on first use; then leaves ``sys.meta_path``."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != _PLOT:
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        loader = getattr(spec, "loader", None)
        if loader is not None and hasattr(loader, "exec_module"):
            run = loader.exec_module

            def exec_module(module: types.ModuleType) -> None:
                flag = getattr(importlib.import_module(_IMPORTS), "_MATPLOTLIB_AVAILABLE", None)
                # lightning_utilities' RequirementCache keeps its answer in ``available``
                if not (flag is not None and bool(flag) and getattr(flag, "available", 0) is True):
                    run(module)
                    return
                flag.available = False
                try:
                    run(module)
                finally:
                    flag.available = True
                if "plt" not in vars(module):
                    _wire(module)

            loader.exec_module = exec_module
        return spec


@contextmanager
def _matplotlib_deferred() -> Iterator[None]:
    """Skips the plotting module's import of matplotlib while torchmetrics imports (0.9 s);
    ``Metric.plot()`` imports it when called. With matplotlib already imported, or not
    installed, nothing is done."""
    if "matplotlib" in sys.modules or "torchmetrics" in sys.modules:
        yield
        return
    finder = _PlotWithoutMatplotlib()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(finder)


@contextmanager
def torchmetrics_deferred() -> Iterator[None]:
    """Import torchmetrics inside this: without ``scipy.signal`` and ``matplotlib``."""
    with _scipy_signal_deferred(), _matplotlib_deferred():
        yield
