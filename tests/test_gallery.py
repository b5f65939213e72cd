"""Watchlists and 1:N search: encrypted at rest, exact after normalisation, rebuilt from the database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from overt.config import Settings
from overt.engine import EngineConfig, FaceEngine
from overt.gallery.crypto import EncryptionKeyError, KeyRing, new_key
from overt.gallery.search import GallerySearch
from overt.gallery.store import NewTemplate, add_subject, create_watchlist, decrypt_vector
from overt.services import Overt
from overt.services.gallery import EnrolRequest, requests_from_csv
from overt.storage.db import Database
from overt.storage.models import Template
from tests.governance_helpers import actor, approved, make_overt

FACES = Path(__file__).parent / "data" / "faces"
OP = actor("op")


@pytest.fixture(scope="module")
def engine() -> FaceEngine:
    return FaceEngine(EngineConfig())


def test_normalised_search_matches_a_full_scan(database: Database, engine: FaceEngine) -> None:
    """The index path (raw top-k re-scored with stored cohort statistics) against brute force over everything."""
    keys = KeyRing(new_key())
    scorer = engine.scorer()
    rng = np.random.default_rng(1)
    real = [engine.template(FACES / f)[0].embedding.vector for f in ("001_neutral.jpg", "004_neutral.jpg",
                                                                     "025_neutral.jpg", "042_neutral.jpg")]
    vectors = np.vstack([real, rng.standard_normal((300, 128)).astype(np.float32) * 0.05 + real[3]])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with database.session() as session:
        watchlist = create_watchlist(session, "w", purpose="", categories=[], owner="t", expires_at=None)
        for i, v in enumerate(vectors):
            (mean,), (std,) = scorer.stats(v)
            template = NewTemplate(type("E", (), {"vector": v, "model": engine.model_id})(), 1.0, f"{i:064x}",
                                   cohort_mean=float(mean), cohort_std=float(std), cohort_sha256=scorer.cohort.sha256)
            add_subject(session, keys, watchlist, f"s{i}", templates=[template], added_by="t")
    query = engine.template(FACES / "042_smiling.jpg")[0].embedding.vector
    means, stds = scorer.stats(vectors)
    (mq,), (sq,) = scorer.stats(query)
    brute = scorer.normalise(vectors @ query, mq, sq, means, stds)
    # About 40 candidates above the threshold (more than the first batch of raw), with the threshold in the
    # middle of a gap between two scores: the index path's scores may differ from this scan's by up to 1e-3
    # (float32 matmul in another order, stored statistics), so a threshold on a score is a coin toss.
    ranked = np.sort(brute)[::-1]
    gaps = ranked[35:45] - ranked[36:46]
    cut = 35 + int(np.argmax(gaps))
    assert gaps.max() > 2e-3
    threshold = float(ranked[cut] + ranked[cut + 1]) / 2
    search = GallerySearch(keys, scorer)
    with database.session() as session:
        watchlist = session.scalar(select(type(watchlist)))
        found = search.search(session, [watchlist], query, engine.model_id, threshold=threshold, top=300)
    assert sorted(c.subject for c in found) == sorted(f"s{i}" for i in np.flatnonzero(brute >= threshold))
    assert [c.score for c in found] == pytest.approx(sorted(brute[brute >= threshold], reverse=True), abs=1e-3)


@pytest.fixture
def overt(tmp_path: Path, database_url: str) -> Overt:
    instance = make_overt(tmp_path / "home", database_url)
    instance.gallery.create_watchlist(actor("admin"), "missing", categories=["missing-person"])
    return instance


def test_database_alone_reveals_no_biometric_data(overt: Overt, tmp_path: Path) -> None:
    if not overt.db.is_sqlite:
        pytest.skip("inspects the SQLite file's bytes")
    deployment = approved(overt)
    overt.gallery.enroll(OP, deployment, "missing", EnrolRequest("p", (FACES / "042_neutral.jpg",), "missing-person"))
    vector = overt.lab.engine.template(FACES / "042_neutral.jpg")[0].embedding.vector.astype(np.float32)
    overt.system.vacuum()
    raw = (tmp_path / "home" / "overt.db").read_bytes()
    assert vector.tobytes()[:16] not in raw and vector.tobytes()[-16:] not in raw
    assert (FACES / "042_neutral.jpg").read_bytes()[200:264] not in raw
    with sqlite3.connect(tmp_path / "home" / "overt.db") as conn:
        (blob,) = conn.execute("SELECT vector FROM templates").fetchone()
    assert blob[:4] == b"OVT1" and len(blob) > 512


def test_wrong_or_missing_key_decrypts_nothing(overt: Overt, tmp_path: Path) -> None:
    deployment = approved(overt)
    overt.gallery.enroll(OP, deployment, "missing", EnrolRequest("p", (FACES / "042_neutral.jpg",), "missing-person"))
    with overt.db.session() as session:
        blob = session.scalar(select(Template.vector))
    with pytest.raises(EncryptionKeyError, match="different key"):
        decrypt_vector(KeyRing(new_key()), blob)
    with pytest.raises(EncryptionKeyError, match="altered"):
        decrypt_vector(overt.keys, blob[:-1] + bytes([blob[-1] ^ 1]))
    with pytest.raises(EncryptionKeyError, match="not found"):
        KeyRing.load(tmp_path / "nowhere")
    (tmp_path / "home" / "keys" / "templates.key").chmod(0o644)
    with pytest.raises(EncryptionKeyError, match="readable by others"):
        KeyRing.load(tmp_path / "home" / "keys")


def test_key_rotation_reencrypts_and_search_still_works(overt: Overt) -> None:
    deployment = approved(overt)
    overt.gallery.enroll(OP, deployment, "missing", EnrolRequest("p", (FACES / "042_neutral.jpg",), "missing-person"))
    with overt.db.session() as session:
        before = session.scalar(select(Template.vector))
    old_keys = overt.keys
    counts = overt.system.rotate_key(actor("admin"))
    assert (counts["templates"], counts["images"]) == (1, 1)
    with overt.db.session() as session:
        after = session.scalar(select(Template.vector))
    assert after != before and old_keys.is_current(before) and not old_keys.is_current(after)
    with pytest.raises(EncryptionKeyError):
        decrypt_vector(KeyRing(old_keys.current), after)
    result = overt.gallery.identify(OP, deployment, FACES / "042_smiling.jpg", ["missing"], case="C")
    assert [c["subject"] for c in result["candidates"]] == ["p"]


def test_index_is_rebuilt_from_the_database_in_a_new_process(overt: Overt, database_url: str,
                                                            tmp_path: Path) -> None:
    deployment = approved(overt)
    overt.gallery.enroll(OP, deployment, "missing", EnrolRequest("p", (FACES / "042_neutral.jpg",), "missing-person"))
    overt.gallery.identify(OP, deployment, FACES / "042_smiling.jpg", ["missing"], case="C")  # index now built
    built = next(iter(overt.search_index._entries.values())).index
    overt.gallery.enroll(OP, deployment, "missing", EnrolRequest("q", (FACES / "004_neutral.jpg",), "missing-person"))
    found = overt.gallery.identify(OP, deployment, FACES / "004_smiling.jpg", ["missing"], case="C")["candidates"]
    assert [c["subject"] for c in found] == ["q"]  # another enrolment moved the revision: the index followed
    entry = next(iter(overt.search_index._entries.values()))
    assert entry.index is built and sorted(entry.references) == ["p", "q"]  # updated in place, not rebuilt
    restarted = Overt(Settings(home=tmp_path / "home", database_url=overt.settings.database_url))
    found = restarted.gallery.identify(OP, deployment, FACES / "042_smiling.jpg", ["missing"], case="C")["candidates"]
    assert [c["subject"] for c in found] == ["p"]
    overt.gallery.remove_subject(OP, "missing", "p", reason="left the investigation")
    assert restarted.gallery.identify(OP, deployment, FACES / "042_smiling.jpg", ["missing"], case="C")["candidates"] \
        == []


def test_several_templates_score_as_the_best(overt: Overt) -> None:
    deployment = approved(overt)
    request = EnrolRequest("p", (FACES / "042_neutral.jpg", FACES / "042_smiling.jpg"), "missing-person")
    assert overt.gallery.enroll(OP, deployment, "missing", request)["templates"] == 2
    result = overt.gallery.identify(OP, deployment, FACES / "042_smiling.jpg", ["missing"], case="C", top=3)
    assert len(result["candidates"]) == 1 and result["candidates"][0]["raw_score"] > 0.999


def test_bulk_enrolment_reports_each_subject(overt: Overt, tmp_path: Path) -> None:
    deployment = approved(overt, max_watchlist_size=10)
    manifest = tmp_path / "bulk.csv"
    manifest.write_text("path,subject,category\n"
                        f"{FACES / '001_neutral.jpg'},a,missing-person\n"
                        f"{FACES / '004_neutral.jpg'},b,missing-person\n"
                        f"{tmp_path / 'nothing.jpg'},c,missing-person\n")
    results = list(overt.gallery.enroll_many(OP, deployment, "missing", requests_from_csv(manifest)))
    assert [("error" in r) for r in results] == [False, False, True]
    assert overt.gallery.show_watchlist(actor("aud"), "missing")["size"] == 2
