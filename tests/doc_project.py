"""What the executed docs share: their markers, the plugin project they describe, and
forgetting that plugin afterwards.

A doc marks its parts with HTML comments right before a fenced block
(``<!-- file: PATH -->`` and the like); each test module says which kinds it knows.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from pathlib import Path

from ablate.registry import REGISTRIES
from ablate.report.sections import SECTIONS
from ablate.search.schedulers import SCHEDULERS
from ablate.search.strategies import STRATEGIES


def parse_markers(
    doc: Path, kinds: Iterable[str], blockless: Iterable[str] = ()
) -> list[tuple[str, str, str | None]]:
    """``(kind, argument, block)`` for every marker of ``doc``, in order; ``block`` is None
    for a ``blockless`` kind."""
    kinds, blockless = list(kinds), set(blockless)
    marker = re.compile(rf"^<!-- ({'|'.join(map(re.escape, kinds))}): (.+?) -->$")
    lines = doc.read_text(encoding="utf-8").splitlines()
    out: list[tuple[str, str, str | None]] = []
    for i, line in enumerate(lines):
        m = marker.match(line.strip())
        if not m:
            continue
        kind, arg = m.group(1), m.group(2).strip()
        if kind in blockless:
            out.append((kind, arg, None))
            continue
        if i + 1 >= len(lines) or not lines[i + 1].startswith("```"):
            raise AssertionError(
                f"{doc.name}:{i + 1}: marker '{line}' is not followed by a fenced block"
            )
        end = next(j for j in range(i + 2, len(lines)) if lines[j].startswith("```"))
        out.append((kind, arg, "\n".join(lines[i + 2 : end]) + "\n"))
    return out


def doc_pattern(expected: str) -> re.Pattern[str]:
    """``...`` in a doc's expected output stands for any text."""
    return re.compile(".*".join(re.escape(part) for part in expected.split("...")))


def write_project(root: Path, files: dict[str, str]) -> None:
    """Every ``file:`` block of a doc, written under ``root``."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def forget_plugin(package: str) -> None:
    """Unregister and unimport ``package``, so no other test sees it; the built-ins its
    OpenGait-style classes replaced come back."""
    from ablate.nn.opengait import forget

    forget(package)
    for registry in [*REGISTRIES.values(), STRATEGIES, SCHEDULERS, SECTIONS]:
        for name, obj in list(registry._table.items()):
            if getattr(obj, "__module__", "").split(".")[0] == package:
                del registry._table[name]
    for mod in [m for m in sys.modules if m.split(".")[0] == package]:
        del sys.modules[mod]
