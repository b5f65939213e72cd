"""The audit log's public face, as a Certificate Transparency log's: signed tree heads, the keys that sign
them, and inclusion and consistency proofs. Sizes, hashes and signatures only: nothing about anyone.

A witness (`overt audit witness URL`) polls these to hold the operator to what was published.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from ...audit.merkle import ProofError
from ..auth import OvertDep
from .common import PUBLIC, needs

router = APIRouter(prefix="/api/public/audit", tags=["transparency"])
Size = Annotated[int, Query(ge=1, le=2**53)]


@router.get("/head", openapi_extra=needs(PUBLIC))
def head(overt: OvertDep) -> dict[str, Any]:
    """The newest signed tree head: {"size", "root", "at", "key_id", "signature"} (and the record hash)."""
    signed = overt.audit_service.head(sign=False)
    if signed is None:
        raise HTTPException(404, "no signed head yet")
    return signed


@router.get("/heads", openapi_extra=needs(PUBLIC))
def heads(overt: OvertDep, after: Annotated[int, Query(ge=0)] = 0,
          limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    """Every signed head in the order they were made, a page at a time (`after` = the last `id` seen)."""
    return overt.audit_service.heads(after, limit)


@router.get("/keys", openapi_extra=needs(PUBLIC))
def keys(overt: OvertDep) -> list[dict[str, Any]]:
    """The signing keys, oldest first; each later key with its endorsement by the key before it."""
    return overt.audit_service.published_keys()


@router.get("/inclusion", openapi_extra=needs(PUBLIC))
def inclusion(overt: OvertDep, seq: Size, size: Size) -> dict[str, Any]:
    """Proof that record `seq` (cited by a public report) is in the tree of `size` records."""
    try:
        return overt.audit_service.inclusion(seq, size)
    except ProofError as exc:
        raise HTTPException(400, str(exc)) from None


@router.get("/consistency", openapi_extra=needs(PUBLIC))
def consistency(overt: OvertDep, first: Size, second: Size) -> dict[str, Any]:
    """Proof that the tree of `second` records extends the tree of `first`."""
    try:
        return overt.audit_service.consistency(first, second)
    except ProofError as exc:
        raise HTTPException(400, str(exc)) from None
