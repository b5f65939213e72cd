"""People's rights in the annual report: requests by kind, outcome and time to answer; complaints and
their outcomes (GDPR Art. 12–21 and 77; San Francisco's ordinance and RCW 43.386 ask for these numbers).

Every figure is computed from the audit log's request.* and complaint.* records, like the rest of the report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime

from .data import Entry, Item, Selection, Sources, fact, figure, median_and_max

ACTIONS = ("request.open", "request.close", "complaint.receive", "complaint.answer")


def _tallies(period: Selection) -> tuple[Callable[..., Item], Callable[..., list[Item]]]:
    """Two item makers over one selection: counts by a detail, and the median and longest time to answer."""

    def by(key: str, label: str, entries: list[Entry], name: Callable[[Entry], str], method: str) -> Item:
        counts = dict(sorted(Counter(name(e) for e in entries).items()))
        seqs = [e.seq for e in entries]
        return fact(key, label, counts, source="audit", query=period.query, method=method, seqs=seqs)

    def days(key: str, what: str, entries: list[Entry], action: str) -> list[Item]:
        median, longest = median_and_max([e.details["days_to_answer"] for e in entries])
        return [
            figure(
                f"{key}_{stat}",
                f"Days to answer {what} ({'median' if stat == 'median' else 'longest'})",
                value,
                query=period.query,
                method=f"{'median' if stat == 'median' else 'maximum'} of details.days_to_answer in the {action} rows",
                seqs=[e.seq for e in entries],
            )
            for stat, value in (("median", median), ("max", longest))
        ]

    return by, days


def rights_items(sources: Sources, since: datetime, until: datetime) -> list[Item]:
    period = sources.audit(ACTIONS, since=since, until=until)
    opened, closed = period.where("request.open"), period.where("request.close")
    answered = period.where("complaint.answer")
    late = [e for e in closed if not e.details["on_time"]]
    by, days = _tallies(period)
    return [
        period.count("subject_requests", "Data-subject requests received", "request.open"),
        by(
            "subject_requests_by_kind", "… by kind", opened, lambda e: e.details["kind"], "request.open by details.kind"
        ),
        period.count("subject_requests_answered", "Requests answered (closed)", "request.close"),
        by(
            "subject_requests_by_outcome",
            "… by kind and outcome",
            closed,
            lambda e: f"{e.details['kind']}: {e.details['result']}",
            "request.close rows counted by details.kind and details.result",
        ),
        *days("subject_request_days", "a request", closed, "request.close"),
        figure(
            "subject_requests_late",
            "Requests answered after their deadline",
            len(late),
            query=period.query,
            method="request.close rows with details.on_time = false",
            seqs=[e.seq for e in late],
        ),
        period.count("complaints", "Complaints received", "complaint.receive"),
        period.count("complaints_answered", "Complaints answered", "complaint.answer"),
        by(
            "complaints_by_outcome",
            "… by outcome",
            answered,
            lambda e: e.details["result"],
            "complaint.answer by result",
        ),
        *days("complaint_days", "a complaint", answered, "complaint.answer"),
    ]
