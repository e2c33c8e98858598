"""User-facing errors: one line, exit code 2, never a traceback.

Anything that is the user's mistake (a config typo, a missing file, a search space that can
never run) raises :class:`AblateError`. The CLI prints ``str(err)`` and exits 2. Everything
else is our bug (or a component author's) and keeps its full traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

EXIT_USER_ERROR = 2


class AblateError(Exception):
    """A user mistake, rendered as ``FILE: KEY: message (did you mean 'x'?) hint``.

    Args:
        message: What was wrong and what was expected.
        file: The config file the mistake lives in, if any.
        key: The dotted config path, e.g. ``model.head.hiden_dim``.
        hint: One short sentence on how to fix it.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.key = key
        self.hint = hint
        super().__init__(message)

    def located(self, *, file: str | None = None, key: str | None = None) -> AblateError:
        """Fill in the file and key where the raiser did not know them."""
        if self.file is None and file is not None:
            self.file = file
        if self.key is None and key is not None:
            self.key = key
        return self

    def __str__(self) -> str:
        where = ": ".join(str(p) for p in (self.file, self.key) if p)
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text = f"{text}; {self.hint}"
        return " ".join(text.split())  # one line, always


def close_match(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to ``word``, or None when nothing is close."""
    found = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` or an empty string."""
    match = close_match(word, candidates)
    return f" (did you mean '{match}'?)" if match else ""
