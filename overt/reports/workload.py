"""Reviewers' workload and the quality of review, measured from the audit log (issue 14).

Human review only means something if reviewers keep up and decide independently. From the log alone:
decisions per reviewer per active hour, time from alert to each decision (p50, p95), the review queue
at the end of each hour, the share of decided alerts on which reviewers disagreed, and the share of
decisions that were inconclusive. Computed from `alert.raise`, `alert.sighting`, `review.decide` and the
final `alert.*` records, so anyone holding the log gets the same numbers.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

from .data import FINAL, Entry, Item, Selection, figure, table

ACTIONS = ("alert.raise", "alert.sighting", "review.decide", *FINAL)
MAX_QUEUE_POINTS = 24 * 31  # hourly points kept of the queue's length: the latest month of the period


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (no interpolation: every figure is a time some decision really took)."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(share * len(ordered)) - 1)], 3)


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def workload(entries: list[Entry], until: datetime | None = None) -> dict[str, Any]:
    """The figures, from the records of ACTIONS (in log order) of one deployment or of all."""
    raised = {e.details["alert_id"]: e for e in entries if e.action == "alert.raise"}
    decisions = [e for e in entries if e.action == "review.decide" and e.details["alert_id"] in raised]
    finals = {e.details["alert_id"]: e for e in entries if e.action in FINAL and e.details["alert_id"] in raised}
    per_reviewer: dict[str, dict[str, Any]] = {}
    for reviewer in sorted({e.actor for e in decisions}):
        mine = [e for e in decisions if e.actor == reviewer]
        hours = len({_hour(e.at) for e in mine})
        per_reviewer[reviewer] = {"decisions": len(mine), "active_hours": hours,
                                  "per_hour": round(len(mine) / hours, 2)}
    waits = [(e.at - raised[e.details["alert_id"]].at).total_seconds() for e in decisions]
    by_alert: dict[int, list[str]] = defaultdict(list)
    for e in decisions:
        by_alert[e.details["alert_id"]].append(e.details["decision"])
    several = [a for a in finals if len(by_alert[a]) > 1]
    disagreed = [a for a in several if len(set(by_alert[a])) > 1]
    inconclusive = sum(1 for e in decisions if e.details["decision"] == "inconclusive")
    return {
        "alerts": len(raised),
        "sightings_joined": sum(1 for e in entries if e.action == "alert.sighting"),
        "decisions": len(decisions),
        "decided_alerts": len(finals),
        "pending": len(raised) - len(finals),
        "per_reviewer": per_reviewer,
        "time_to_decision_s": {"p50": percentile(waits, 0.5), "p95": percentile(waits, 0.95), "n": len(waits)},
        "queue": queue_by_hour(raised, finals, until),
        "disagreement_share": round(len(disagreed) / len(several), 4) if several else None,
        "inconclusive_share": round(inconclusive / len(decisions), 4) if decisions else None,
    }


def queue_by_hour(raised: dict[int, Entry], finals: dict[int, Entry], until: datetime | None) -> list[list[Any]]:
    """[hour, alerts waiting at the end of it] from the first alert's hour to `until` (or the last record)."""
    if not raised:
        return []
    changes: Counter[datetime] = Counter()
    for e in raised.values():
        changes[_hour(e.at)] += 1
    for e in finals.values():
        changes[_hour(e.at)] -= 1
    hour = min(changes)
    last = _hour(until) if until is not None else max(changes)
    points, waiting = [], 0
    while hour <= last:
        waiting += changes.get(hour, 0)
        points.append([hour.isoformat(), waiting])
        hour += timedelta(hours=1)
    return points[-MAX_QUEUE_POINTS:]


def workload_items(selection: Selection, until: datetime | None = None) -> list[Item]:
    """The figures as report items (reviewer names stay internal: the public sees the distribution)."""
    figures = workload(selection.entries, until)
    seqs = selection.seqs
    q, timing = selection.query, figures["time_to_decision_s"]

    def item(key: str, label: str, value: Any, method: str) -> Item:
        return figure(key, label, value, query=q, method=method, seqs=seqs)

    return [
        item("review_alerts", "Alerts raised", figures["alerts"], "count of alert.raise rows"),
        item("review_sightings", "Sightings that joined an open alert (not new alerts)", figures["sightings_joined"],
             "count of alert.sighting rows"),
        item("review_decision_p50_s", "Time from alert to a reviewer's decision, median (seconds)", timing["p50"],
             "nearest-rank 50th percentile of review.decide at - alert.raise at"),
        item("review_decision_p95_s", "Time from alert to a reviewer's decision, 95th percentile (seconds)",
             timing["p95"], "nearest-rank 95th percentile of review.decide at - alert.raise at"),
        item("review_disagreement_share", "Share of decided alerts on which reviewers disagreed",
             figures["disagreement_share"], "alerts with a final row and ≥2 review.decide rows of different decisions "
             "/ alerts with a final row and ≥2 review.decide rows"),
        item("review_inconclusive_share", "Share of reviewer decisions that were inconclusive",
             figures["inconclusive_share"], "review.decide rows with decision inconclusive / review.decide rows"),
        table("review_per_reviewer", "Decisions per reviewer per active hour (internal)",
              ["reviewer", "decisions", "active hours", "per hour"],
              [[r, v["decisions"], v["active_hours"], v["per_hour"]] for r, v in figures["per_reviewer"].items()],
              source="audit", query=q, method="review.decide rows per actor / distinct clock hours with one",
              seqs=seqs, public=False),
        table("review_queue", "Alerts waiting for review at the end of each hour", ["hour", "waiting"],
              figures["queue"], source="audit", query=q,
              method="running sum per hour of alert.raise rows minus final alert.* rows", seqs=seqs),
    ]
