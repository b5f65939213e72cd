"""A witness: someone outside the installation who keeps its signed tree heads and checks each new one.

Run daily by a watchdog, a journalist or a court (`overt audit witness https://overt.example.org`), it
fetches the installation's current head, its keys and a consistency proof from the last head it kept,
and checks that the log only grew. The first run trusts the keys it sees (and keeps them); later runs
accept a new key only when the installation's previous key endorsed it. So an operator with root on the
server, who could rewrite the log and re-sign every head with a key of their own, is caught the next
time any witness runs: the new heads do not extend the old, or are signed by a key nobody endorsed.

Nothing here imports the database: a witness needs only HTTP (or files) and the public keys.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .against import HeadError, head_signed, parse_head
from .keys import key_id, public_key_from_hex, rotation_message, verify_signature
from .merkle import ProofError, check_consistency

TIMEOUT_S = 20


class WitnessError(Exception):
    """The installation could not be reached or answered something unreadable (not an inconsistency)."""


@dataclass
class WitnessResult:
    """`ok` false means an inconsistency: the log was rewritten or cut, or its key was swapped."""

    ok: bool
    source: str
    head: dict[str, Any] | None
    previous_size: int | None
    problem: str | None = None
    notes: list[str] = field(default_factory=list)


class Witness:
    """Heads and pinned keys for one installation, kept in `store` (heads.jsonl, keys.json, problems.jsonl)."""

    def __init__(self, store: Path) -> None:
        self.store = store

    def check(self, source: str) -> WitnessResult:
        remote = _Remote(source)
        head = parse_head(remote.head(), f"the head from {source}")
        notes: list[str] = []
        pinned = self._pinned()
        for entry in remote.published_keys():
            if entry["key_id"] in pinned:
                continue
            if not pinned and entry.get("endorsed_by") is None:
                pinned[entry["key_id"]] = entry["public_key"]  # first contact: trust on first use
                notes.append(f"pinned the installation's first key {entry['key_id']}")
            elif _endorsed(entry, pinned):
                pinned[entry["key_id"]] = entry["public_key"]
                notes.append(f"accepted key {entry['key_id']}, endorsed by {entry['endorsed_by']}")
        if not pinned and head.get("public_key"):
            try:
                if key_id(public_key_from_hex(str(head["public_key"]))) == head["key_id"]:
                    pinned[head["key_id"]] = str(head["public_key"])
                    notes.append(f"pinned the key {head['key_id']} that signed this first head")
            except ValueError:
                pass
        keys = [public_key_from_hex(h) for h in pinned.values()]
        previous = self._latest()
        problem = self._problem(head, previous, keys, remote)
        if problem is None:
            self._save_keys(pinned)
            if previous is None or head["size"] > previous["size"]:
                self._append("heads.jsonl", head)
        else:
            self._append("problems.jsonl", {"at": datetime.now(UTC).isoformat(), "head": head, "problem": problem})
        return WitnessResult(problem is None, source, head, previous["size"] if previous else None, problem, notes)

    def _problem(
        self, head: dict[str, Any], previous: dict[str, Any] | None, keys: list[Any], remote: _Remote
    ) -> str | None:
        if not head_signed(head, keys):
            return (f"the head of size {head['size']} is signed by key {head['key_id']}, which no key you trusted "
                    "endorsed: the installation's audit key was swapped")
        if previous is None:
            return None
        if head["size"] < previous["size"]:
            return f"the log shrank from {previous['size']} to {head['size']} records: records were cut off"
        try:
            proof = [] if head["size"] == previous["size"] else remote.consistency(previous["size"], head["size"])
            check_consistency(previous["size"], head["size"], bytes.fromhex(previous["root"]),
                              bytes.fromhex(head["root"]), [bytes.fromhex(p) for p in proof])
        except ProofError as exc:
            return f"{exc} (between the head of size {previous['size']} you kept and the new one)"
        return None

    # --- the store --------------------------------------------------------------------------------------
    def _pinned(self) -> dict[str, str]:
        path = self.store / "keys.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def _save_keys(self, pinned: dict[str, str]) -> None:
        self.store.mkdir(parents=True, exist_ok=True)
        (self.store / "keys.json").write_text(json.dumps(pinned, indent=1))

    def _latest(self) -> dict[str, Any] | None:
        path = self.store / "heads.jsonl"
        if not path.exists():
            return None
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        return max((json.loads(line) for line in lines), key=lambda h: h["size"], default=None)

    def _append(self, name: str, item: dict[str, Any]) -> None:
        self.store.mkdir(parents=True, exist_ok=True)
        with (self.store / name).open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(item, sort_keys=True) + "\n")


def _endorsed(entry: dict[str, Any], pinned: dict[str, str]) -> bool:
    endorser = pinned.get(str(entry.get("endorsed_by")))
    if endorser is None or not entry.get("endorsement"):
        return False
    try:
        new = public_key_from_hex(entry["public_key"])
    except ValueError:
        return False
    message = rotation_message(entry["key_id"], entry["public_key"])
    return key_id(new) == entry["key_id"] and verify_signature(public_key_from_hex(endorser), message,
                                                               entry["endorsement"])


class _Remote:
    """An installation's public site (http/https URL), or a saved file: a head, or {"head", "keys"}."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.is_file = not source.startswith(("http://", "https://"))
        self._bundle: dict[str, Any] | None = None

    def head(self) -> Any:
        if self.is_file:
            bundle = self._file()
            return bundle.get("head", bundle)
        return self._get("head")

    def published_keys(self) -> list[dict[str, Any]]:
        if self.is_file:
            bundle = self._file()
            return list(bundle.get("keys", []))
        return list(self._get("keys"))

    def consistency(self, first: int, second: int) -> list[str]:
        """The proof from `first` to `second`; a file must carry it as {"consistency": {"first", "proof"}}."""
        if self.is_file:
            proof = self._file().get("consistency") or {}
            if proof.get("first") != first:
                raise WitnessError(f"{self.source} carries no consistency proof from the {first} records you kept")
            return list(proof["proof"])
        return list(self._get("consistency", first=first, second=second)["proof"])

    def _file(self) -> dict[str, Any]:
        if self._bundle is None:
            try:
                self._bundle = json.loads(Path(self.source).read_text(encoding="utf-8"))
            except OSError as exc:
                raise WitnessError(f"cannot read {self.source}: {exc.strerror}") from None
            except ValueError:
                raise WitnessError(f"{self.source} is not JSON") from None
            if not isinstance(self._bundle, dict):
                raise WitnessError(f"{self.source} is not a head")
        return self._bundle

    def _get(self, path: str, **query: int) -> Any:
        url = f"{self.source.rstrip('/')}/api/public/audit/{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:  # noqa: S310 - the user's URL
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise WitnessError(f"{url} answered {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise WitnessError(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from None
        except ValueError:
            raise WitnessError(f"{url} did not answer JSON") from None


__all__ = ["HeadError", "Witness", "WitnessError", "WitnessResult"]
