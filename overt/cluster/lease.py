"""A lease row in PostgreSQL: one holder per name until it expires, by the database's clock.

Taking or renewing a lease is one atomic upsert, so two processes asking at once cannot both win; a
holder that stops renewing (its machine died) loses the lease when it expires and another takes it.
"""

from __future__ import annotations

from sqlalchemy import text

from ..storage.db import Database

ACQUIRE = text(
    """
    INSERT INTO cluster_leases (name, holder, expires_at)
    VALUES (:name, :holder, now() + make_interval(secs => :ttl))
    ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
    WHERE cluster_leases.holder = EXCLUDED.holder OR cluster_leases.expires_at < now()
    RETURNING holder
    """
)


def acquire(db: Database, name: str, holder: str, ttl_s: float) -> bool:
    """Take the lease, or renew it if `holder` has it; False while another holder's lease runs."""
    with db.session() as session:
        won = session.execute(ACQUIRE, {"name": name, "holder": holder, "ttl": ttl_s}).scalar_one_or_none()
    return won == holder


def release(db: Database, name: str, holder: str) -> None:
    """Give the lease up at once (a clean shutdown), so the next holder need not wait for expiry."""
    with db.session() as session:
        session.execute(text("DELETE FROM cluster_leases WHERE name = :name AND holder = :holder"),
                        {"name": name, "holder": holder})


def holder(db: Database, name: str) -> str | None:
    """Who holds the lease now (None when nobody, or it has expired)."""
    with db.session() as session:
        return session.execute(text("SELECT holder FROM cluster_leases WHERE name = :name AND expires_at >= now()"),
                               {"name": name}).scalar_one_or_none()
