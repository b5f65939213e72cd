"""One person, however many subject records: records linked on purpose (`enroll --same-as`) are one.

A person enrolled twice (the same photo under case-17 and case-22, or on two watchlists) would
otherwise be reported as two candidates, and raise two alerts for one face. Links point at the
first record of the person (`same_as`), so a lookup is one query and never a chain.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..storage.models import Subject
from .search import Candidate


def persons(session: Session, subject_ids: Iterable[int]) -> dict[int, int]:
    """subject id -> the id of its person's first record (itself when not linked)."""
    ids = set(subject_ids)
    if not ids:
        return {}
    rows = session.execute(select(Subject.id, Subject.same_as).where(Subject.id.in_(ids)))
    return {sid: same_as or sid for sid, same_as in rows}


def root(subject: Subject) -> int:
    """The record a new link should point at: the person's first record."""
    return subject.same_as or subject.id


def one_per_person(session: Session, candidates: list[Candidate]) -> list[Candidate]:
    """The best candidate of each person, best first (candidates come best first)."""
    person = persons(session, (c.subject_id for c in candidates))
    seen: set[int] = set()
    kept = []
    for candidate in candidates:
        key = person.get(candidate.subject_id, candidate.subject_id)
        if key not in seen:
            seen.add(key)
            kept.append(candidate)
    return kept
