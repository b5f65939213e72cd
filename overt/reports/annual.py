"""The annual report: every deployment in a period and in total, and what became of every request to deploy.

It also gives the numbers the EU AI Act (Art. 5(6), with the notifications of Art. 5(4)) asks national
authorities to report on real-time remote biometric identification: the uses, the requests for
authorisation, and the decisions on them with their results.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from ..storage.models import ActivityCount, Deployment
from .data import (
    DECISIONS,
    FINAL,
    OPERATIONAL,
    Entry,
    Item,
    Report,
    Section,
    Selection,
    Sources,
    activity_items,
    alert_items,
    day_start,
    fact,
    figure,
    refusal_items,
    report,
    section,
)
from .workload import ACTIONS as WORKLOAD_ACTIONS
from .workload import workload_items

ACTIONS = (
    *DECISIONS,
    *OPERATIONAL,
    "gate.refused",
    "retention.purge",
    "audit.verify",
    "report.generate",
)
REVIEW = ("review.decide", *FINAL, "alert.outcome")
FATES = {"deployment.approve": "approved", "deployment.reject": "rejected", "deployment.return": "returned"}


def urgent_fates(starts: list[Entry], later: Selection) -> dict[str, list[Entry]]:
    """What became of each urgent start: the first decision after it, else a lapse, else still undecided."""
    fates: dict[str, list[Entry]] = {"approved": [], "rejected": [], "returned": [], "lapsed": [], "undecided": []}
    for start in starts:
        after = [e for e in later.entries if e.deployment_id == start.deployment_id and e.seq > start.seq]
        decision = next((e for e in after if e.action in FATES), None)
        lapse = next((e for e in after if e.action == "deployment.urgent_lapsed"), None)
        if decision is not None:
            fates[FATES[decision.action]].append(decision)
        elif lapse is not None:
            fates["lapsed"].append(lapse)
        else:
            fates["undecided"].append(start)
    return fates


def authorisation_items(
    period: Selection, later: Selection, deployments: set[int] | None, prefix: str, scope: str
) -> list[Item]:
    """Requests and decisions in the period (of `deployments` only, when given), and urgent starts' fates."""

    def rows(*actions: str) -> list[Entry]:
        return [e for e in period.where(*actions) if deployments is None or e.deployment_id in deployments]

    def count(key: str, label: str, entries: list[Entry], method: str, query: str = period.query) -> Item:
        return figure(
            prefix + key, label, len(entries), query=query, method=method + scope, seqs=[e.seq for e in entries]
        )

    starts = rows("deployment.urgent_start")
    fates = urgent_fates(starts, later)
    after = "the first deployment.approve/reject/return after each urgent start in the period"
    return [
        count(
            "requests",
            "Requests for authorisation (applications)",
            rows("deployment.apply"),
            "count of the deployment.apply rows",
        ),
        count(
            "amendments",
            "Amended applications (each needs a new decision)",
            rows("deployment.amend"),
            "count of the deployment.amend rows",
        ),
        count("decisions", "Decisions on requests", rows(*FATES), "count of the approve, reject and return rows"),
        count("approved", "Approved", rows("deployment.approve"), "count of the deployment.approve rows"),
        count("rejected", "Rejected", rows("deployment.reject"), "count of the deployment.reject rows"),
        count("returned", "Returned for changes", rows("deployment.return"), "count of the deployment.return rows"),
        count("revoked", "Revoked", rows("deployment.revoke"), "count of the deployment.revoke rows"),
        count(
            "urgent_starts",
            "Urgent starts (operated before a decision)",
            starts,
            "count of the deployment.urgent_start rows",
        ),
        count("urgent_approved", "… then approved", fates["approved"], after, f"{period.query}; {later.query}"),
        count(
            "urgent_rejected",
            "… then rejected (all they produced deleted)",
            fates["rejected"],
            after,
            f"{period.query}; {later.query}",
        ),
        count(
            "urgent_returned", "… then returned for changes", fates["returned"], after, f"{period.query}; {later.query}"
        ),
        count(
            "urgent_lapsed",
            "… lapsed without a decision in 24 hours (all they produced deleted)",
            fates["lapsed"],
            "urgent starts with no decision but a deployment.urgent_lapsed row after them",
            f"{period.query}; {later.query}",
        ),
        count(
            "urgent_undecided",
            "… still undecided",
            fates["undecided"],
            "urgent starts with neither a decision nor a lapse after them",
            f"{period.query}; {later.query}",
        ),
    ]


def deployment_section(
    sources: Sources, deployment: Deployment, since: datetime, until: datetime, query: str
) -> Section:
    d = deployment.id
    period = sources.audit(ACTIONS, deployment_id=d, since=since, until=until)
    decided = sources.audit(REVIEW, deployment_id=d, since=since)
    prefix = f"d{d}_"
    spec = deployment.spec
    items = [
        fact(prefix + "mode", "Mode", spec["mode"], source="records", query=query),
        fact(prefix + "purpose", "Purpose", spec["purpose"], source="records", query=query),
        fact(prefix + "status", "Status now", deployment.status, source="records", query=query),
        period.count(prefix + "searches", "Searches of still images", "identify"),
        period.count(prefix + "camera_runs", "Live recognition runs", "stream.start"),
        *activity_items(sources, deployment_id=d, since=since, until=until, prefix=prefix, per_camera=False),
        *alert_items(period, decided, prefix=prefix),
    ]
    return section(f"deployment-{d}", f"Deployment {d}: {deployment.name}", items)


def oversight_items(period: Selection) -> list[Item]:
    purges = period.where("retention.purge")
    deleted: Counter[str] = Counter()
    for e in purges:
        deleted.update(e.details["deleted"])
    checks = period.where("audit.verify")
    failed = [e for e in checks if not e.details["ok"]]
    return [
        *refusal_items(period),
        period.count("retention_runs", "Retention runs (deleting what outlived its retention)", "retention.purge"),
        fact(
            "retention_deleted",
            "Deleted by retention runs",
            dict(sorted(deleted.items())),
            source="audit",
            query=period.query,
            method="sum of deleted in the retention.purge rows",
            seqs=[e.seq for e in purges],
        ),
        period.count("audit_checks", "Verifications of the audit log", "audit.verify"),
        figure(
            "audit_check_failures",
            "… that found the log altered",
            len(failed),
            query=period.query,
            method="audit.verify rows with ok = false",
            seqs=[e.seq for e in failed],
        ),
        period.count("reports", "Reports generated", "report.generate"),
    ]


def build(sources: Sources, start: date, end: date, generated: dict[str, Any]) -> Report:
    """`start` and `end` are both included (UTC days)."""
    since, until = day_start(start), day_start(end + timedelta(days=1))
    period = sources.audit(ACTIONS, since=since, until=until)
    decided = sources.audit(REVIEW, since=since)
    later = sources.audit(DECISIONS, since=since)
    counted, counts_query = sources.rows(
        select(ActivityCount.deployment_id).where(ActivityCount.hour >= since, ActivityCount.hour < until).distinct()
    )
    ids = sorted({e.deployment_id for e in period.entries if e.deployment_id is not None} | {d for (d,) in counted})
    deployments, query = sources.rows(select(Deployment).where(Deployment.id.in_(ids)).order_by(Deployment.id))
    deployments = [d for (d,) in deployments]
    live = {d.id for d in deployments if d.spec["mode"] == "live"}
    used = [e for e in period.where(*OPERATIONAL) if e.deployment_id in live]
    live_scope = "; only deployments whose specification's mode is live (" + query + ")"
    totals = [
        figure(
            "deployments",
            "Deployments active in the period",
            len(ids),
            query=f"{period.query}; {counts_query}",
            method="distinct deployment_id of the audit rows and of the activity counts in the period",
            seqs=[e.seq for e in period.entries if e.deployment_id is not None],
        ),
        period.count("searches", "Searches of still images", "identify"),
        period.count("camera_runs", "Live recognition runs", "stream.start"),
        *activity_items(sources, since=since, until=until, per_camera=False),
        *alert_items(period, decided),
    ]
    ai_act = [
        figure(
            "ai_act_uses",
            "Uses of real-time remote biometric identification (live deployments that operated)",
            len({e.deployment_id for e in used} | (live & {d for (d,) in counted})),
            query=f"{period.query}; {counts_query}",
            method="distinct deployment_id of the identify/stream/alert rows and of the activity counts" + live_scope,
            seqs=[e.seq for e in used],
        ),
        *authorisation_items(period, later, live, "ai_act_", live_scope),
    ]
    return report(
        "annual",
        f"Annual report {start.isoformat()} to {end.isoformat()}",
        {"from": start.isoformat(), "to": end.isoformat()},
        sources,
        generated,
        [
            section(
                "period",
                "Period",
                [
                    fact("from", "From (UTC, inclusive)", start.isoformat(), source="parameters"),
                    fact("to", "To (UTC, inclusive)", end.isoformat(), source="parameters"),
                ],
            ),
            section(
                "authorisation",
                "Requests for authorisation and their outcomes",
                authorisation_items(period, later, None, "", ""),
            ),
            section("ai_act", "EU AI Act Art. 5(6): real-time remote biometric identification", ai_act),
            section("totals", "All deployments", totals),
            *(deployment_section(sources, d, since, until, query) for d in deployments),
            section("oversight", "Oversight", oversight_items(period)),
            section("review", "Human review: workload and quality",
                    workload_items(sources.audit(WORKLOAD_ACTIONS, since=since, until=until), until)),
        ],
    )
