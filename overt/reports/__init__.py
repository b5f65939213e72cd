"""Accountability reports computed from the audit log and the records, every figure traceable.

Deployment records, annual reports, notifications to the authorities and the accountability report
for the installed system; rendered as JSON/CSV for machines and HTML/PDF for people; verified by
recomputing them. The service layer (`overt.services.reports`) gates and audits their generation.
"""

from . import accountability, annual, deployment, notification
from .accountability import CONFIG_KEYS, ConfigError, load_config
from .data import FORMAT, Report, Sources, SystemInfo, public_view, report_sha256
from .render import FORMATS, render
from .verify import ReportFormatError, Verification

__all__ = [
    "CONFIG_KEYS",
    "FORMAT",
    "FORMATS",
    "ConfigError",
    "Report",
    "ReportFormatError",
    "Sources",
    "SystemInfo",
    "Verification",
    "accountability",
    "annual",
    "deployment",
    "load_config",
    "notification",
    "public_view",
    "render",
    "report_sha256",
]
