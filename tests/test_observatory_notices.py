"""The procurement-notice analyser on real notices (tests/data/observatory/SOURCES.md): the contract, the
formats (text, HTML, PDF, OCDS releases, release and record packages), extraction, and per-language quality."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import pytest
from fpdf import FPDF

from overt.observatory.notices import NoticeError, classify_paths, read_notices
from tests.test_observatory_index import overt_cli

NOTICES = Path(__file__).parent / "data" / "observatory" / "notices"
OCDS = NOTICES / "en" / "ocds_uk_releases.json"
KEYS = {"path", "facial_recognition", "score", "evidence", "buyer", "vendor", "amount", "currency", "date", "language"}


def by_name(results: list[dict], name: str) -> dict:
    return next(r for r in results if r["path"].endswith(name))


def test_cli_classifies_files_folders_and_ocds_in_the_contract_shape(tmp_path: Path) -> None:
    done = overt_cli(
        tmp_path / "home",
        "observatory",
        "notices",
        "classify",
        str(NOTICES / "zh"),
        str(OCDS),
        str(NOTICES / "ru" / "kyiv-cameras-face-temperature.txt"),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert len(results) == 16 + 9 + 1
    assert all(set(r) >= KEYS for r in results)
    btp = by_name(results, "#ocds-b5fd17-b73d00e7-9ec4-40f7-9472-c85af34af890")
    assert btp["facial_recognition"] is True and btp["amount"] == 140234.4 and btp["currency"] == "GBP"
    assert btp["date"] == "2025-11-12" and btp["language"] == "en"
    assert any("Live **Facial Recognition**" in e["snippet"] for e in btp["evidence"])
    kyiv = by_name(results, "kyiv-cameras-face-temperature.txt")
    assert (kyiv["facial_recognition"], kyiv["currency"], kyiv["cameras"], kyiv["vendor"]) == (
        True,
        "UAH",
        400,
        "Hikvision",
    )
    njupt = by_name(results, "njupt-dorm-face-access.txt")
    assert (njupt["buyer"], njupt["amount"], njupt["currency"], njupt["date"]) == (
        "南京邮电大学",
        2_380_000,
        "CNY",
        "2020-11-27",
    )


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    done = overt_cli(tmp_path / "home", "observatory", "notices", "classify", str(bad), "--json")
    assert done.returncode == 1 and "not JSON" in done.stderr and "Traceback" not in done.stderr
    done = overt_cli(tmp_path / "home", "observatory", "notices", "classify", str(tmp_path / "missing.txt"))
    assert done.returncode == 2


def test_precision_and_recall_per_language_on_the_labelled_notices() -> None:
    labels = {row["notice"]: row for row in csv.DictReader((NOTICES / "labels.csv").open(encoding="utf-8"))}
    assert len(labels) >= 60
    assert sum(r["facial_recognition"] == "0" for r in labels.values()) >= len(labels) / 2
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"tp": 0, "fp": 0, "fn": 0})
    for result in classify_paths([NOTICES]):
        file, _, release = result["path"].partition("#")
        key = str(Path(file).relative_to(NOTICES)) + (f"#{release}" if release else "")
        truth = labels.pop(key)["facial_recognition"] == "1"
        c = counts[result["language"]]
        c["tp"] += result["facial_recognition"] and truth
        c["fp"] += result["facial_recognition"] and not truth
        c["fn"] += (not result["facial_recognition"]) and truth
    assert labels == {}  # every labelled notice was read
    assert set(counts) == {"en", "zh", "ru", "sr"}  # and its language detected as labelled (checked below)
    for lang, c in counts.items():
        assert c["tp"] / (c["tp"] + c["fp"]) >= 0.9, lang
        assert c["tp"] / (c["tp"] + c["fn"]) >= 0.9, lang


def test_language_is_detected_as_labelled() -> None:
    labels = {row["notice"]: row["language"] for row in csv.DictReader((NOTICES / "labels.csv").open(encoding="utf-8"))}
    for result in classify_paths([NOTICES]):
        file, _, release = result["path"].partition("#")
        assert result["language"] == labels[str(Path(file).relative_to(NOTICES)) + (f"#{release}" if release else "")]


def test_record_package_and_single_release_give_the_same_verdicts(tmp_path: Path) -> None:
    releases = json.loads(OCDS.read_text())["releases"]
    records = tmp_path / "records.json"
    records.write_text(json.dumps({"records": [{"ocid": r["ocid"], "compiledRelease": r} for r in releases]}))
    single = tmp_path / "release.json"
    single.write_text(json.dumps(releases[3]))
    linked = tmp_path / "linked.json"  # a record whose releases are embedded: the latest full one counts
    linked.write_text(json.dumps({"ocid": releases[0]["ocid"], "releases": [releases[0]]}))

    def verdicts(path: Path) -> list[tuple]:
        return [(r["path"].split("#")[1], r["facial_recognition"], r["amount"]) for r in classify_paths([path])]

    assert verdicts(records) == verdicts(OCDS)
    assert verdicts(single) == [("ocds-h6vhtk-02d719", True, 91_000_000)]
    assert verdicts(linked)[0][1] is True
    (tmp_path / "empty.json").write_text('{"releases": []}')
    with pytest.raises(NoticeError, match="no OCDS releases"):
        list(read_notices(tmp_path / "empty.json"))


def test_html_and_pdf_notices(tmp_path: Path) -> None:
    text = (NOTICES / "en" / "mopac-rfr-northgate-report.txt").read_text()
    html = tmp_path / "notice.html"
    html.write_text(
        "<html><head><style>p{}</style><script>var x = 'facial recognition';</script></head><body>"
        + "".join(f"<p>{line}</p>" for line in text.splitlines())
        + "</body></html>"
    )
    decoy = tmp_path / "decoy.html"  # the words only in a script: not a notice that buys anything
    decoy.write_text("<html><script>var x = 'facial recognition';</script><p>CCTV cameras maintenance</p></html>")
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=10)
    pdf.multi_cell(0, 5, text.replace("’", "'"))
    pdf.output(str(tmp_path / "notice.pdf"))
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 nothing here")
    results = {
        Path(r["path"]).name: r for r in classify_paths([tmp_path / "notice.html", decoy, tmp_path / "notice.pdf"])
    }
    for name in ("notice.html", "notice.pdf"):
        assert results[name]["facial_recognition"] is True
        assert results[name]["amount"] == 3_084_000 and results[name]["currency"] == "GBP"
        assert results[name]["vendor"] == "Northgate Public Services"
    assert results["decoy.html"]["facial_recognition"] is False
    with pytest.raises(NoticeError, match="not a readable PDF"):
        list(read_notices(tmp_path / "broken.pdf"))


def test_cameras_or_ai_alone_do_not_make_a_notice_positive() -> None:
    results = classify_paths(
        [
            NOTICES / "en" / "find-tender-076746-2025.txt",
            NOTICES / "zh" / "ordos-smart-policing-video.txt",
            NOTICES / "ru" / "moscow-schools-13000-cameras.txt",
        ]
    )
    assert [r["facial_recognition"] for r in results] == [False, False, False]
    assert all(r["score"] < 0.5 for r in results)
    assert results[0]["amount"] == 920_000 and results[2]["cameras"] == 13_000
