"""Search on many machines: a replica of the watchlist indexes per machine, kept current by PostgreSQL's
LISTEN/NOTIFY, and galleries too large for one machine split into shards searched in parallel.

Templates are encrypted in the database; only a machine provisioned with the template key (OVERT_KEY, or
keys/templates.key in its own OVERT_HOME) can decrypt them. A machine without it refuses to serve search
and says why, rather than failing on the first query. The key is read from the machine's own
environment, never shipped by the caller: provisioning a key is a decision about a machine.

Sharded search is exact: each shard returns its own top k by raw cosine score (ties by template id),
and the merge of those lists is the top k of the whole gallery, the same as one exact search.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..gallery import store
from ..gallery.crypto import KEY_FILE, EncryptionKeyError, KeyRing
from ..governance.permissions import Refused
from . import require_ray

log = logging.getLogger("overt.cluster")
CHANNEL = "overt_gallery"  # the 0008 migration's trigger notifies a watchlist's id when its revision moves


def machine_settings(settings_data: dict[str, Any]) -> dict[str, Any]:
    """The caller's settings (database, engine), with this machine's own home and key, if provisioned."""
    local = {name: os.environ[var] for name, var in (("home", "OVERT_HOME"), ("key", "OVERT_KEY")) if var in os.environ}
    return {**settings_data, **local}


def missing_key(settings_data: dict[str, Any]) -> str | None:
    """Why this machine cannot decrypt templates, or None when it can."""
    key, home = settings_data.get("key"), settings_data.get("home")
    if not key and not (home and (Path(home) / "keys" / KEY_FILE).exists()):
        return "this machine is not provisioned with the template key (OVERT_KEY or keys/templates.key): no search here"
    try:
        KeyRing.load(Path(home or ".") / "keys", key)
    except EncryptionKeyError as exc:
        return f"this machine cannot use the template key: {exc}"
    return None


class SearchReplica:
    """One machine's copy of the watchlist indexes (a Ray actor body, or used in process)."""

    def __init__(self, settings_data: dict[str, Any]) -> None:
        data = machine_settings(settings_data)
        self.refusal = missing_key(data)
        self.refreshes = 0
        self._served: set[tuple[int, str, int]] = set()
        self._stop = threading.Event()
        if self.refusal is not None:
            return  # no Overt: nothing here may decrypt, create keys or write to the log
        from ..config import Settings
        from ..services import Overt

        self.overt = Overt(Settings(**data))
        self._listener = threading.Thread(target=self._listen, daemon=True, name="gallery-notify")
        self._listener.start()

    def _check(self) -> None:
        if self.refusal is not None:
            raise Refused("no-key", self.refusal)

    def search(self, watchlists: list[str], vector: np.ndarray, model: str, threshold: float,
               top: int) -> list[dict[str, Any]]:
        """The same search as a single machine's (the caller has passed the gate already)."""
        self._check()
        with self.overt.db.session() as session:
            targets = [store.get_watchlist(session, name) for name in watchlists]
            self._served |= {(t.id, model, len(vector)) for t in targets}
            found = self.overt.search_index.search(session, targets, np.asarray(vector, np.float32), model,
                                                   threshold=threshold, top=top)
        return [c.to_json() for c in found]

    def _listen(self) -> None:
        """Rebuild a served watchlist's index as soon as its revision moves, before the next query needs it."""
        import psycopg

        url = self.overt.settings.db_url.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(f"LISTEN {CHANNEL}")
            while not self._stop.is_set():
                for note in connection.notifies(timeout=1.0):
                    try:
                        self._refresh(int(note.payload))
                    except Exception:  # the next search rebuilds it anyway (revisions are checked per query)
                        log.exception("rebuilding watchlist %s after a change notice failed", note.payload)

    def _refresh(self, watchlist_id: int) -> None:
        from ..storage.models import Watchlist

        with self.overt.db.session() as session:
            watchlist = session.get(Watchlist, watchlist_id)
            for served, model, dim in list(self._served):
                if served == watchlist_id and watchlist is not None:
                    probe = np.eye(1, dim, dtype=np.float32)[0]  # any unit vector: the search builds the index
                    self.overt.search_index.search(session, [watchlist], probe, model, threshold=float("inf"), top=1)
        self.refreshes += 1

    def status(self) -> dict[str, Any]:
        return {"serves": self.refusal is None, "reason": self.refusal, "refreshes": self.refreshes}

    def close(self) -> None:
        self._stop.set()


class GalleryShard:
    """Templates `id % shards == shard` of one watchlist and model, decrypted on a machine with the key."""

    def __init__(self, settings_data: dict[str, Any], watchlist: str, model: str, shard: int, shards: int) -> None:
        data = machine_settings(settings_data)
        self.refusal = missing_key(data)
        if self.refusal is not None:
            return
        from ..config import Settings
        from ..storage.db import Database

        settings = Settings(**data)
        db = Database(settings.db_url)
        try:
            with db.session() as session:
                watchlist_id = store.get_watchlist(session, watchlist).id
                ids = store.template_ids(session, watchlist_id, model)
                mine = ids[ids % shards == shard]
                stored = store.load_templates(session, KeyRing.load(settings.keys_dir, settings.key),
                                              watchlist_id, model, only=mine)
        finally:
            db.dispose()
        self.ids = stored.ids
        self.vectors = stored.vectors

    def top(self, query: np.ndarray, k: int) -> list[tuple[float, int]]:
        """This shard's best k (score, template id), by score then id."""
        if self.refusal is not None:
            raise Refused("no-key", self.refusal)
        return exact_top(self.ids, self.vectors, query, k)


def exact_top(ids: np.ndarray, vectors: np.ndarray, query: np.ndarray, k: int) -> list[tuple[float, int]]:
    """Exact top k by raw cosine score (vectors are unit length), ties broken by the smaller template id."""
    if not len(ids):
        return []
    scores = vectors @ np.asarray(query, np.float32)
    order = np.lexsort((ids, -scores))[:k]
    return [(float(scores[i]), int(ids[i])) for i in order]


def merge_top(parts: list[list[tuple[float, int]]], k: int) -> list[tuple[float, int]]:
    """The gallery's top k from each shard's top k: the same order `exact_top` gives over everything."""
    return sorted((hit for part in parts for hit in part), key=lambda hit: (-hit[0], hit[1]))[:k]


class ShardedGallery:
    """Scatter a query to every shard (Ray actors, spread over the machines with the key), gather, merge."""

    def __init__(self, settings_data: dict[str, Any], watchlist: str, model: str, shards: int,
                 resources: dict[str, float] | None = None) -> None:
        ray = require_ray()
        self._ray = ray
        remote = ray.remote(GalleryShard).options(num_cpus=0, scheduling_strategy="SPREAD", resources=resources or {})
        self.shards = [remote.remote(settings_data, watchlist, model, n, shards) for n in range(shards)]

    def top(self, query: np.ndarray, k: int) -> list[tuple[float, int]]:
        return merge_top(self._ray.get([shard.top.remote(query, k) for shard in self.shards], timeout=120), k)

    def close(self) -> None:
        for shard in self.shards:
            self._ray.kill(shard)
