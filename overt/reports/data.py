"""What every report is made of, and the read-only sources its figures are computed from.

A report is a JSON document: metadata, then sections of items. Every item says where its value came
from, so anyone can re-compute it: `source` (audit, records, calibration, config, system), `query`
(the SQL exactly as it ran, literal values included, or the file and key it was read from), `method`
(how the value follows from the rows, when it is more than a count) and `seqs` (the audit records
it was computed from). Audit queries are bounded by the log's head when the report was generated
(`seq <= last_seq`), so records appended later never change an audit figure; tables (live counts,
the camera registry, watchlists) can change, and verification says which of those did.

Items carry an explicit `public` flag (and tables their `public_columns`): `public_view` keeps only
those, which is what the public site may show.
"""

from __future__ import annotations

import hashlib
import json
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import Executable, Select, func, select
from sqlalchemy.orm import Session

from ..audit.canonical import canonical_json
from ..storage.models import ActivityCount, AuditRecord

FORMAT = "overt-report/1"
Item = dict[str, Any]
Section = dict[str, Any]
Report = dict[str, Any]

# Actions that mean a deployment was doing its work (not preparing or being decided on).
OPERATIONAL = ("identify", "stream.start", "stream.stop", "alert.raise")
FINAL = {"alert.confirmed": "confirmed", "alert.rejected": "rejected", "alert.inconclusive": "inconclusive"}
DECISIONS = (
    "deployment.apply",
    "deployment.amend",
    "deployment.approve",
    "deployment.reject",
    "deployment.return",
    "deployment.revoke",
    "deployment.urgent_start",
    "deployment.urgent_lapsed",
)


# --- items ---------------------------------------------------------------------------------------


def _item(
    kind: str,
    key: str,
    label: str,
    value: Any,
    *,
    source: str,
    query: str,
    method: str,
    seqs: Iterable[int],
    public: bool,
    public_columns: Sequence[str] | None = None,
    missing: bool = False,
) -> Item:
    return {
        "kind": kind,
        "key": key,
        "label": label,
        "value": value,
        "source": source,
        "query": query,
        "method": method,
        "seqs": sorted(set(seqs)),
        "public": public,
        "public_columns": list(public_columns) if public_columns is not None else None,
        "missing": missing,
    }


def figure(
    key: str,
    label: str,
    value: int | float | None,
    *,
    source: str = "audit",
    query: str = "",
    method: str = "count of the rows",
    seqs: Iterable[int] = (),
    public: bool = True,
) -> Item:
    """A number, with the query and audit records it was computed from."""
    return _item("figure", key, label, value, source=source, query=query, method=method, seqs=seqs, public=public)


def fact(
    key: str,
    label: str,
    value: Any,
    *,
    source: str,
    query: str = "",
    method: str = "",
    seqs: Iterable[int] = (),
    public: bool = True,
    missing: bool = False,
) -> Item:
    """A statement (text, date, list or mapping) and where it was read."""
    return _item(
        "fact", key, label, value, source=source, query=query, method=method, seqs=seqs, public=public, missing=missing
    )


def table(
    key: str,
    label: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    source: str,
    query: str = "",
    method: str = "",
    seqs: Iterable[int] = (),
    public: bool = True,
    public_columns: Sequence[str] | None = None,
) -> Item:
    """Rows under named columns; `public_columns` (all when None) is what the public version keeps."""
    value = {"columns": list(columns), "rows": [list(r) for r in rows]}
    return _item(
        "table",
        key,
        label,
        value,
        source=source,
        query=query,
        method=method,
        seqs=seqs,
        public=public,
        public_columns=public_columns,
    )


def section(key: str, title: str, items: Iterable[Item]) -> Section:
    return {"key": key, "title": title, "items": list(items)}


def report(
    kind: str,
    title: str,
    parameters: dict[str, Any],
    sources: Sources,
    generated: dict[str, Any],
    sections: Iterable[Section],
) -> Report:
    """The document: what it is, over which log (`audit`: seq range and head hash), and its sections."""
    sections = list(sections)
    return {
        "format": FORMAT,
        "kind": kind,
        "title": title,
        "parameters": parameters,
        "generated": generated,
        "audit": sources.range(),
        "visibility": "internal",
        "missing": [i["key"] for s in sections for i in s["items"] if i["missing"]],
        "sections": sections,
    }


def public_view(full: Report) -> Report:
    """Only the items marked public (tables cut to their public columns), and not who generated it."""
    sections = []
    for sec in full["sections"]:
        items = [_public_item(i) for i in sec["items"] if i["public"]]
        if items:
            sections.append({**sec, "items": items})
    return {
        **full,
        "generated": {"at": full["generated"]["at"]},
        "visibility": "public",
        "missing": [i["key"] for s in sections for i in s["items"] if i["missing"]],
        "sections": sections,
    }


def _public_item(item: Item) -> Item:
    keep = item["public_columns"]
    if item["kind"] != "table" or keep is None:
        return item
    columns = item["value"]["columns"]
    index = [columns.index(c) for c in keep]
    rows = [[row[i] for i in index] for row in item["value"]["rows"]]
    return {**item, "value": {"columns": list(keep), "rows": rows}}


def report_sha256(data: Report) -> str:
    """The hash recorded in the `report.generate` audit event: sha256 of the canonical JSON (= the .json file)."""
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


# --- small computations, named so the `method` of a figure can say what was done --------------------


def iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat(timespec="seconds") if at is not None else None


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def median_and_max(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return round(statistics.median(values), 1), round(max(values), 1)


# --- the sources --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One audit record as reports use it."""

    seq: int
    at: datetime
    actor: str
    action: str
    deployment_id: int | None
    outcome: str
    details: dict[str, Any]


@dataclass(frozen=True)
class Selection:
    """Audit records and the query that selected them."""

    entries: list[Entry]
    query: str

    @property
    def seqs(self) -> list[int]:
        return [e.seq for e in self.entries]

    def where(self, *actions: str) -> list[Entry]:
        return [e for e in self.entries if e.action in actions]

    def count(self, key: str, label: str, *actions: str, public: bool = True) -> Item:
        """A figure counting this selection's records of `actions`."""
        rows = self.where(*actions)
        method = "count of the rows" + (f" with action {' or '.join(actions)}" if actions else "")
        return figure(key, label, len(rows), query=self.query, method=method, seqs=[e.seq for e in rows], public=public)


class Sources:
    """The audit log up to a fixed record (`last_seq`) and the tables, read in one session.

    Every query is shown as it ran, so a reader can run it again (`query` in each item).
    """

    def __init__(self, session: Session, last_seq: int) -> None:
        self.session = session
        self.last_seq = last_seq

    @classmethod
    def at_head(cls, session: Session) -> Sources:
        """Bounded by the log as it is now: the report's own `report.generate` record comes after."""
        return cls(session, session.scalar(select(func.coalesce(func.max(AuditRecord.seq), 0))) or 0)

    def range(self) -> dict[str, Any]:
        first = self.session.scalar(select(func.min(AuditRecord.seq)).where(AuditRecord.seq <= self.last_seq))
        return {"first_seq": first or 0, "last_seq": self.last_seq, "head_hash": self.hash_at(self.last_seq)}

    def hash_at(self, seq: int) -> str | None:
        return self.session.scalar(select(AuditRecord.hash).where(AuditRecord.seq == seq))

    def sql(self, statement: Executable) -> str:
        """The statement as this database ran it, with its values in place, on one line."""
        compiled = statement.compile(dialect=self.session.get_bind().dialect, compile_kwargs={"literal_binds": True})
        return " ".join(str(compiled).split())

    def audit(
        self,
        actions: Iterable[str],
        *,
        deployment_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Selection:
        """Records of `actions` (filtered by deployment and time, since <= at < until) up to `last_seq`."""
        query: Select[Any] = select(
            AuditRecord.seq,
            AuditRecord.at,
            AuditRecord.actor,
            AuditRecord.action,
            AuditRecord.deployment_id,
            AuditRecord.outcome,
            AuditRecord.details,
        ).where(AuditRecord.action.in_(sorted(set(actions))), AuditRecord.seq <= self.last_seq)
        if deployment_id is not None:
            query = query.where(AuditRecord.deployment_id == deployment_id)
        if since is not None:
            query = query.where(AuditRecord.at >= since)
        if until is not None:
            query = query.where(AuditRecord.at < until)
        query = query.order_by(AuditRecord.seq)
        entries = [
            Entry(seq, at, actor, action, dep, outcome, json.loads(details))
            for seq, at, actor, action, dep, outcome, details in self.session.execute(query)
        ]
        return Selection(entries, self.sql(query))

    def scalar(self, statement: Select[Any]) -> tuple[Any, str]:
        return self.session.scalar(statement), self.sql(statement)

    def rows(self, statement: Select[Any]) -> tuple[list[Any], str]:
        return list(self.session.execute(statement)), self.sql(statement)


# --- what the installation says about itself (gathered by the service layer) -----------------------------


@dataclass(frozen=True)
class SystemInfo:
    """The software, models, calibration and deployer's statements a report cites but no table holds.

    calibration: the calibration file's content (`Calibration.to_json()`); config: accountability.yaml's
    mapping ({} when the file is absent), `config_path` where it was looked for.
    """

    version: str
    models: dict[str, Any]
    calibration: dict[str, Any]
    calibration_file: str
    calibration_sha256: str
    config: dict[str, Any]
    config_path: str


def calibration_items(system: SystemInfo) -> list[Item]:
    """The threshold's evidence: which data, which target, which method, and the error rates per group."""
    cal = system.calibration
    where = f"calibration file {system.calibration_file} (sha256 {system.calibration_sha256})"
    dataset = cal.get("dataset", {})
    overall = cal.get("extra", {}).get("overall", {})
    groups = cal.get("groups", {})
    unsupported = sorted(g for g, v in groups.items() if not v.get("supported", False))
    rows = [
        [
            name,
            g.get("genuine"),
            g.get("impostor"),
            g.get("false_matches"),
            g.get("false_non_matches"),
            g.get("fmr"),
            g.get("fnmr"),
            g.get("supported"),
        ]
        for name, g in sorted(groups.items())
    ]

    def item(key: str, label: str, value: Any, path: str) -> Item:
        return fact(key, label, value, source="calibration", query=f"{where}: {path}")

    return [
        item("calibration_model", "Model calibrated", cal.get("model"), "model"),
        item("calibration_threshold", "Calibrated threshold", cal.get("threshold"), "threshold"),
        item("calibration_target_fmr", "Target false match rate (FMR)", cal.get("target_fmr"), "target_fmr"),
        item("calibration_method", "Method", cal.get("method"), "method"),
        item(
            "calibration_normalisation",
            "Score normalisation",
            cal.get("normalisation") or "none (raw cosine similarity)",
            "normalisation",
        ),
        item("calibration_date", "Date of the calibration", cal.get("created"), "created"),
        item(
            "calibration_dataset",
            "Evaluation dataset",
            {k: dataset.get(k) for k in ("name", "sha256", "n_identities", "n_images", "grouped_by")},
            "dataset",
        ),
        item("calibration_overall", "Overall error rates at the threshold", overall, "extra.overall"),
        item(
            "calibration_limiting_group",
            "Group that set the threshold",
            cal.get("extra", {}).get("limiting_group"),
            "extra.limiting_group",
        ),
        table(
            "calibration_groups",
            "Error rates per demographic group at the threshold",
            [
                "group",
                "genuine pairs",
                "impostor pairs",
                "false matches",
                "false non-matches",
                "FMR",
                "FNMR",
                "supported",
            ],
            rows,
            source="calibration",
            query=f"{where}: groups",
        ),
        item(
            "calibration_unsupported_groups",
            "Groups with too few pairs to support the target FMR",
            unsupported,
            "groups[*].supported == false",
        ),
        item("calibration_notes", "Notes of the calibration", cal.get("notes", ""), "notes"),
    ]


# --- figures shared by the deployment record and the annual report ---------------------------------------


def refusal_items(sel: Selection) -> list[Item]:
    """What the gate refused (from the selection's `gate.refused` rows), by operation and rule."""
    refused = sel.where("gate.refused")
    counts = Counter((e.details["operation"], e.details["rule"]) for e in refused)
    return [
        sel.count("refusals", "Operations refused by the gate", "gate.refused"),
        table(
            "refusals_by_rule",
            "Refusals by operation and rule",
            ["operation", "rule", "refusals"],
            [[operation, rule, n] for (operation, rule), n in sorted(counts.items())],
            source="audit",
            query=sel.query,
            method="gate.refused rows grouped by operation and rule",
            seqs=[e.seq for e in refused],
        ),
    ]


def alert_items(raised: Selection, decided: Selection, *, prefix: str = "") -> list[Item]:
    """Alerts and what review made of them.

    raised: the `alert.raise` records in scope; decided: records holding their review (`review.decide`,
    the final `alert.*`, `alert.outcome`), of which only those about the alerts in `raised` count.
    """
    alerts = {e.details["alert_id"]: e for e in raised.where("alert.raise")}
    about = [e for e in decided.entries if e.details.get("alert_id") in alerts]
    final: dict[int, Entry] = {}
    for e in about:
        if e.action in FINAL:
            final.setdefault(e.details["alert_id"], e)
    outcome: dict[int, Entry] = {e.details["alert_id"]: e for e in about if e.action == "alert.outcome"}
    reviews = [e for e in about if e.action == "review.decide"]
    scoped = "; only rows whose alert_id is one of the alerts raised (see `alerts`)"
    both = raised.query if raised.query == decided.query else f"{raised.query}; {decided.query}"

    def by_status(key: str, label: str, status: str) -> Item:
        rows = [e for e in final.values() if FINAL[e.action] == status]
        return figure(
            prefix + key,
            label,
            len(rows),
            query=decided.query,
            method=f"count of the alert.{status} rows{scoped}",
            seqs=[e.seq for e in rows],
        )

    pending = [e for a, e in alerts.items() if a not in final]
    durations = [(final[a].at - alerts[a].at).total_seconds() for a in final]
    median, longest = median_and_max(durations)
    timing_seqs = [s for a in final for s in (alerts[a].seq, final[a].seq)]
    timing = "(final review record's at - alert.raise record's at), in seconds, over the decided alerts"
    actions: dict[str, int] = {}
    for e in outcome.values():
        actions[e.details["action_taken"]] = actions.get(e.details["action_taken"], 0) + 1
    return [
        figure(
            prefix + "alerts",
            "Alerts raised (candidate matches sent to review)",
            len(alerts),
            query=raised.query,
            method="count of the alert.raise rows",
            seqs=[e.seq for e in alerts.values()],
        ),
        by_status("confirmed", "Confirmed matches (true alerts)", "confirmed"),
        by_status("rejected", "Rejected by reviewers (false alerts)", "rejected"),
        by_status("inconclusive", "Inconclusive (treated as no match)", "inconclusive"),
        figure(
            prefix + "pending",
            "Awaiting review",
            len(pending),
            query=both,
            method="alerts raised without a final alert.confirmed/rejected/inconclusive row",
            seqs=[e.seq for e in pending],
        ),
        figure(
            prefix + "reviews",
            "Individual reviewer decisions",
            len(reviews),
            query=decided.query,
            method=f"count of the review.decide rows{scoped}",
            seqs=[e.seq for e in reviews],
        ),
        figure(
            prefix + "review_median_s",
            "Time from alert to final review decision, median (seconds)",
            median,
            query=both,
            method="median of " + timing,
            seqs=timing_seqs,
        ),
        figure(
            prefix + "review_max_s",
            "Time from alert to final review decision, longest (seconds)",
            longest,
            query=both,
            method="maximum of " + timing,
            seqs=timing_seqs,
        ),
        figure(
            prefix + "outcomes",
            "Confirmed alerts with an outcome recorded by the operator",
            len(outcome),
            query=decided.query,
            method=f"count of distinct alert_id in the alert.outcome rows{scoped}",
            seqs=[e.seq for e in outcome.values()],
        ),
        table(
            prefix + "outcome_actions",
            "Outcomes recorded (operators' words; internal)",
            ["action taken", "alerts"],
            sorted(actions.items()),
            source="audit",
            query=decided.query,
            method=f"the latest alert.outcome row per alert, grouped by action_taken{scoped}",
            seqs=[e.seq for e in outcome.values()],
            public=False,
        ),
    ]


def activity_items(
    sources: Sources,
    *,
    deployment_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    prefix: str = "",
    per_camera: bool = True,
) -> list[Item]:
    """Faces seen and frames processed: the live workers' hourly counts (the only trace of unmatched faces)."""
    conditions = []
    if deployment_id is not None:
        conditions.append(ActivityCount.deployment_id == deployment_id)
    if since is not None:
        conditions.append(ActivityCount.hour >= since)
    if until is not None:
        conditions.append(ActivityCount.hour < until)
    totals, query = sources.rows(
        select(
            func.coalesce(func.sum(ActivityCount.faces_seen), 0),
            func.coalesce(func.sum(ActivityCount.frames), 0),
            func.coalesce(func.sum(ActivityCount.tracks), 0),
        ).where(*conditions)
    )
    faces, frames, tracks = (int(v) for v in totals[0])
    method = "sum over the hourly rows"
    items = [
        figure(
            prefix + "faces_seen",
            "Faces seen (face detections processed)",
            faces,
            source="records",
            query=query,
            method=method,
        ),
        figure(
            prefix + "tracks",
            "People tracked (distinct face tracks)",
            tracks,
            source="records",
            query=query,
            method=method,
        ),
        figure(prefix + "frames", "Video frames processed", frames, source="records", query=query, method=method),
    ]
    if per_camera:
        rows, camera_query = sources.rows(
            select(
                ActivityCount.camera_id,
                func.sum(ActivityCount.frames),
                func.sum(ActivityCount.faces_seen),
                func.sum(ActivityCount.tracks),
            )
            .where(*conditions)
            .group_by(ActivityCount.camera_id)
            .order_by(ActivityCount.camera_id)
        )
        items.append(
            table(
                prefix + "activity_per_camera",
                "Per camera",
                ["camera", "frames", "faces seen", "tracks"],
                [[c, int(f), int(s), int(t)] for c, f, s, t in rows],
                source="records",
                query=camera_query,
                method=method,
            )
        )
    return items
