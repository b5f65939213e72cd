"""Report building and rendering, external score files and the classifier audit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from overt.evaluation.external import CsvError, audit_classifier, load_score_csv, write_classifier_report
from overt.evaluation.identification import identification_metrics
from overt.evaluation.metrics import ScoreSet
from overt.evaluation.report import build_metrics, write_report

HOSTILE = "<script>alert('x')</script>"


def score_set(seed: int = 0, n_subjects: int = 300, n_pairs: int = 8000) -> ScoreSet:
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 3, n_subjects)
    a = rng.integers(0, n_subjects, n_pairs)
    b = np.where(rng.random(n_pairs) < 0.25, a, rng.integers(0, n_subjects, n_pairs))
    scores = rng.normal(size=n_pairs) + 2.5 * (a == b) + 0.3 * group[a]
    scores[:5] = np.nan  # a few failures to acquire
    return ScoreSet(scores, a == b, group[a], group[b], ("f", "m", HOSTILE), a, b)


def test_build_metrics_shape_reproducibility_and_threshold_sources() -> None:
    ss = score_set()
    m = build_metrics(ss, target_fmr=1e-2, n_bootstrap=200, seed=5)
    assert m == build_metrics(ss, target_fmr=1e-2, n_bootstrap=200, seed=5)
    json.dumps(m, allow_nan=False)  # strictly JSON: no NaN or infinity anywhere
    assert m["settings"]["threshold_source"] == "calibrated"
    assert {"eer", "fmr", "fnmr", "threshold"} <= set(m["overall"])
    assert set(m["groups"]) == {"f", "m", HOSTILE}
    for g in m["groups"].values():
        assert {"fmr", "fnmr", "fta", "genuine", "impostor", "fmr_ci", "fnmr_ci"} <= set(g)
        assert g["fmr"] <= 1e-2  # calibrated so that every group meets the target
    for key in ("fmr_max_min", "fnmr_max_min", "fmr_max_geomean", "fnmr_max_geomean"):
        assert key in m["differentials"] and f"{key}_ci" in m["differentials"]
    assert m["overall"]["fta"] == pytest.approx(5 / len(ss))
    assert [p["target"] for p in m["fnmr_at_fmr"]][:2] == [1e-2, 1e-3]
    assert len(m["curves"]["overall"]["fmr"]) <= 200
    assert build_metrics(ss, threshold=1.0, n_bootstrap=0)["settings"]["threshold_source"] == "given"
    eer = build_metrics(ss, n_bootstrap=0)
    assert eer["overall"]["threshold"] == eer["overall"]["eer_threshold"]
    no_ids = build_metrics(ScoreSet.from_labels(ss.scores, ss.same), n_bootstrap=100)
    assert no_ids["overall"]["fmr_ci"] is None and any("no identities" in w for w in no_ids["warnings"])


def test_report_files_plots_variants_and_escaping(tmp_path: Path) -> None:
    ss = score_set()
    ident = identification_metrics(
        np.random.default_rng(0).normal(size=(20, 5)),
        list("abcde"),
        [*"abcde" * 2, *[None] * 10],
        threshold=1.0,
        groups=[HOSTILE, "f"] * 10,
    )
    raw = build_metrics(ss, target_fmr=1e-2, n_bootstrap=50, identification=ident)
    normalised = build_metrics(
        ScoreSet(
            1 / (1 + np.exp(-ss.scores)),
            ss.same,
            ss.group_a,
            ss.group_b,
            ss.group_names,
            ss.subject_a,
            ss.subject_b,
        ),
        target_fmr=1e-2,
        n_bootstrap=50,
    )
    files = write_report(
        tmp_path / "out",
        {"raw": raw, "normalised": normalised},
        title=f"Audit {HOSTILE}",
        dataset={"name": HOSTILE},
        notes=[HOSTILE],
    )
    html = files.html.read_text()
    assert "<script" not in html.lower()  # hostile labels are escaped, and the page has no scripts
    assert "&lt;script&gt;" in html
    assert html.count('src="data:image/png;base64,') == 4 * 2 + 1  # four plots per variant, one 1:N plot
    assert "http://" not in html and "https://" not in html  # self-contained
    assert "Variants compared" in html and "cannot show" in html
    doc = json.loads(files.json.read_text())
    assert doc["primary"] == "raw" and set(doc["variants"]) == {"raw", "normalised"}
    assert doc["overall"] == raw["overall"] and doc["groups"][HOSTILE] == raw["groups"][HOSTILE]
    # A monotone transform of the scores changes thresholds, not the rates at the calibrated point.
    assert doc["variants"]["normalised"]["overall"]["fnmr"] == pytest.approx(raw["overall"]["fnmr"])

    single = write_report(tmp_path / "one", {"scores": raw}, title="one")
    assert "Variants compared" not in single.html.read_text()


# ------------------------------------------------------------------------------------- external


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_load_score_csv_groups_intersections_and_fta(tmp_path: Path) -> None:
    csv = write(
        tmp_path / "s.csv",
        "a,b,score,same,sex,skin\n"
        "i1,i2,0.9,1,female,black\n"
        "i1,i3,0.2,false,female,black\n"
        "i4,i5,,TRUE,male,white\n"
        "i4,i6,0.7,0,male,\n",
    )
    ss = load_score_csv(csv, by=["sex", "skin"])
    assert ss.group_names == ("female/black", "male/(missing)", "male/white")
    assert np.isnan(ss.scores[2]) and ss.same.tolist() == [True, False, True, False]
    assert ss.unit == "image"
    m = build_metrics(ss, threshold=0.5, n_bootstrap=20)
    assert m["groups"]["female/black"]["fmr"] == 0.0 and m["groups"]["male/white"]["fta"] == 1.0

    per_side = write(
        tmp_path / "p.csv",
        "a,b,score,same,sex_a,sex_b,subject_a,subject_b\nx,y,0.3,0,f,m,1,2\nx,z,0.8,1,f,f,1,1\n",
    )
    ss = load_score_csv(per_side, by=["sex"])
    assert ss.unit == "subject" and ss.group_a.tolist() != ss.group_b.tolist()
    assert build_metrics(ss, threshold=0.5, n_bootstrap=0)["cross_group"]["impostor"] == 1


@pytest.mark.parametrize(
    ("text", "by", "message"),
    [
        ("", (), "file is empty"),
        ("a,b,same\nx,y,1\n", (), "missing column(s) score"),
        ("a,b,score,same\n", (), "no data rows"),
        ("a,b,score,same\nx,y,0.5,1\nx,z,abc,0\n", (), "line 3: score 'abc' is not a number"),
        ("a,b,score,same\nx,y,0.5,yes\n", (), "line 2: same 'yes' is not 1/0/true/false"),
        ("a,b,score,same\nx,y,0.5\n", (), "line 2: 3 fields, header has 4"),
        ("a,b,score,same\nx,y,inf,1\n", (), "line 2: score 'inf' is not finite"),
        ("a,b,score,same\nx,x,0.5,1\n", (), "line 2: a and b are the same sample"),
        ("a,b,score,same\nx,y,0.5,1\n", ("age",), "missing label column 'age'"),
    ],
)
def test_score_csv_errors_are_one_line_with_row_numbers(
    tmp_path: Path, text: str, by: tuple, message: str
) -> None:
    with pytest.raises(CsvError) as err:
        load_score_csv(write(tmp_path / "bad.csv", text), by=by)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_classifier_audit_subgroups_ratio_and_report(tmp_path: Path) -> None:
    truth = ["id,label,sex,skin"]
    pred = ["id,prediction"]
    # female/darker: 4 of 10 wrong; male/lighter: 1 of 10 wrong; one truth row without a prediction.
    for i in range(10):
        truth.append(f"d{i},A,female,darker")
        pred.append(f"d{i},{'B' if i < 4 else 'a'}")
        truth.append(f"l{i},B,male,{HOSTILE if i == 0 else 'lighter'}")
        pred.append(f"l{i},{'A' if i == 1 else 'b'}")
    truth.append("orphan,A,female,darker")
    pred.append("ghost,A")
    audit = audit_classifier(
        write(tmp_path / "pred.csv", "\n".join(pred) + "\n"),
        write(tmp_path / "truth.csv", "\n".join(truth) + "\n"),
        by=["sex", "skin"],
    )
    d = audit.to_dict()
    darker = d["subgroups"]["female/darker"]
    assert (darker["n"], darker["errors"], darker["error_rate"]) == (10, 4, 0.4)
    lo, hi = darker["ci"]
    assert lo == pytest.approx(0.1682, abs=1e-3) and hi == pytest.approx(0.6873, abs=1e-3)  # Wilson
    assert d["subgroups"]["male/lighter"]["error_rate"] == pytest.approx(1 / 9)
    assert d["differentials"]["error_max_min"] is None  # the hostile-labelled subgroup has 0 errors
    assert d["marginals"]["sex"]["female"]["error_rate"] == 0.4
    assert (d["missing_predictions"], d["unmatched_predictions"]) == (1, 1)
    files = write_classifier_report(tmp_path / "audit", audit, title="Classifier audit")
    html = files.html.read_text()
    assert "<script" not in html and "&lt;script&gt;" in html and "data:image/png;base64," in html
    assert json.loads(files.json.read_text())["overall"]["n"] == 20
    with pytest.raises(CsvError, match="duplicate id 'd0'"):
        audit_classifier(
            write(tmp_path / "dup.csv", "id,prediction\nd0,A\nd0,B\n"), tmp_path / "truth.csv", by=["sex"]
        )
