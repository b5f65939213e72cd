"""The keyword lists, per language, as weighted regular expressions. `face` terms name facial recognition
itself; `around` terms name what a facial-recognition system is built from or for (watchlists, biometric
matching, face databases); `context` terms (cameras, video surveillance, AI) only nudge the score, so a
notice that buys cameras or AI without facial recognition stays below the threshold. Measured in
bench/notices.py on real notices (docs/observatory.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    language: str
    kind: str  # face | around | context
    weight: float
    pattern: re.Pattern[str]

    @property
    def label(self) -> str:
        return f"{self.language}:{self.kind}:{self.pattern.pattern}"


def _rules(language: str, kind: str, weight: float, *patterns: str) -> list[Rule]:
    return [Rule(language, kind, weight, re.compile(p, re.IGNORECASE)) for p in patterns]


THRESHOLD = 0.5

RULES: tuple[Rule, ...] = (
    # English
    *_rules(
        "en",
        "face",
        0.9,
        r"\bfacial[- ]recognition\b",
        r"\bface[- ]recognition\b",
        r"\blive facial\b",
        r"\bfacial (?:matching|comparison|identification|biometrics?)\b",
        r"\bface (?:matching|comparison|identification|search|verification)\b",
        r"\bbiometric facial\b",
    ),
    *_rules("en", "face", 0.6, r"\b(?:LFR|RFR|AFRS)\b", r"\bfaces against\b"),
    *_rules(
        "en",
        "around",
        0.4,
        r"\bwatch ?lists?\b",
        r"\bbiometric (?:matcher|matching|match|enrol?ment|identification)\b",
        r"\bliveness\b",
        r"\bpersons? of interest\b",
    ),
    *_rules(
        "en",
        "context",
        0.05,
        r"\bcctv\b",
        r"\bcameras?\b",
        r"\bvideo surveillance\b",
        r"\bbody[- ]worn\b",
        r"\bartificial intelligence\b",
        r"\bvideo analytics\b",
    ),
    # Chinese (simplified and traditional)
    *_rules(
        "zh",
        "face",
        0.9,
        r"人[脸臉]识别|人[脸臉]識別",
        r"人[脸臉]比[对對]|人像比[对對]",
        r"人像[识識][别別]|动态人像|動態人像",
        r"人[脸臉]抓拍",
        r"刷[脸臉]",
        r"人[脸臉](?:门禁|考勤|闸机|門禁|考勤)",
        r"面部[识識][别別]",
    ),
    *_rules("zh", "face", 0.7, r"人[脸臉]"),
    *_rules("zh", "around", 0.4, r"人像库|人脸库|重点人员|布控"),
    *_rules("zh", "context", 0.05, r"摄像机|摄像头|攝像機|監控|监控", r"视频|視頻", r"球机|卡口", r"人工智能|智能分析"),
    # Russian (and Ukrainian news in Russian)
    *_rules("ru", "face", 0.9, r"распозна\w*\s+лиц", r"биометрическ\w*\s+идентификаци\w*", r"идентификаци\w*\s+лиц\b"),
    *_rules("ru", "face", 0.7, r"идентификаци\w*»?\s+(?:зрителей|пассажиров|граждан|посетителей|личности)"),
    *_rules("ru", "around", 0.4, r"биометри\w*", r"розыск\w*"),
    *_rules(
        "ru",
        "context",
        0.05,
        r"видеокамер\w*|камер\w*",
        r"видеонаблюдени\w*",
        r"видеофиксаци\w*",
        r"видеоаналитик\w*",
        r"безопасный город",
    ),
    # Serbian (Latin and Cyrillic)
    *_rules(
        "sr", "face", 0.9, r"prepozna\w*\s+lic[aeu]\b", r"prepoznavanj\w*\s+lik[au]\b", r"препозна\w*\s+лиц[аеу]\b"
    ),
    *_rules("sr", "around", 0.4, r"biometrijsk\w*", r"биометријск\w*"),
    *_rules(
        "sr",
        "context",
        0.05,
        r"kamer\w*|камер\w*",
        r"video[- ]?nadzor\w*|видео[- ]?надзор\w*",
        r"bezbedan grad|sigurni grad",
    ),
)
