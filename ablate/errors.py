"""User-facing errors: one line, exit code 2, never a traceback; the exit codes; and the two
helpers every message uses (a close match, the line of an error worth reading).

Anything that is the user's mistake (a config typo, a missing file, a search space that can
never run) raises :class:`AblateError`. The CLI prints ``str(err)`` and exits 2. Everything
else is our bug (or a component author's) and keeps its full traceback.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Iterable


class ExitCode(enum.IntEnum):
    """What ``ablate`` exits with."""

    OK = 0
    SOME_FAILED = 1  # the sweep ran, but some trials failed
    USER_ERROR = 2  # bad input: nothing started
    ALL_FAILED = 3  # every trial failed
    TRACKING_LOST = 4  # the tracking store stopped answering mid-sweep; run again to resume
    INTERRUPTED = 130


EXIT_USER_ERROR = ExitCode.USER_ERROR


class AblateError(Exception):
    """A user mistake, rendered as ``FILE: KEY: message (did you mean 'x'?) hint``.

    Args:
        message: What was wrong and what was expected.
        file: The config file the mistake lives in, if any.
        key: The dotted config path, e.g. ``model.head.hiden_dim``.
        hint: One short sentence on how to fix it.
    """

    exit_code: int = ExitCode.USER_ERROR

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

    def __reduce__(self) -> tuple[object, ...]:
        # Whole, with every attribute: a subclass's __init__ need not take (message,) alone.
        return (_remade, (type(self), dict(self.__dict__)))

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


def _remade(cls: type[AblateError], state: dict[str, object]) -> AblateError:
    """An :class:`AblateError` unpickled (a forked dry build's, :mod:`ablate.app.prebuild`)."""
    err = cls.__new__(cls)
    Exception.__init__(err, state.get("message"))
    err.__dict__.update(state)
    return err


class AblateErrors(AblateError):
    """Several user mistakes found together: ``problems`` are printed one per line, then
    the summary ``message``."""

    def __init__(self, message: str, problems: list[str], **where: str | None) -> None:
        super().__init__(message, **where)
        self.problems = problems


def problems_line(n: int) -> str:
    """The summary under several problems."""
    return f"{n} problem{'s' if n != 1 else ''}; nothing ran"


class TrackingLost(AblateError):
    """The tracking store stopped answering mid-sweep (exit 4; the sweep resumes)."""

    exit_code = ExitCode.TRACKING_LOST

    def __init__(self, err: AblateError) -> None:
        super().__init__(err.message, hint=err.hint)


# --- close matches -------------------------------------------------------------------------------


def close_match(word: str, candidates: Iterable[str], *, loose: bool = False) -> str | None:
    """The closest candidate to ``word``, or None when nothing is close.

    ``loose`` also takes a candidate that ``word`` begins (``grace`` -> ``grace_period``)
    and a looser match (``val/rank1`` -> ``val/top1``): for short closed vocabularies.
    """
    options = list(candidates)
    # Case first: ``Adamw`` means ``AdamW``, though ``Adam`` is fewer edits away. Matching
    # lower-cased spellings, then mapping back, keeps that for near misses too.
    lowered: dict[str, str] = {}
    for o in options:
        lowered.setdefault(o.lower(), o)
    if word.lower() in lowered:
        return lowered[word.lower()]
    found = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    if found or not loose:
        return lowered[found[0]] if found else None
    longer = [o for o in options if o.startswith(word)]
    if longer:
        return longer[0]
    found = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.5)
    return lowered[found[0]] if found else None


def did_you_mean(word: str, candidates: Iterable[str], *, loose: bool = False) -> str:
    """`` (did you mean 'x'?)`` or an empty string."""
    match = close_match(word, candidates, loose=loose)
    return f" (did you mean '{match}'?)" if match else ""


# --- the line of an error worth reading ------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return [ln for ln in text.strip().splitlines() if ln.strip()]


def first_line(err: BaseException | str | None, limit: int | None = None) -> str:
    """The first non-empty line of an error (or of its text), cut at ``limit`` characters."""
    if err is None:
        return ""
    lines = _lines(str(err))
    if not lines:
        return type(err).__name__ if isinstance(err, BaseException) else ""
    return lines[0].strip()[:limit]


def exception_line(err: BaseException | str) -> str:
    """The line of a trial's error a person wants: its root cause, not Ray's wrapping.

    A chained error (Ray's ``.cause``) is followed to its root; of its text, the last
    unindented line with a colon (a traceback's exception line), else the last line.
    """
    cause: BaseException | str | None = err
    while isinstance(cause, BaseException) and getattr(cause, "cause", None) is not None:
        cause = cause.cause  # type: ignore[attr-defined]
    lines = _lines(str(cause if cause is not None else err))
    for ln in reversed(lines):
        if ":" in ln and not ln.startswith(" "):
            return ln.strip()
    if lines:
        return lines[-1].strip()
    return type(err).__name__ if isinstance(err, BaseException) else ""


__all__ = [
    "EXIT_USER_ERROR",
    "AblateError",
    "AblateErrors",
    "ExitCode",
    "TrackingLost",
    "close_match",
    "did_you_mean",
    "exception_line",
    "first_line",
    "problems_line",
]
