"""The procurement-notice analyser: does a notice buy facial recognition or the systems around it, and who
buys what from whom, for how much. Offline rules and multilingual keyword lists (English, Chinese, Russian,
Serbian), measured on real notices in bench/notices.py; nothing is downloaded at run time."""

from __future__ import annotations

from .classify import classify, classify_paths
from .ingest import Notice, NoticeError, read_notices

__all__ = ["Notice", "NoticeError", "classify", "classify_paths", "read_notices"]
