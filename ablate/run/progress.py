"""What a person sees while a sweep runs: one line per finished trial, in place of Tune's
tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ablate.layout import FAILED


def progress_callback(metric: str, printer: Callable[[str], None]) -> Any:
    """A Ray Tune ``Callback`` printing ``[n] done <trial> <metric>=... epochs=... (12.3s)``."""
    from ray.tune import Callback

    class Progress(Callback):
        def __init__(self) -> None:
            self.done = 0
            self.first_epoch: dict[str, float] = {}

        def on_trial_result(
            self,
            iteration: int,
            trials: list[Any],
            trial: Any,
            result: dict[str, Any],
            **info: Any,
        ) -> None:
            restored = float(result.get("epoch", 1)) if "ablate_restored" in result else 0.0
            self.first_epoch.setdefault(trial.trial_id, restored)

        def _line(self, trial: Any, status: str, detail: str) -> None:
            self.done += 1
            printer(f"  [{self.done}] {status:<6} {trial} {detail}")

        def on_trial_complete(
            self, iteration: int, trials: list[Any], trial: Any, **info: Any
        ) -> None:
            result = trial.last_result or {}
            value = result.get(metric)
            shown = f"{metric}={value:.4g}" if isinstance(value, int | float) else ""
            first = self.first_epoch.get(trial.trial_id, 0.0)
            resumed = f", resumed at epoch {first:.0f}" if first else ""
            self._line(
                trial,
                "done",
                f"{shown} epochs={result.get('epoch', 0):.0f} "
                f"({result.get('time_total_s', 0):.1f}s{resumed})",
            )

        def on_trial_error(
            self, iteration: int, trials: list[Any], trial: Any, **info: Any
        ) -> None:
            self._line(trial, FAILED, "")

    return Progress()
