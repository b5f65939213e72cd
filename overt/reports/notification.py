"""Notification of a deployment to the market-surveillance and data-protection authorities (AI Act Art. 5(4)).

The facts an authority needs to supervise the use (who, what system, why, on what legal basis, where,
when, authorised by whom, against how large a watchlist of which categories, at what threshold) and
nothing operational: no watchlist contents, subject references, evidence or alert-level details.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..governance import deployments as deployment_rules
from ..governance.gate import effective_threshold
from ..storage.models import Deployment
from .accountability import config_item
from .data import DECISIONS, Item, Report, Sources, SystemInfo, fact, report, section
from .deployment import authorisation_items, camera_items, spec_items, watchlist_items

# What the notification keeps of the deployment record's items: facts of the use, not of its operation.
DEPLOYMENT_KEYS = (
    "deployment_id",
    "name",
    "status",
    "mode",
    "purpose",
    "legal_basis",
    "public_notice",
    "windows",
    "reviewers_required",
    "retention_days",
    "assessments",
)
AUTHORISATION_KEYS = (
    "authorised_as",
    "authorised_at",
    "authorised_by",
    "authorisation_reason",
    "spec_sha256",
    "spec_matches_authorisation",
)
WATCHLIST_KEYS = ("watchlist_size", "max_watchlist_size", "categories")


def _keep(items: list[Item], keys: tuple[str, ...]) -> list[Item]:
    return [i for i in items if i["key"] in keys]


def _system(system: SystemInfo, deployment: Deployment) -> list[Item]:
    cal = system.calibration
    where = f"calibration file {system.calibration_file} (sha256 {system.calibration_sha256})"
    return [
        fact(
            "software",
            "System",
            f"Overt {system.version}",
            source="system",
            query="importlib.metadata.version('overt')",
        ),
        fact(
            "embedder",
            "Face recognition model",
            system.models.get("embedder", cal.get("model")),
            source="system",
            query="LabService.models()",
        ),
        fact(
            "threshold",
            "Threshold in force",
            effective_threshold(deployment, cal["threshold"]),
            source="records",
            query=f"deployments.spec.threshold of deployment {deployment.id}; {where}: threshold",
            method="the specification's threshold, never below the calibrated one",
        ),
        fact(
            "calibration",
            "Calibration of the threshold",
            {
                "date": cal.get("created"),
                "dataset": cal.get("dataset", {}).get("name"),
                "target_fmr": cal.get("target_fmr"),
                "method": cal.get("method"),
            },
            source="calibration",
            query=f"{where}: created, dataset.name, target_fmr, method",
        ),
    ]


def build(sources: Sources, deployment_id: int, system: SystemInfo, generated: dict[str, Any]) -> Report:
    deployment = deployment_rules.get(sources.session, deployment_id)
    spec_query = sources.sql(select(Deployment).where(Deployment.id == deployment_id))
    sel = sources.audit((*DECISIONS, "subject.enroll"), deployment_id=deployment_id)
    spec_seqs = [e.seq for e in sel.where(*DECISIONS) if e.details.get("spec_sha256") == deployment.spec_sha256]
    live = deployment.spec["mode"] == "live"
    title = (
        "Notification of the use of real-time remote biometric identification (EU AI Act Art. 5(4))"
        if live
        else "Notification of a facial recognition deployment"
    )
    return report(
        "notification",
        f"{title}: {deployment.name}",
        {"deployment_id": deployment_id},
        sources,
        generated,
        [
            section(
                "addressees",
                "To",
                [
                    config_item(system, "market_surveillance_authority"),
                    config_item(system, "data_protection_authority"),
                ],
            ),
            section("deployer", "From", [config_item(system, "agency"), config_item(system, "contact")]),
            section(
                "deployment", "The deployment", _keep(spec_items(deployment, spec_query, spec_seqs), DEPLOYMENT_KEYS)
            ),
            section("place", "Place and cameras", camera_items(sources, deployment.spec.get("cameras", []))),
            section("authorisation", "Authorisation", _keep(authorisation_items(deployment, sel), AUTHORISATION_KEYS)),
            section("watchlists", "Watchlists", _keep(watchlist_items(sources, deployment, sel), WATCHLIST_KEYS)),
            section("system", "The system and its threshold", _system(system, deployment)),
        ],
    )
