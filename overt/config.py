"""One settings model, read once from the environment (OVERT_*) and passed down."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .engine import EngineConfig, ImageLimits
from .engine.detect import DetectorSettings
from .engine.embed import OnnxInput


def default_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "overt"


class Settings(BaseSettings):
    """Everything configurable; `OVERT_HOME=/srv/overt` and friends, or keyword arguments in code."""

    model_config = SettingsConfigDict(env_prefix="OVERT_", extra="ignore")

    home: Path = Field(default_factory=default_home)
    database_url: str | None = None  # default: SQLite file in home
    key: str | None = None  # base64 template key; default: home/keys/templates.key
    detector: str = "blazeface"
    min_face: int = 32
    detect_max_side: int = 1600
    max_image_pixels: int = 40_000_000
    max_image_bytes: int = 25 * 1024 * 1024
    onnx_model: str | None = None
    workers: int | None = None
    user: str = "admin"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'overt.db'}"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def cohort_dir(self) -> Path:
        return self.home / "cohort"

    @property
    def calibration_dir(self) -> Path:
        return self.home / "calibration"

    def engine_config(self) -> EngineConfig:
        return EngineConfig(
            detector=self.detector,
            detection=DetectorSettings(min_face=self.min_face, max_side=self.detect_max_side),
            limits=ImageLimits(max_pixels=self.max_image_pixels, max_bytes=self.max_image_bytes),
            onnx_model=self.onnx_model,
            onnx_input=OnnxInput(),
            calibration_dirs=(self.calibration_dir,),
            cohort_dirs=(self.cohort_dir,),
        )
