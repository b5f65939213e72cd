"""The operators' console and the public transparency site: static HTML, JS and CSS, vendored libraries.

No page carries inline script (the Content-Security-Policy forbids it) and nothing loads from a CDN.
"""

from pathlib import Path

WEB = Path(__file__).resolve().parent
PAGES = WEB / "pages"
STATIC = WEB / "static"
