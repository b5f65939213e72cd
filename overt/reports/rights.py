"""People's rights in the annual report: requests by kind, outcome and time to answer; complaints and
their outcomes (GDPR Art. 12–21 and 77; San Francisco's ordinance and RCW 43.386 ask for these numbers).

Every figure is computed from the audit log's request.* and complaint.* records, like the rest of the report.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from .data import Item, Sources, fact, figure, median_and_max

ACTIONS = ("request.open", "request.close", "complaint.receive", "complaint.answer")


def _by(entries, key: str) -> dict[str, int]:
    return dict(sorted(Counter(e.details[key] for e in entries).items()))


def rights_items(sources: Sources, since: datetime, until: datetime) -> list[Item]:
    period = sources.audit(ACTIONS, since=since, until=until)
    opened, closed = period.where("request.open"), period.where("request.close")
    answered = period.where("complaint.answer")
    outcomes = Counter(f"{e.details['kind']}: {e.details['result']}" for e in closed)
    median, longest = median_and_max([e.details["days_to_answer"] for e in closed])
    late = [e for e in closed if not e.details["on_time"]]
    c_median, c_longest = median_and_max([e.details["days_to_answer"] for e in answered])

    def by(key: str, label: str, entries, field: str, method: str) -> Item:
        return fact(
            key,
            label,
            _by(entries, field),
            source="audit",
            query=period.query,
            method=method,
            seqs=[e.seq for e in entries],
        )

    return [
        period.count("subject_requests", "Data-subject requests received", "request.open"),
        by("subject_requests_by_kind", "… by kind", opened, "kind", "request.open rows counted by details.kind"),
        period.count("subject_requests_answered", "Requests answered (closed)", "request.close"),
        fact(
            "subject_requests_by_outcome",
            "… by kind and outcome",
            dict(sorted(outcomes.items())),
            source="audit",
            query=period.query,
            method="request.close rows counted by details.kind and details.result",
            seqs=[e.seq for e in closed],
        ),
        figure(
            "subject_request_days_median",
            "Days to answer a request (median)",
            median,
            query=period.query,
            method="median of details.days_to_answer in the request.close rows",
            seqs=[e.seq for e in closed],
        ),
        figure(
            "subject_request_days_max",
            "Days to answer a request (longest)",
            longest,
            query=period.query,
            method="maximum of details.days_to_answer in the request.close rows",
            seqs=[e.seq for e in closed],
        ),
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
        by("complaints_by_outcome", "… by outcome", answered, "result", "complaint.answer rows by details.result"),
        figure(
            "complaint_days_median",
            "Days to answer a complaint (median)",
            c_median,
            query=period.query,
            method="median of details.days_to_answer in the complaint.answer rows",
            seqs=[e.seq for e in answered],
        ),
        figure(
            "complaint_days_max",
            "Days to answer a complaint (longest)",
            c_longest,
            query=period.query,
            method="maximum of details.days_to_answer in the complaint.answer rows",
            seqs=[e.seq for e in answered],
        ),
    ]
