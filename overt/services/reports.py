"""Reports through the spine: the role is checked, and each generation is audited with the report's sha256.

Verification recomputes a report over the same audit records and says whether it still matches. The
public functions (no login, nothing audited, like the public camera registry) return only the items
marked public, for the transparency site.
"""

from __future__ import annotations

import hashlib
from datetime import date
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..governance import deployments as deployment_rules
from ..governance.permissions import Refused
from ..reports import Report, Sources, SystemInfo, accountability, annual, deployment, notification, public_view
from ..reports.data import iso, report_sha256
from ..reports.verify import Verification, check, parse
from .core import Actor, now, operate

if TYPE_CHECKING:
    from . import Overt

CONFIG_FILE = "accountability.yaml"


def _version() -> str:
    try:
        return version("overt")
    except PackageNotFoundError:
        return "unknown (run from a source tree that is not installed)"


class ReportService:
    def __init__(self, overt: Overt) -> None:
        self.overt = overt

    def system_info(self, *, models: bool = False) -> SystemInfo:
        """The calibration in force, the deployer's accountability.yaml, and (when asked) the model files."""
        lab = self.overt.lab
        calibration = lab.engine.calibration()
        source = Path(calibration.source)
        if models:
            found = lab.models()
            described = {
                "detector": found["detector"],
                "embedder": found["embedder"],
                "files": [{"role": f["role"], "name": f["name"], "sha256": f["sha256"]} for f in found["files"]],
                "cohort": found["cohort"],
            }
        else:
            described = {"embedder": lab.engine.model_id}
        return SystemInfo(
            version=_version(),
            models=described,
            calibration=calibration.to_json(),
            calibration_file=source.name,
            calibration_sha256=hashlib.sha256(source.read_bytes()).hexdigest(),
            config=accountability.load_config(self.overt.settings.home / CONFIG_FILE),
            config_path=f"OVERT_HOME/{CONFIG_FILE}",
        )

    def _build(self, kind: str, parameters: dict[str, Any], sources: Sources, generated: dict[str, Any]) -> Report:
        if kind == "deployment":
            return deployment.build(sources, int(parameters["deployment_id"]), self.system_info(), generated)
        if kind == "notification":
            return notification.build(sources, int(parameters["deployment_id"]), self.system_info(), generated)
        if kind == "annual":
            start, end = date.fromisoformat(parameters["from"]), date.fromisoformat(parameters["to"])
            if end < start:
                raise ValueError(f"the period ends ({end}) before it starts ({start})")
            return annual.build(sources, start, end, generated)
        if kind == "accountability":
            return accountability.build(sources, self.system_info(models=True), generated)
        raise ValueError(f"unknown report kind {kind!r}")

    def _generate(
        self, actor: Actor, kind: str, parameters: dict[str, Any], deployment_id: int | None = None
    ) -> Report:
        with operate(self.overt, actor, "report.generate", deployment_id=deployment_id) as op:
            data = self._build(kind, parameters, Sources.at_head(op.session), {"at": iso(op.at), "by": actor.name})
            op.record("report.generate", object_type="report", object_id=kind, kind=kind, sha256=report_sha256(data))
            return data

    # --- one method per report ------------------------------------------------------------------------
    def deployment(self, actor: Actor, deployment_id: int) -> Report:
        """The deployment record (live while it runs)."""
        return self._generate(actor, "deployment", {"deployment_id": deployment_id}, deployment_id)

    def annual(self, actor: Actor, start: date, end: date) -> Report:
        """Every deployment and request for authorisation from `start` to `end`, both days included (UTC)."""
        return self._generate(actor, "annual", {"from": start.isoformat(), "to": end.isoformat()})

    def notification(self, actor: Actor, deployment_id: int) -> Report:
        """What the market-surveillance and data-protection authorities are told of a deployment."""
        return self._generate(actor, "notification", {"deployment_id": deployment_id}, deployment_id)

    def accountability(self, actor: Actor) -> Report:
        """The accountability report for the system as installed."""
        return self._generate(actor, "accountability", {})

    def verify(self, actor: Actor, data: Any) -> Verification:
        """Recompute `data` (a parsed report JSON) over the records it names and compare."""
        with operate(self.overt, actor, "report.generate") as op:  # the role first, then the document
            given = parse(data)
            sources = Sources(op.session, given["audit"]["last_seq"])
            again = self._build(given["kind"], given["parameters"], sources, given["generated"])
            if given["visibility"] == "public":
                again = public_view(again)
            recorded = Sources.at_head(op.session).audit(("report.generate",))
            generated = {e.details["sha256"]: e.seq for e in recorded.entries}
            return check(given, again, sources, generated)

    # --- for the public site: no login, nothing but the items marked public -------------------------------
    def public_deployment(self, deployment_id: int) -> Report:
        """The public deployment record, for deployments that were ever authorised (applications are not)."""
        with self.overt.db.session() as session:
            sources = Sources.at_head(session)
            deployment_rules.get(session, deployment_id)
            if not sources.audit(
                ("deployment.approve", "deployment.urgent_start"), deployment_id=deployment_id
            ).entries:
                raise Refused("not-public", f"deployment {deployment_id} was never authorised: it is not published")
            generated = {"at": iso(now())}
            return public_view(self._build("deployment", {"deployment_id": deployment_id}, sources, generated))

    def public_annual(self, start: date, end: date) -> Report:
        """The public annual report for `start` to `end` (both included, UTC)."""
        with self.overt.db.session() as session:
            parameters = {"from": start.isoformat(), "to": end.isoformat()}
            return public_view(self._build("annual", parameters, Sources.at_head(session), {"at": iso(now())}))
