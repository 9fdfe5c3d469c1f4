"""Versioning a workflow that has executions in flight: ``zart.patched`` and
``zart.deprecate_patch`` (Temporal's semantics).

Changing what a workflow yields breaks the executions already part-way through it: their
replay meets a command the history does not hold (:class:`zart.NonDeterminismError`). A patch
keeps both paths::

    if (yield zart.patched("fraud-check")):
        yield fraud_check(order)               # executions that reach this point now
    txn = yield charge(order)                  # ...and those that passed it before

The interpreter answers a patch from the history, without the worker: the patch's *marker* (a
``capture`` row named ``zart.patch:<id>``) recorded at this position means True; another
command recorded here means False (the execution passed this point before the patch existed);
nothing recorded here yet means True, and the marker is written, like a capture, so that
every replay answers the same. A marker the code no longer asks about is skipped, so removing
a retired patch (:func:`deprecate_patch`, then the line itself) replays every history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .commands import Capture, Key, validate_name
from .constants import PATCH_MARKER

__all__ = ["Patch", "deprecate_patch", "is_marker", "patch_marker", "patched"]


@dataclass(frozen=True, slots=True)
class Patch:
    """Ask whether this execution takes the new path of the patch ``id``
    (:func:`zart.patched`), or retire the patch (:func:`zart.deprecate_patch`:
    ``deprecated=True``, the body receives None).

    The answer is kept for the rest of the run, so one patch may guard several places.
    """

    id: str
    deprecated: bool = False

    def __post_init__(self) -> None:
        validate_name(self.id, "patch id")
        validate_name(PATCH_MARKER + self.id, "patch id (with its marker prefix)")

    @property
    def marker(self) -> str:
        """The name its marker is recorded under (a ``capture`` row)."""
        return PATCH_MARKER + self.id

    @property
    def keys(self) -> tuple[Key, ...]:
        """The key of its marker."""
        return (("capture", self.marker),)


def patched(patch_id: str) -> Patch:
    """``if (yield zart.patched("fraud-check")):`` is True for executions that reach this
    point with the patch in their code, False for those whose history already went past it.
    Keep both branches until no execution of the old one is open (``zart replay-check``
    tells), then retire the patch with :func:`deprecate_patch`."""
    return Patch(patch_id)


def deprecate_patch(patch_id: str) -> Patch:
    """``yield zart.deprecate_patch("fraud-check")`` replaces the ``patched()`` test once no
    execution of the old branch is open: the new branch then runs unconditionally, and
    histories recorded with the marker or with nothing at this point both replay. It still
    records the marker, so workers of the previous version replay new executions during a
    rolling deploy. Remove the line once no execution recorded under ``patched()`` is open."""
    return Patch(patch_id, deprecated=True)


def is_marker(kind: str, name: str) -> bool:
    """Whether a history row of ``kind`` and ``name`` is a patch marker."""
    return kind == "capture" and name.startswith(PATCH_MARKER)


def _taken() -> bool:
    return True


def _as_taken(value: Any) -> bool:
    return True


def _as_nothing(value: Any) -> None:
    return None


def patch_marker(patch: Patch) -> Capture:
    """The capture that records ``patch`` in the history, built past the check that keeps the
    marker prefix away from user captures. The body receives True for ``patched()`` and None
    for ``deprecate_patch()``, on the first run as on every replay."""
    marker = object.__new__(Capture)
    object.__setattr__(marker, "name", patch.marker)
    object.__setattr__(marker, "fn", _taken)
    object.__setattr__(marker, "decode", _as_nothing if patch.deprecated else _as_taken)
    return marker
