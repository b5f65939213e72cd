"""The paperwork of an application: each assessment's document is read, hashed on arrival, checked against
a `sha256` given beside it, and stored encrypted under the installation's key ring; the spec keeps the hash,
so the approval (and its `spec_sha256`) covers the documents themselves."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..gallery.crypto import KeyRing
from ..governance.permissions import Refused
from ..governance.spec import DeploymentSpec
from ..storage.models import AssessmentDocument

DOCUMENT_CONTEXT = "assessment-document"
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024


def read_documents(spec: DeploymentSpec, base: Path | None) -> dict[str, bytes]:
    """The documents an application names, read from files (relative to the application's folder): for
    callers on the applicant's machine (CLI, library). The API takes uploads instead, never server paths."""
    documents = {}
    for assessment in spec.assessments:
        path = Path(assessment.file).expanduser()
        path = path if path.is_absolute() or base is None else base / path
        if not path.is_file():
            raise Refused("assessment", f"assessments: {assessment.kind} document {assessment.file!r}: no such file")
        documents[assessment.file] = path.read_bytes()
    return documents


def file_documents(spec: DeploymentSpec, documents: Mapping[str, bytes]) -> list[tuple[str, str, str, bytes]]:
    """(kind, ref, title, content) of each assessment, after checking that every document arrived, is not
    empty and matches any `sha256` given; the spec's assessments are rewritten to carry the hashes read."""
    filed = []
    for number, assessment in enumerate(spec.assessments):
        content = documents.get(assessment.file)
        where = f"assessments[{number}] ({assessment.kind})"
        if content is None:
            raise Refused("assessment", f"{where}: document {assessment.file!r} was not uploaded")
        if not content or len(content) > MAX_DOCUMENT_BYTES:
            raise Refused("assessment", f"{where}: the document is empty or over {MAX_DOCUMENT_BYTES} bytes")
        digest = hashlib.sha256(content).hexdigest()
        if assessment.sha256 is not None and assessment.sha256 != digest:
            raise Refused("assessment", f"{where}: sha256 {assessment.sha256} does not match the document ({digest})")
        assessment.sha256 = digest
        assessment.file = Path(assessment.file).name
        filed.append((assessment.kind, assessment.ref, assessment.file, content))
    return filed


def store_documents(
    session: Session, keys: KeyRing, deployment_id: int, filed: list[tuple[str, str, str, bytes]]
) -> list[AssessmentDocument]:
    rows = [
        AssessmentDocument(
            deployment_id=deployment_id,
            kind=kind,
            ref=ref,
            title=title,
            sha256=hashlib.sha256(content).hexdigest(),
            size=len(content),
            data=keys.encrypt(content, DOCUMENT_CONTEXT),
        )
        for kind, ref, title, content in filed
    ]
    session.add_all(rows)
    session.flush()
    return rows


def listing(session: Session, deployment_id: int) -> list[dict[str, Any]]:
    """Title, kind, reference and hash of each document (what the authority and the public see listed)."""
    rows = session.scalars(
        select(AssessmentDocument)
        .where(AssessmentDocument.deployment_id == deployment_id)
        .order_by(AssessmentDocument.id)
    )
    return [
        {"id": d.id, "kind": d.kind, "ref": d.ref, "title": d.title, "sha256": d.sha256, "size": d.size} for d in rows
    ]
