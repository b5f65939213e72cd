"""The observatory's tables, in their own metadata: it runs alone, with or without an installation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ..storage.models import UtcDateTime, utcnow


class ObservatoryBase(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class IndexRecord(ObservatoryBase):
    """One use of facial recognition somewhere, as the current version of its change history."""

    __tablename__ = "obs_deployments"
    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[str] = mapped_column(String(120), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_sha256: Mapped[str] = mapped_column(String(64))
    head_sha256: Mapped[str] = mapped_column(String(64), default="")  # this record's latest change
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class IndexChange(ObservatoryBase):
    """One change to a record (created, updated, signed off), chained by hash so that a change edited
    or removed with SQL is found by `verify_history`."""

    __tablename__ = "obs_changes"
    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[str] = mapped_column(String(120), index=True)
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    changed: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str] = mapped_column(Text, default="")
    content_sha256: Mapped[str] = mapped_column(String(64))
    prev_sha256: Mapped[str] = mapped_column(String(64), unique=True)  # one chain: a fork fails
    sha256: Mapped[str] = mapped_column(String(64))


class Camera(ObservatoryBase):
    """A surveillance camera known from OpenStreetMap or a citizen's report."""

    __tablename__ = "obs_cameras"
    __table_args__ = (UniqueConstraint("origin", "origin_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    origin: Mapped[str] = mapped_column(String(16))  # osm | report
    origin_id: Mapped[str] = mapped_column(String(64))  # node id, or the report's id
    osm_version: Mapped[int | None] = mapped_column(Integer, default=None)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("obs_cameras.id"), default=None)
    distance_m: Mapped[float | None] = mapped_column(Float, default=None)
    review: Mapped[str] = mapped_column(String(16), default="none")  # none | pending | duplicate | distinct
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
