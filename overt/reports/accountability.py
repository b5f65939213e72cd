"""The accountability report for the system as installed (the kind RCW 43.386.020 requires).

What the software can say about itself is derived (version, models, calibration and its demographic
audit, review rules, retention, figures from the log); what only the deploying agency can say is read
from `OVERT_HOME/accountability.yaml` and flagged as missing in the report when absent.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select

from ..governance.permissions import PERMISSIONS
from ..governance.review import DECISIONS as REVIEW_DECISIONS
from ..governance.spec import LAWFUL_PURPOSES, Retention
from ..storage.models import Camera, Deployment
from .data import (
    FINAL,
    Item,
    Report,
    Sources,
    SystemInfo,
    alert_items,
    calibration_items,
    fact,
    figure,
    report,
    section,
    table,
)

# accountability.yaml: key -> what it answers. Every key is a string (or a list of strings).
CONFIG_KEYS: dict[str, str] = {
    "agency": "Agency using the system (the deployer)",
    "contact": "Contact for questions about this report",
    "vendor": "Vendor or supplier of the facial recognition service (and who operates it, if a third party)",
    "intended_use": "Intended use, and the decisions the system is used to support",
    "benefits": "Intended benefits, with the data or research that shows them",
    "capabilities_beyond_use": "Reasonably foreseeable capabilities outside the intended use",
    "limitations": "Known limitations besides those measured",
    "data_sharing": "Whether, and with whom, data is shared",
    "records_management": "How records are kept, updated and secured",
    "testing": "Testing before deployment and at intervals afterwards",
    "error_rate_policy": "How error rates above 1% found by independent testing are addressed",
    "civil_liberties_impacts": "Potential impacts on civil rights and liberties, including disparate impacts",
    "mitigations": "Steps taken to mitigate those impacts",
    "training": "Training of operators and reviewers",
    "complaint_procedure": "How to complain or give feedback, and how complaints are handled",
    "market_surveillance_authority": "Market-surveillance authority notified of deployments",
    "data_protection_authority": "Data-protection authority notified of deployments",
}

CAPABILITIES = (
    "Searches faces against watchlists (1:N identification): live on registered cameras, or on still images "
    "for a named case. Every search is bound to an authorised deployment (purpose, place, time windows, "
    "watchlists, categories of people, threshold) checked before each operation. Results are candidate "
    "alerts for human review, never decisions; faces that match nothing are not stored, only counted."
)
DECISION_SUPPORT = (
    "Decision support only: a candidate is actionable only when every required reviewer confirms it. "
    "Reviewers decide independently and blind to each other's decisions until the alert is final; a unanimous "
    "rejection is a false alert, any other disagreement is inconclusive and treated as no match. Operators may "
    "act, and record the outcome, only on confirmed alerts."
)
DATA_KEPT = (
    "Inputs: video frames from registered cameras (live) and still images supplied for a case "
    "(retrospective). Kept: watchlist templates and reference images, encrypted; alerts with their face crop "
    "and scene thumbnail, encrypted, for each deployment's retention period; hourly counts of faces seen. "
    "Not kept: unmatched faces, their images and templates. Every operation and refusal is recorded in a "
    "hash-chained, signed audit log."
)


class ConfigError(ValueError):
    """accountability.yaml is unreadable or not a mapping of the documented keys to text."""


def load_config(path: Path) -> dict[str, Any]:
    """The file's mapping; {} when the file does not exist (every item is then flagged missing)."""
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to text")
    for key, value in data.items():
        ok = isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
        if not ok:
            raise ConfigError(f"{path}: {key} must be text or a list of texts")
    return data


def config_item(system: SystemInfo, key: str, *, public: bool = True) -> Item:
    """A statement only the agency can make; missing (and flagged) when absent or empty."""
    value = system.config.get(key)
    missing = value in (None, "", [])
    return fact(
        key,
        CONFIG_KEYS[key],
        None if missing else value,
        source="config",
        query=f"{system.config_path}: {key}",
        public=public,
        missing=missing,
    )


def _service(system: SystemInfo) -> list[Item]:
    models = system.models
    files = [[f["role"], f["name"], f.get("sha256")] for f in models.get("files", [])]
    return [
        config_item(system, "agency"),
        config_item(system, "contact"),
        config_item(system, "vendor"),
        fact(
            "software",
            "Software",
            "Overt (open source, AGPL-3.0-or-later)",
            source="system",
            query="package metadata of overt",
        ),
        fact("version", "Version", system.version, source="system", query="importlib.metadata.version('overt')"),
        fact("detector", "Face detector", models.get("detector"), source="system", query="LabService.models()"),
        fact(
            "embedder", "Face recognition model", models.get("embedder"), source="system", query="LabService.models()"
        ),
        fact(
            "cohort",
            "Score-normalisation cohort (reference faces, kept as embeddings only)",
            {k: (models.get("cohort") or {}).get(k) for k in ("source", "licence", "attribution", "size", "sha256")}
            if models.get("cohort")
            else "none: raw scores",
            source="system",
            query="LabService.models(): cohort",
        ),
        table(
            "model_files",
            "Model files",
            ["role", "name", "sha256"],
            files,
            source="system",
            query="LabService.models(): files",
        ),
    ]


def _capabilities(system: SystemInfo) -> list[Item]:
    notes = [line for line in system.calibration.get("notes", "").splitlines() if line]
    unsupported = sorted(g for g, v in system.calibration.get("groups", {}).items() if not v.get("supported"))
    if not notes and unsupported:
        notes = [f"Too few evaluation pairs to support the target false match rate for: {', '.join(unsupported)}"]
    return [
        fact("capabilities", "Capabilities", CAPABILITIES, source="system", query="overt.reports.accountability"),
        config_item(system, "capabilities_beyond_use"),
        fact(
            "measured_limitations",
            "Limitations measured by the latest calibration",
            notes,
            source="calibration",
            query=f"calibration file {system.calibration_file}: notes, else groups[*].supported",
        ),
        config_item(system, "limitations"),
    ]


def _data(sources: Sources, system: SystemInfo) -> list[Item]:
    cameras, camera_query = sources.rows(select(Camera.zone, func.count()).group_by(Camera.zone).order_by(Camera.zone))
    deployments, query = sources.rows(select(Deployment.id, Deployment.spec).order_by(Deployment.id))
    limits = Retention.model_fields
    return [
        fact("data", "Data inputs and what is kept", DATA_KEPT, source="system", query="overt.reports.accountability"),
        figure(
            "cameras_registered",
            "Cameras in the registry",
            sum(n for _, n in cameras),
            source="records",
            query=camera_query,
            method="sum of the per-zone counts",
        ),
        table(
            "cameras_by_zone",
            "Cameras by zone",
            ["zone", "cameras"],
            [[z or "(none)", n] for z, n in cameras],
            source="records",
            query=camera_query,
        ),
        fact(
            "retention_defaults",
            "Retention defaults and limits (days)",
            {
                k: {"default": f.default, "max": next(m.le for m in f.metadata if hasattr(m, "le"))}
                for k, f in limits.items()
            },
            source="system",
            query="overt.governance.spec.Retention",
        ),
        table(
            "retention_by_deployment",
            "Retention set by each deployment (days)",
            ["deployment", "alerts", "evidence"],
            [[d, s["retention_days"]["alerts"], s["retention_days"]["evidence"]] for d, s in deployments],
            source="records",
            query=query,
        ),
        config_item(system, "data_sharing"),
        config_item(system, "records_management"),
    ]


def _purposes(sources: Sources, system: SystemInfo) -> list[Item]:
    deployments, query = sources.rows(select(Deployment.spec, Deployment.status))
    used = Counter(spec["purpose"] for spec, _ in deployments)
    return [
        config_item(system, "intended_use"),
        fact(
            "lawful_purposes",
            "Purposes a deployment may be authorised for",
            list(LAWFUL_PURPOSES),
            source="system",
            query="overt.governance.spec.LAWFUL_PURPOSES",
        ),
        table(
            "purposes_used",
            "Purposes of the deployments applied for so far",
            ["purpose", "deployments"],
            sorted(used.items()),
            source="records",
            query=query,
        ),
        config_item(system, "benefits"),
    ]


def _review(sources: Sources, system: SystemInfo) -> list[Item]:
    roles = {
        action: [str(role) for role in sorted(PERMISSIONS[action])]
        for action in ("deployment.decide", "alert.review", "alert.outcome", "identify", "watch")
    }
    deployments, query = sources.rows(select(Deployment.spec))
    required = sorted({spec["reviewers_required"] for (spec,) in deployments})
    sel = sources.audit(("alert.raise", "review.decide", *FINAL, "alert.outcome"))
    return [
        fact(
            "human_review",
            "How decisions are reviewed by people",
            DECISION_SUPPORT,
            source="system",
            query="overt.governance.review",
        ),
        fact(
            "review_decisions",
            "Decisions a reviewer may give",
            list(REVIEW_DECISIONS),
            source="system",
            query="overt.governance.review.DECISIONS",
        ),
        fact(
            "separation_of_duties",
            "Roles allowed to act",
            roles,
            source="system",
            query="overt.governance.permissions.PERMISSIONS",
        ),
        fact(
            "reviewers_required",
            "Reviewers required per alert, across deployments",
            required,
            source="records",
            query=query,
            method="distinct reviewers_required of the deployments' specifications",
        ),
        *alert_items(sel, sel, prefix="all_"),
        config_item(system, "training"),
    ]


def _accuracy(sources: Sources, system: SystemInfo) -> list[Item]:
    evaluations = sources.audit(("evaluation.run",))
    latest = evaluations.entries[-1] if evaluations.entries else None
    sel = sources.audit(FINAL)
    confirmed, rejected = len(sel.where("alert.confirmed")), len(sel.where("alert.rejected"))
    decided = sel.where("alert.confirmed", "alert.rejected")
    return [
        *calibration_items(system),
        fact(
            "latest_evaluation",
            "Latest evaluation recorded in the audit log",
            {"at": latest.at.isoformat(timespec="seconds"), **latest.details} if latest else None,
            source="audit",
            query=evaluations.query,
            method="the last evaluation.run row",
            seqs=[latest.seq] if latest else [],
        ),
        figure(
            "operational_false_alert_share",
            "Share of decided alerts that reviewers rejected (in operation)",
            round(rejected / (confirmed + rejected), 4) if decided else None,
            query=sel.query,
            method="alert.rejected rows ÷ (alert.confirmed + alert.rejected rows)",
            seqs=[e.seq for e in decided],
        ),
        config_item(system, "testing"),
        config_item(system, "error_rate_policy"),
    ]


def build(sources: Sources, system: SystemInfo, generated: dict[str, Any]) -> Report:
    unknown = sorted(set(system.config) - set(CONFIG_KEYS))
    sections = [
        section("service", "The facial recognition service", _service(system)),
        section("capabilities", "Capabilities and limitations", _capabilities(system)),
        section("data", "Data inputs and retention", _data(sources, system)),
        section("purposes", "Purposes", _purposes(sources, system)),
        section("review", "Human review of decisions", _review(sources, system)),
        section("accuracy", "Accuracy and demographic audit", _accuracy(sources, system)),
        section(
            "rights",
            "Civil rights, liberties and complaints",
            [
                config_item(system, "civil_liberties_impacts"),
                config_item(system, "mitigations"),
                config_item(system, "complaint_procedure"),
            ],
        ),
    ]
    if unknown:
        sections[0]["items"].append(
            fact(
                "config_unknown_keys",
                "Keys in accountability.yaml this report does not know (typos?)",
                unknown,
                source="config",
                query=system.config_path,
                public=False,
            )
        )
    return report("accountability", "Accountability report", {}, sources, generated, sections)
