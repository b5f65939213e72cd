"""The deployment record: what was authorised, by whom, where, against what, and what came of it.

Published after each deployment and kept live while it runs. Its figures include at least those UK
police forces publish for live facial recognition (date, time, location, watchlist size, faces
processed, alerts, true and false alerts, outcomes); every one is traced to the audit log or a table.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from ..governance import deployments as deployment_rules
from ..governance.gate import effective_threshold
from ..governance.spec import DeploymentSpec
from ..storage.models import Camera, Deployment, Subject, Watchlist
from .data import (
    DECISIONS,
    FINAL,
    OPERATIONAL,
    Item,
    Report,
    Selection,
    Sources,
    SystemInfo,
    activity_items,
    alert_items,
    calibration_items,
    fact,
    figure,
    iso,
    refusal_items,
    report,
    section,
    table,
)

ACTIONS = (*DECISIONS, *OPERATIONAL, *FINAL, "review.decide", "alert.outcome", "gate.refused", "subject.enroll")
CAMERA_COLUMNS = ["camera", "name", "lat", "lon", "direction", "mount", "zone", "operator", "registered"]


def spec_items(deployment: Deployment, query: str, spec_seqs: list[int]) -> list[Item]:
    """The approved specification's facts; `spec_seqs` are the audit records carrying its sha256."""
    spec = deployment.spec

    def item(key: str, label: str, value: Any, *, public: bool = True) -> Item:
        return fact(key, label, value, source="records", query=query, seqs=spec_seqs, public=public)

    return [
        item("deployment_id", "Deployment", deployment.id),
        item("name", "Name", deployment.name),
        item("status", "Status now", deployment.status),
        item("mode", "Mode", spec["mode"]),
        item("purpose", "Purpose", spec["purpose"]),
        item("legal_basis", "Legal basis", spec["legal_basis"]),
        item("public_notice", "Public notice", spec["public_notice"]),
        table(
            "windows",
            "Authorised time windows (UTC)",
            ["start", "end"],
            [[w["start"], w["end"]] for w in spec["windows"]],
            source="records",
            query=query,
            seqs=spec_seqs,
        ),
        item("reviewers_required", "Reviewers required to confirm an alert", spec["reviewers_required"]),
        item("retention_days", "Retention (days)", spec["retention_days"]),
        table(
            "assessments",
            "Impact assessments",
            ["kind", "reference", "sha256"],
            [[a["kind"], a["ref"], a["sha256"]] for a in spec["assessments"]],
            source="records",
            query=query,
            seqs=spec_seqs,
        ),
        item("applicant", "Applicant", deployment.applicant, public=False),
    ]


def camera_items(sources: Sources, camera_ids: list[str]) -> list[Item]:
    """Names and locations from the camera registry (never the stream address, which may hold credentials)."""
    rows, query = sources.rows(select(Camera).where(Camera.id.in_(camera_ids)).order_by(Camera.id))
    found = {c.id: c for (c,) in rows}
    cells = []
    for camera_id in camera_ids:
        c = found.get(camera_id)
        if c is None:
            cells.append([camera_id, None, None, None, None, None, None, None, False])
        else:
            cells.append([c.id, c.name, c.lat, c.lon, c.direction, c.mount, c.zone, c.operator, True])
    return [
        table(
            "cameras",
            "Cameras (from the camera registry)",
            CAMERA_COLUMNS,
            cells,
            source="records",
            query=query,
            method="one row per camera named in the specification; registered=false when the registry lacks it",
        )
    ]


def authorisation_items(deployment: Deployment, sel: Selection) -> list[Item]:
    decisions = sel.where(*DECISIONS)
    rows = [
        [
            e.seq,
            iso(e.at),
            e.action.removeprefix("deployment."),
            e.actor,
            e.details.get("reason") or e.details.get("justification") or "",
            e.details.get("spec_sha256", ""),
        ]
        for e in decisions
    ]
    authorising = sel.where("deployment.approve") or sel.where("deployment.urgent_start")
    last = authorising[-1] if authorising else None
    seqs = [last.seq] if last else []
    matches = (
        last is not None
        and last.details.get("spec_sha256")
        == DeploymentSpec.model_validate(deployment.spec).sha256()
        == deployment.spec_sha256
    )
    return [
        table(
            "authorisation_history",
            "Applications and decisions",
            ["seq", "at", "event", "by", "reason", "spec_sha256"],
            rows,
            source="audit",
            query=sel.query,
            method="rows with action deployment.*, in order",
            seqs=[e.seq for e in decisions],
            public_columns=["seq", "at", "event", "spec_sha256"],
        ),
        fact(
            "authorised_as",
            "Authorising decision",
            last.action.removeprefix("deployment.") if last else None,
            source="audit",
            query=sel.query,
            method="the latest deployment.approve row, else deployment.urgent_start",
            seqs=seqs,
        ),
        fact(
            "authorised_at", "Authorised at", iso(last.at) if last else None, source="audit", query=sel.query, seqs=seqs
        ),
        fact(
            "authorised_by",
            "Authorised by",
            last.actor if last else None,
            source="audit",
            query=sel.query,
            seqs=seqs,
            public=False,
        ),
        fact(
            "authorisation_reason",
            "Reasons given",
            (last.details.get("reason") or last.details.get("justification")) if last else None,
            source="audit",
            query=sel.query,
            seqs=seqs,
            public=False,
        ),
        fact(
            "spec_sha256",
            "Specification sha256",
            deployment.spec_sha256,
            source="records",
            query=f"deployments.spec_sha256 of deployment {deployment.id}",
        ),
        fact(
            "spec_matches_authorisation",
            "The specification in force is the one authorised",
            matches,
            source="audit",
            query=sel.query,
            method="sha256 of the stored specification == spec_sha256 of the authorising record",
            seqs=seqs,
        ),
    ]


def watchlist_items(sources: Sources, deployment: Deployment, sel: Selection) -> list[Item]:
    spec = deployment.spec
    rows, query = sources.rows(
        select(Watchlist.name, Watchlist.categories, func.count(Subject.id))
        .outerjoin(Subject, Subject.watchlist_id == Watchlist.id)
        .where(Watchlist.name.in_(spec["watchlists"]))
        .group_by(Watchlist.id)
        .order_by(Watchlist.name)
    )
    # The public figure is counted by watchlist id, so its query does not publish the watchlists' names.
    ids = sorted(sources.session.scalars(select(Watchlist.id).where(Watchlist.name.in_(spec["watchlists"]))))
    size, size_query = sources.scalar(select(func.count(Subject.id)).where(Subject.watchlist_id.in_(ids)))
    return [
        figure(
            "watchlist_size",
            "Watchlist size (subjects on the deployment's watchlists now)",
            size,
            source="records",
            query=size_query,
            method="count of the subjects on the watchlists the specification names",
        ),
        fact(
            "max_watchlist_size",
            "Largest watchlist size authorised",
            spec["max_watchlist_size"],
            source="records",
            query=f"deployments.spec.max_watchlist_size of deployment {deployment.id}",
        ),
        fact(
            "categories",
            "Categories of people authorised",
            spec["categories"],
            source="records",
            query=f"deployments.spec.categories of deployment {deployment.id}",
        ),
        table(
            "watchlists",
            "Watchlists (internal)",
            ["watchlist", "categories", "subjects now"],
            [[name, list(categories or []), n] for name, categories, n in rows],
            source="records",
            query=query,
            public=False,
        ),
        sel.count("enrolled", "Subjects enrolled under this deployment", "subject.enroll"),
    ]


def threshold_items(deployment: Deployment, sel: Selection, system: SystemInfo) -> list[Item]:
    used = sel.where("identify", "alert.raise", "stream.start")
    applied = sorted({e.details["threshold"] for e in used})
    calibrated = system.calibration["threshold"]
    return [
        fact(
            "threshold_requested",
            "Threshold in the specification",
            deployment.spec.get("threshold"),
            source="records",
            query=f"deployments.spec.threshold of deployment {deployment.id}",
        ),
        fact(
            "threshold_effective",
            "Threshold in force",
            effective_threshold(deployment, calibrated),
            source="records",
            query=f"deployments.spec.threshold of deployment {deployment.id}; calibration",
            method="the specification's threshold, never below the calibrated one",
        ),
        fact(
            "thresholds_applied",
            "Thresholds actually applied",
            applied,
            source="audit",
            query=sel.query,
            method="distinct threshold of the identify, alert.raise and stream.start rows",
            seqs=[e.seq for e in used],
        ),
        *calibration_items(system),
    ]


def activity(sources: Sources, deployment: Deployment, sel: Selection) -> list[Item]:
    worked = sel.where(*OPERATIONAL)
    first, last = (worked[0], worked[-1]) if worked else (None, None)
    return [
        fact(
            "first_activity",
            "First operation (UTC)",
            iso(first.at) if first else None,
            source="audit",
            query=sel.query,
            method=f"the first row with action {', '.join(OPERATIONAL)}",
            seqs=[first.seq] if first else [],
        ),
        fact(
            "last_activity",
            "Last operation (UTC)",
            iso(last.at) if last else None,
            source="audit",
            query=sel.query,
            method=f"the last row with action {', '.join(OPERATIONAL)}",
            seqs=[last.seq] if last else [],
        ),
        sel.count("camera_runs", "Live recognition runs started on cameras", "stream.start"),
        sel.count("searches", "Searches of still images (retrospective)", "identify"),
        *activity_items(sources, deployment_id=deployment.id),
    ]


def oversight_items(sel: Selection, rejected: Item, faces: Item) -> list[Item]:
    lapsed = sel.where("deployment.urgent_lapsed")
    deleted: dict[str, int] = {}
    for e in lapsed:
        for kind, n in e.details["deleted"].items():
            deleted[kind] = deleted.get(kind, 0) + n
    rate = rejected["value"] / faces["value"] if faces["value"] else None
    return [
        figure(
            "false_alert_rate",
            "False alert rate (false alerts per face seen)",
            rate,
            source="audit+records",
            query=f"{rejected['query']}; {faces['query']}",
            method="rejected ÷ faces_seen (none when no faces were counted)",
            seqs=rejected["seqs"],
        ),
        *refusal_items(sel),
        fact(
            "deleted_after_lapse",
            "Deleted because an urgent start was not approved",
            deleted or None,
            source="audit",
            query=sel.query,
            method="sum of deleted in the deployment.urgent_lapsed rows",
            seqs=[e.seq for e in lapsed],
        ),
    ]


def build(sources: Sources, deployment_id: int, system: SystemInfo, generated: dict[str, Any]) -> Report:
    deployment = deployment_rules.get(sources.session, deployment_id)
    spec_query = sources.sql(select(Deployment).where(Deployment.id == deployment_id))
    sel = sources.audit(ACTIONS, deployment_id=deployment_id)
    spec_seqs = [e.seq for e in sel.where(*DECISIONS) if e.details.get("spec_sha256") == deployment.spec_sha256]
    alerts = alert_items(sel, sel)
    work = activity(sources, deployment, sel)
    rejected = next(i for i in alerts if i["key"] == "rejected")
    faces = next(i for i in work if i["key"] == "faces_seen")
    return report(
        "deployment",
        f"Deployment record: {deployment.name}",
        {"deployment_id": deployment_id},
        sources,
        generated,
        [
            section("deployment", "The deployment", spec_items(deployment, spec_query, spec_seqs)),
            section("place", "Place and cameras", camera_items(sources, deployment.spec.get("cameras", []))),
            section("authorisation", "Authorisation", authorisation_items(deployment, sel)),
            section("watchlists", "Watchlists", watchlist_items(sources, deployment, sel)),
            section("threshold", "Threshold and its calibration evidence", threshold_items(deployment, sel, system)),
            section("activity", "What it did", work),
            section("alerts", "Alerts and human review", alerts),
            section("oversight", "Errors and refusals", oversight_items(sel, rejected, faces)),
        ],
    )
