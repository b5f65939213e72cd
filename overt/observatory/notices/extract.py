"""Buyer, vendor, amount and currency, date, language and the number of cameras, from a notice's words.
Labelled fields first ("Buyer:", "采购人:", "Заказчик", "Naručilac"), then patterns; None when unsure."""

from __future__ import annotations

import re
from typing import Any

LATIN_SR = re.compile(r"[čćšžđ]", re.IGNORECASE)
CYRILLIC_SR = re.compile(r"[ђћџљњј]", re.IGNORECASE)
SR_WORDS = re.compile(r"\b(?:je|su|da|za|kamere|kamera|nabavk\w*|grad\w*|opštin\w*)\b", re.IGNORECASE)
EN_WORDS = re.compile(r"\b(?:the|and|of|for|to|with|will|be)\b", re.IGNORECASE)

MONTHS = {
    **{
        m: i
        for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)
    },
    **{
        m: i
        for i, m in enumerate(
            ["январ", "феврал", "март", "апрел", "ма", "июн", "июл", "август", "сентябр", "октябр", "ноябр", "декабр"],
            1,
        )
    },
    **{
        m: i
        for i, m in enumerate(
            [
                "januar",
                "februar",
                "mart",
                "april",
                "maj",
                "jun",
                "jul",
                "avgust",
                "septemb",
                "oktob",
                "novemb",
                "decemb",
            ],
            1,
        )
    },
}
MULTIPLIERS = {
    "k": 1e3,
    "thousand": 1e3,
    "m": 1e6,
    "million": 1e6,
    "mn": 1e6,
    "bn": 1e9,
    "billion": 1e9,
    "万": 1e4,
    "亿": 1e8,
    "тыс": 1e3,
    "млн": 1e6,
    "млрд": 1e9,
    "миллион": 1e6,
    "миллиард": 1e9,
    "hiljad": 1e3,
    "milion": 1e6,
    "miliona": 1e6,
    "milijard": 1e9,
}
CURRENCIES = {
    "£": "GBP",
    "gbp": "GBP",
    "$": "USD",
    "usd": "USD",
    "€": "EUR",
    "eur": "EUR",
    "evra": "EUR",
    "eura": "EUR",
    "元": "CNY",
    "人民币": "CNY",
    "cny": "CNY",
    "rmb": "CNY",
    "руб": "RUB",
    "rub": "RUB",
    "грн": "UAH",
    "гривен": "UAH",
    "гривн": "UAH",
    "uah": "UAH",
    "dinara": "RSD",
    "rsd": "RSD",
    "mdl": "MDL",
    "inr": "INR",
    "₹": "INR",
}
NUM = r"(?<![\d*.,])(?:\d[\d\s,.]*\d|\d)"
MULT = (
    r"k|m|bn|mn|million|billion|thousand|万|亿|тыс\.?|млн\.?|млрд\.?|миллион\w*|миллиард\w*"
    r"|hiljad\w*|milion\w*|milijard\w*"
)
AMOUNT_PATTERNS = (
    re.compile(rf"(?P<cur>[£$€₹])\s?(?P<num>{NUM})\s*(?P<mult>{MULT})?(?![\w])", re.IGNORECASE),
    re.compile(rf"(?P<cur>人民币)\s*(?P<num>{NUM})\s*(?P<mult>万|亿)?\s*元"),
    re.compile(rf"(?P<num>{NUM})\s*(?P<mult>万|亿)?\s*元"),
    re.compile(
        rf"(?P<num>{NUM})\s*(?:(?P<mult>{MULT})\s*)?(?P<cur>GBP|USD|EUR|MDL|INR|RSD|CNY|RUB|UAH|руб\w*|грн|гривен\w*|гривн\w*|dinara|evra|eura)\b",
        re.IGNORECASE,
    ),
)
BUYER_LABELS = re.compile(
    r"(?:(?:Published by|Buyer|Contracting authority|Purchaser|采购人|采购单位|招标人|招 标 人|业主单位|Заказчик|"
    r"Naručilac|Наручилац)\s*[:：]|Заказчиком\s+(?:\w+\s+)?выступает)\s*(?P<v>[^\n,;|。，]{3,80})",
    re.IGNORECASE,
)
BUYER_NAMES = (
    re.compile(
        r"((?:[A-Z][\w&'’.-]*\s){1,5}(?:Council|Police (?:Department|Service|Authority)|Sheriff['’]s Office|"
        r"Home Office|Ministry of [A-Z]\w+|Department of [A-Z]\w+|Constabulary|Office for Policing and Crime|"
        r"Authority))"
    ),
    re.compile(r"([\u4e00-\u9fff]{2,24}(?:公安局|分局|大学|学院|集团|管理局|环境局|人民政府|学校))"),
    re.compile(
        r"((?:Администрация|Департамент|Правительство|Министерство|Центр|Управление)(?:\s+[^\s.,«]+){0,6}?)"
        r"(?=\s+(?:объявил\w*|заказал\w*|разместил\w*|скорректировал\w*|направит|потратит|выделит|разорвал\w*)\b)"
    ),
    re.compile(
        r"((?:Ministarstvo unutrašnjih poslova|MUP|Policijsk\w+ uprav\w+|Grad|Opštin\w+)"
        r"(?:\s+(?:Srbije|Crne Gore|[A-ZČĆŠŽĐ]\w+))?)"
    ),
)
VENDOR_PATTERNS = (
    re.compile(r"(?:awarded to|contract with|to the supplier)\s+(?P<v>(?:[A-Z][\w&'’.-]*\s?){1,6})"),
    re.compile(r"(?:中标(?:供应商|单位|人)|成交供应商)\s*[:：]\s*(?P<v>[^\s,，。|]{4,40})"),
    re.compile(r"(?<![\u4e00-\u9fff*])(?P<v>(?:(?!招标|代理|咨询)[\u4e00-\u9fff*]){4,30}(?:有限公司|分公司))"),
    re.compile(r"победител\w*\s+(?:\w+\s+){0,3}«(?P<v>[^»]{2,60})»"),
    re.compile(r"марки\s+(?P<v>[A-Z][\w-]+)"),
    re.compile(r"dobila je firma\s+(?:d\.o\.o\.\s+)?(?P<v>[A-ZČĆŠŽĐ][\w-]+)"),
)
CAMERA_PATTERNS = (
    re.compile(r"(?P<n>\d[\d,.\s]*\d|\d)\s+(?:[a-z-]+\s){0,2}cameras\b", re.IGNORECASE),
    re.compile(r"(?P<n>\d[\d,]*)\s*(?:台|个|路)\s*[\u4e00-\u9fff]{0,6}(?:摄像机|摄像头|球机|枪机|相机)"),
    re.compile(r"(?:摄像机|摄像头)[^0-9\n]{0,10}(?P<n>\d[\d,]*)\s*(?:台|个)"),
    re.compile(
        r"(?P<n>\d[\d\s]*\d|\d)\s+(?:(?!млн|млрд|тыс|руб)[а-яё\"«»-]+\s){0,3}(?:видеокамер|камер)\w*", re.IGNORECASE
    ),
    re.compile(r"(?P<n>\d[\d.]*)\s+(?:[a-zčćšžđ]+\s){0,2}kamer\w*", re.IGNORECASE),
)


def language(text: str) -> str:
    """en, zh, ru or sr, from the script and a few common words."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return "en"
    cjk = sum(1 for c in letters if "\u4e00" <= c <= "\u9fff")
    cyrillic = sum(1 for c in letters if "\u0400" <= c <= "\u04ff")
    if cjk / len(letters) > 0.2:
        return "zh"
    if cyrillic / len(letters) > 0.3:
        return "sr" if len(CYRILLIC_SR.findall(text)) > 2 else "ru"
    if len(LATIN_SR.findall(text)) > 2 or len(SR_WORDS.findall(text)) > len(EN_WORDS.findall(text)):
        return "sr"
    return "en"


def extract(text: str, lang: str) -> dict[str, Any]:
    amount, currency = _amount(text, lang)
    return {
        "buyer": _buyer(text),
        "vendor": _first(VENDOR_PATTERNS, text),
        "amount": amount,
        "currency": currency,
        "date": _date(text),
        "cameras": _cameras(text, lang),
    }


def _first(patterns: tuple[re.Pattern[str], ...], text: str) -> str | None:
    for pattern in patterns:
        match = pattern.search(text)
        if match:
            value = " ".join(match.group("v").split()).strip(" *:：-—\"'«»")
            if value:
                return value
    return None


def _buyer(text: str) -> str | None:
    labelled = BUYER_LABELS.search(text)
    if labelled and labelled.group("v").strip(" *【】"):
        return " ".join(labelled.group("v").split()).strip(" *【】")
    for pattern in BUYER_NAMES:
        match = pattern.search(text)
        if match:
            return " ".join(match.group(1).split())
    return None


def _number(raw: str, lang: str) -> float | None:
    raw = raw.strip()
    if lang in ("ru", "sr"):  # 1 000,5 / 1.000,5
        raw = raw.replace(" ", "").replace("\u00a0", "")
        if "," in raw:
            raw = raw.replace(".", "").replace(",", ".")
        elif re.fullmatch(r"\d{1,3}(?:\.\d{3})+", raw):
            raw = raw.replace(".", "")
    else:  # 1,000.5
        raw = raw.replace(",", "").replace(" ", "")
    try:
        return float(raw)
    except ValueError:
        return None


def _amount(text: str, lang: str) -> tuple[float | None, str | None]:
    best: tuple[int, float, str] | None = None
    for pattern in AMOUNT_PATTERNS:
        for match in pattern.finditer(text):
            value = _number(match.group("num"), lang)
            if value is None:
                continue
            mult = (match.groupdict().get("mult") or "").lower().rstrip(".")
            factor = next(
                (
                    f
                    for key, f in MULTIPLIERS.items()
                    if mult and mult.startswith(key) and (len(key) > 1 or mult == key)
                ),
                1.0,
            )
            cur = (match.groupdict().get("cur") or "元").lower()
            currency = next((c for key, c in CURRENCIES.items() if cur.startswith(key)), None)
            if currency and (best is None or match.start() < best[0]):
                best = (match.start(), round(value * factor, 2), currency)
            break
    return (best[1], best[2]) if best else (None, None)


def _date(text: str) -> str | None:
    found: list[tuple[int, str]] = []
    for match in re.finditer(r"\b((?:19|20)\d\d)-(\d\d)-(\d\d)\b", text):
        found.append((match.start(), f"{match[1]}-{match[2]}-{match[3]}"))
    for match in re.finditer(r"((?:19|20)\d\d)\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日", text):
        found.append((match.start(), f"{match[1]}-{int(match[2]):02d}-{int(match[3]):02d}"))
    for match in re.finditer(r"\b(\d{1,2})\.(\d{1,2})\.((?:19|20)\d\d)\b", text):
        found.append((match.start(), f"{match[3]}-{int(match[2]):02d}-{int(match[1]):02d}"))
    for match in re.finditer(
        r"\b(\d{1,2})(?:st|nd|rd|th)?\.?\s+([A-Za-zА-Яа-яčćšžđ]{3,})\.?,?\s+((?:19|20)\d\d)\b", text
    ):
        month = _month(match[2])
        if month:
            found.append((match.start(), f"{match[3]}-{month:02d}-{int(match[1]):02d}"))
    for match in re.finditer(r"\b([A-Z][a-z]{2,})\.?\s+(\d{1,2}),\s+((?:19|20)\d\d)\b", text):
        month = _month(match[1])
        if month:
            found.append((match.start(), f"{match[3]}-{month:02d}-{int(match[2]):02d}"))
    valid = [(pos, d) for pos, d in found if 1 <= int(d[5:7]) <= 12 and 1 <= int(d[8:10]) <= 31]
    return min(valid)[1] if valid else None


def _month(word: str) -> int | None:
    word = word.lower()
    for key, month in sorted(MONTHS.items(), key=lambda kv: -len(kv[0])):
        if word.startswith(key) and (len(key) > 2 or word in ("мая", "май")):
            return month
    return None


def _cameras(text: str, lang: str) -> int | None:
    counts = []
    for pattern in CAMERA_PATTERNS:
        for match in pattern.finditer(text):
            value = _number(match.group("n"), "ru" if lang in ("ru", "sr") else "en")
            if value and value.is_integer() and 0 < value < 10_000_000:
                counts.append(int(value))
    return max(counts) if counts else None
