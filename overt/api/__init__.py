"""The HTTP API, the operators' console and the public transparency site, over the service layer."""

from .app import Background, add_background, create_app
from .settings import ApiSettings

__all__ = ["ApiSettings", "Background", "add_background", "create_app"]
