"""An Overt installation's own deployments as index records, from its public records only (what the
transparency site already shows), so a watchdog's index and the operator's site say the same thing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STATUS = {"approved": "active", "urgent": "active", "revoked": "ended", "rejected": "ended"}


@dataclass(frozen=True)
class Installation:
    """Who runs the installation and where: the public records say what, not who or where."""

    prefix: str  # makes ids unique across installations, e.g. "overt-met-london"
    country: str
    city: str = ""
    agency: str = ""
    country_code: str = ""
    site_url: str = ""  # the public site, cited as each record's source


def index_records(public_records: list[dict[str, Any]], where: Installation) -> list[dict[str, Any]]:
    """One index record per published deployment."""
    out = []
    for record in public_records:
        url = f"{where.site_url.rstrip('/')}/api/public/deployments/{record['id']}" if where.site_url else ""
        started = record.get("approved") or record.get("urgent_started") or ""
        out.append(
            {
                "id": f"{where.prefix}-{record['id']}",
                "country": where.country,
                "country_code": where.country_code,
                "city": where.city,
                "agency": where.agency,
                "agency_type": "",
                "purpose": record.get("purpose", ""),
                "summary": f"{record.get('name', '')}: {record.get('faces_seen', 0)} faces seen, "
                f"{record.get('alerts', 0)} alerts, {record.get('confirmed_matches', 0)} confirmed matches "
                "(published by the operator's Overt installation)",
                "vendor": "Overt",
                "product": "Overt",
                "technology": [record["mode"]] if record.get("mode") in ("live", "retrospective") else [],
                "start_date": str(started)[:10],
                "end_date": str(record.get("ended") or "")[:10],
                "status": STATUS.get(record.get("status", ""), "unknown"),
                "confidence": "high",
                "sources": [{"url": url, "archive_url": "", "title": "Operator's public record", "date": ""}]
                if url
                else [],
            }
        )
    return out
