"""Guessing tokens costs time, and X-Forwarded-For cannot buy a fresh address: a real server on loopback,
30 bad logins and 30 bad bearer tokens with a spoofed X-Forwarded-For on each."""

from __future__ import annotations

from pathlib import Path

import httpx

from overt.api import ApiSettings
from overt.api.server import running
from tests.test_api import make_site


def spoofed(n: int) -> dict[str, str]:
    return {"X-Forwarded-For": f"203.0.113.{n}"}


def test_spoofed_forwarded_for_does_not_escape_the_login_limit(tmp_path: Path) -> None:
    site = make_site(tmp_path / "home", ApiSettings(login_burst=10, token_failure_burst=1000))
    with running(site.app) as base:
        codes = [httpx.post(f"{base}/api/session", json={"token": f"ovt_guess{n}"}, headers=spoofed(n)).status_code
                 for n in range(30)]
    assert codes[:10] == [401] * 10 and codes.count(429) >= 15, codes


def test_bad_bearer_tokens_are_throttled_per_client(tmp_path: Path) -> None:
    site = make_site(tmp_path / "home", ApiSettings(token_failure_burst=10))
    with running(site.app) as base:
        codes = [httpx.get(f"{base}/api/alerts", headers={"Authorization": f"Bearer ovt_{n:04d}guess",
                                                          **spoofed(n)}).status_code for n in range(30)]
        throttled = httpx.get(f"{base}/api/alerts", headers={"Authorization": "Bearer ovt_another"})
    assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}, codes
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1
    assert throttled.json()["error"]["rule"] == "rate-limit"


def test_a_trusted_proxy_names_clients_and_token_prefixes_are_throttled_across_them(tmp_path: Path) -> None:
    """Behind a configured proxy each forwarded address is its own client, so per-client counting alone
    would let a distributed guess through; guesses sharing a prefix are counted together."""
    site = make_site(tmp_path / "home", ApiSettings(token_failure_burst=10, trusted_proxies="127.0.0.1"))
    reviewer = site.tokens["rev1"]
    with running(site.app) as base:
        same_prefix = [httpx.get(f"{base}/api/alerts", headers={"Authorization": f"Bearer {reviewer[:12]}x{n}",
                                                                **spoofed(n)}).status_code for n in range(30)]
        other_prefix = [httpx.get(f"{base}/api/alerts", headers={"Authorization": f"Bearer ovt_{n:08d}zz",
                                                                 **spoofed(100 + n)}).status_code for n in range(10)]
        valid_elsewhere = httpx.get(f"{base}/api/alerts", headers={"Authorization": f"Bearer {site.tokens['rev2']}",
                                                                   **spoofed(250)})
    assert same_prefix[:10] == [401] * 10 and set(same_prefix[10:]) == {429}, same_prefix
    assert set(other_prefix) == {401}  # distinct clients, distinct prefixes: each within its allowance
    assert valid_elsewhere.status_code == 200
