"""Who may do what: one table, one function, and a refusal that names the rule.

Separation of duties is deliberate: the authority approves but does not operate, reviewers decide
on matches but cannot run searches, and the administrator manages the system but cannot approve
deployments or confirm matches.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    AUTHORITY = "authority"
    OPERATOR = "operator"
    REVIEWER = "reviewer"
    AUDITOR = "auditor"
    DPO = "dpo"
    PUBLIC = "public"


OVERSIGHT = {Role.AUDITOR, Role.DPO}

PERMISSIONS: dict[str, frozenset[Role]] = {
    "user.manage": frozenset({Role.ADMIN}),
    "key.rotate": frozenset({Role.ADMIN}),
    "camera.manage": frozenset({Role.ADMIN, Role.OPERATOR}),
    "camera.read": frozenset(Role) - {Role.PUBLIC},
    "watchlist.manage": frozenset({Role.ADMIN, Role.OPERATOR}),
    "watchlist.read": frozenset({Role.ADMIN, Role.OPERATOR, Role.AUDITOR, Role.DPO}),
    "subject.enroll": frozenset({Role.ADMIN, Role.OPERATOR}),
    "subject.remove": frozenset({Role.ADMIN, Role.OPERATOR, Role.DPO}),
    "identify": frozenset({Role.OPERATOR}),
    "watch": frozenset({Role.OPERATOR}),
    "deployment.apply": frozenset({Role.OPERATOR}),
    "deployment.urgent": frozenset({Role.OPERATOR}),
    "deployment.decide": frozenset({Role.AUTHORITY}),
    "deployment.revoke": frozenset({Role.AUTHORITY, Role.DPO}),
    "deployment.read": frozenset(Role) - {Role.PUBLIC},
    "alert.read": frozenset({Role.OPERATOR, Role.REVIEWER, Role.AUTHORITY, Role.AUDITOR, Role.DPO}),
    "alert.review": frozenset({Role.REVIEWER}),
    "alert.outcome": frozenset({Role.OPERATOR}),
    "evidence.read": frozenset({Role.REVIEWER, Role.OPERATOR}),
    "audit.read": frozenset({Role.ADMIN, Role.AUDITOR, Role.DPO, Role.AUTHORITY}),
    "retention.run": frozenset({Role.ADMIN, Role.DPO}),
    "report.generate": frozenset({Role.ADMIN, Role.AUDITOR, Role.DPO, Role.AUTHORITY}),
    "evaluate": frozenset(Role) - {Role.PUBLIC},
    "public.moderate": frozenset({Role.ADMIN, Role.DPO}),
    # #13: separation of duties, assignment and paperwork
    "user.approve": frozenset({Role.DPO}),
    "deployment.assign": frozenset({Role.DPO}),
    "deployment.documents": frozenset({Role.AUTHORITY, Role.DPO}),
    # issue 14: a safe stop for the people on duty; resuming is the operator's, under a valid approval
    "deployment.pause": frozenset({Role.OPERATOR, Role.REVIEWER}),
    "deployment.resume": frozenset({Role.OPERATOR}),
    "review.workload": frozenset({Role.DPO, Role.AUDITOR, Role.AUTHORITY}),
    # people's rights: only the DPO answers data-subject requests (a search of its own, raising no alert)
    "subject-request": frozenset({Role.DPO}),
    "complaint.manage": frozenset({Role.DPO}),
}


class Refused(Exception):
    """An operation the rules do not allow; `rule` is a stable name for logs, tests and reports."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"refused ({rule}): {message}")
        self.rule = rule
        self.message = message

    def __reduce__(self) -> tuple:
        """Picklable, so a refusal crosses process and machine boundaries (Ray actors) as itself."""
        return type(self), (self.rule, self.message)


def check_permission(role: str, action: str) -> None:
    allowed = PERMISSIONS.get(action)
    if allowed is None:
        raise Refused("unknown-action", f"no such action {action!r}")
    if role not in allowed:
        names = ", ".join(sorted(r.value for r in allowed))
        raise Refused("role", f"{action} needs the role {names}; you are {role}")
