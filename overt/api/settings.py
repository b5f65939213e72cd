"""The web server's own settings (OVERT_* like the rest), kept apart from the engine's and storage's."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024


class ApiSettings(BaseSettings):
    """Limits, sessions and the public map; every value can be set as OVERT_<NAME> in the environment."""

    model_config = SettingsConfigDict(env_prefix="OVERT_", extra="ignore")

    # The public map's tiles. Empty by default: no visitor's address goes to a third party unless the
    # operator chooses a tile server (e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png, with its terms).
    tile_url: str = ""
    tile_attribution: str = "&copy; OpenStreetMap contributors"

    max_body_bytes: int = Field(MIB, description="JSON and YAML bodies")
    max_geojson_bytes: int = Field(5 * MIB, description="camera registry imports")
    max_upload_bytes: int = Field(10 * MIB, description="a whole enrolment or identification upload")
    max_upload_files: int = 8
    max_report_bytes: int = Field(5 * MIB, description="a public camera report with its photo")

    session_hours: float = 8.0
    max_sessions: int = 10_000
    secure_cookies: bool = False  # set behind HTTPS; cookies are Secure anyway when the request came over https

    # Token buckets per client address: (tokens per second, burst).
    public_rate: float = 5.0
    public_burst: int = 60
    report_rate: float = 1 / 120
    report_burst: int = 5
    login_rate: float = 0.2
    login_burst: int = 10

    sse_poll_seconds: float = 1.0
    sse_max_seconds: float = 300.0  # then the browser reconnects, and is authenticated afresh
    sse_max_streams: int = 100

    demo: bool = False

    # Failed token attempts (any route, login included), per client address and per token prefix.
    token_failure_rate: float = 0.1
    token_failure_burst: int = 10
    # Proxies whose X-Forwarded-For is believed (comma-separated addresses, "*" for any). None by default:
    # otherwise any client could pick the address its rate limits are counted against.
    trusted_proxies: str = ""
    # Console sessions and rate limits in the database, shared by every API process behind a proxy.
    # Unset: shared when the database is PostgreSQL, in this process's memory on SQLite.
    shared_state: bool | None = None

    def tile_origin(self) -> str:
        """The tile server's origin, for the Content-Security-Policy's img-src ('' when none)."""
        if not self.tile_url:
            return ""
        parts = urlsplit(self.tile_url.replace("{s}", "*"))  # Leaflet's subdomain placeholder
        if parts.scheme not in ("https", "http") or not parts.netloc:
            return ""
        return f"{parts.scheme}://{parts.netloc}"
