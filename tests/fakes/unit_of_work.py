"""`UnitOfWork` and `Outbox` for use-case tests, with the semantics of the SQL ones: what
the fakes under tests/fakes write in a unit of work is kept only when it commits, and the
events recorded in it are published (`RecordingOutbox.events`) only then."""

from __future__ import annotations

import copy
from collections.abc import Iterator, MutableMapping
from typing import Protocol, TypeVar

from tessera.shared.application.ports import Outbox, UnitOfWork
from tessera.shared.domain.events import Event

K = TypeVar("K")
V = TypeVar("V")


class CommitFailed(RuntimeError):
    """Raised by `FakeUnitOfWork.commit` when the test asked for it (`fail_next_commit`)."""


class Participant(Protocol):
    """Something that keeps or drops its writes with the unit of work."""

    def keep_writes(self) -> None: ...

    def drop_writes(self) -> None: ...


class FakeUnitOfWork:
    """One transaction shared by the fakes enlisted in it. `commit` keeps their writes,
    `rollback` (or a failed commit) returns them to the last commit; a use case that neither
    commits nor rolls back leaves its writes pending, as an open transaction does, until the
    test ends the request with `rollback`."""

    def __init__(self) -> None:
        self._participants: list[Participant] = []
        self.commits = 0
        self.rollbacks = 0
        self.fail_next_commit = False
        self.fail_commit_number: int | None = None  # counting the successful ones, from 1

    def enlist(self, participant: Participant) -> None:
        self._participants.append(participant)

    async def commit(self) -> None:
        if self.fail_next_commit or self.fail_commit_number == self.commits + 1:
            self.fail_next_commit = False
            self.fail_commit_number = None
            await self.rollback()
            raise CommitFailed("the database refused the commit")
        for participant in self._participants:
            participant.keep_writes()
        self.commits += 1

    async def rollback(self) -> None:
        for participant in self._participants:
            participant.drop_writes()
        self.rollbacks += 1


class Table(MutableMapping[K, V]):
    """Rows in a unit of work: reads see this transaction's writes, `committed()` what the
    database holds. Values are copied in and out, as rows are, so an entity changed but not
    saved changes nothing here."""

    def __init__(self, unit_of_work: FakeUnitOfWork) -> None:
        self._rows: dict[K, V] = {}
        self._kept: dict[K, V] = {}
        unit_of_work.enlist(self)

    def __getitem__(self, key: K) -> V:
        return copy.deepcopy(self._rows[key])

    def __setitem__(self, key: K, value: V) -> None:
        self._rows[key] = copy.deepcopy(value)

    def __delitem__(self, key: K) -> None:
        del self._rows[key]

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._rows))

    def __len__(self) -> int:
        return len(self._rows)

    def put_committed(self, key: K, value: V) -> None:
        """A row another transaction wrote and committed (this one sees it too)."""
        self._rows[key] = copy.deepcopy(value)
        self._kept[key] = copy.deepcopy(value)

    def remove_committed(self, key: K) -> None:
        """A row another transaction deleted and committed (this one sees it gone too)."""
        self._rows.pop(key, None)
        self._kept.pop(key, None)

    def committed(self) -> dict[K, V]:
        return copy.deepcopy(self._kept)

    def keep_writes(self) -> None:
        self._kept = copy.deepcopy(self._rows)

    def drop_writes(self) -> None:
        self._rows = copy.deepcopy(self._kept)


class RecordingOutbox:
    """`Outbox` in a `FakeUnitOfWork`: `events` are those whose unit of work committed, in
    the order recorded; `pending` those recorded since the last commit or rollback."""

    def __init__(self, unit_of_work: FakeUnitOfWork) -> None:
        self.events: list[Event] = []
        self.pending: list[Event] = []
        unit_of_work.enlist(self)

    def record(self, event: Event) -> None:
        self.pending.append(event)

    def of_type(self, event_type: str) -> list[Event]:
        """The committed events of one type."""
        return [event for event in self.events if event.type == event_type]

    def keep_writes(self) -> None:
        self.events += self.pending
        self.pending = []

    def drop_writes(self) -> None:
        self.pending = []


def _check(unit_of_work: FakeUnitOfWork, outbox: RecordingOutbox) -> tuple[UnitOfWork, Outbox]:
    return unit_of_work, outbox
