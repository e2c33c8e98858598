"""The leaderboard's confusion matrix: the best cell's, summed over its seeds, on test when
there is a test split, else on val. Read from the trials columns ``artifact/<split>/confusion``
(JSON text: what the ``ConfusionMatrix`` metric logged)."""

from __future__ import annotations

import json

import numpy as np

from ablate.layout import RESULT_ARTIFACT_PREFIX
from ablate.report import figures
from ablate.report.analysis import Analysis
from ablate.report.render import Block, Figure


def confusion_blocks(a: Analysis) -> list[Block]:
    """A heading, a sentence and the heatmap; nothing when no trial logged a matrix."""
    done = a.prep.done
    if not len(a.cells):
        return []
    for split in ("test", "val"):
        column = f"{RESULT_ARTIFACT_PREFIX}{split}/confusion"
        if column not in done:
            continue
        best = a.cells.index[0]
        texts = done.loc[done["cell"] == best, column].dropna()
        if not len(texts):
            continue
        matrix = np.sum([np.asarray(json.loads(t), dtype=float) for t in texts], axis=0)
        acc = 100.0 * np.trace(matrix) / max(matrix.sum(), 1.0)
        label = a.cells.at[best, "label"]
        return [
            f"### Confusion matrix of the best cell ({split})",
            f"{label}, summed over its {len(texts)} seed(s): rows are the true class, columns "
            f"the predicted one; {acc:.1f}% of {int(matrix.sum())} {split} items on the diagonal.",
            Figure(figures.confusion(matrix), f"confusion_{split}", f"{label} on {split}."),
        ]
    return []
