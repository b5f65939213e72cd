"""Metric correctness on score sets whose answers are known exactly."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from overt.engine import ModelError
from overt.engine.calibration import Calibration, read_calibration, write_calibration
from overt.evaluation import bootstrap as bootstrap_module
from overt.evaluation.bootstrap import bootstrap_rates
from overt.evaluation.calibrate import calibrate_threshold
from overt.evaluation.identification import identification_metrics
from overt.evaluation.metrics import (
    ErrorCurve,
    ScoreSet,
    differentials,
    equal_error_rate,
    error_curve,
    fmr_fnmr,
    fnmr_at_fmr,
    group_rates,
    ratio_stats,
)
from overt.evaluation.pairs import _unrank, genuine_pairs, impostor_pairs, make_pairs, score_set_from_pairs

# genuine 0.1 0.5 0.5 0.9 | impostor 0.2 0.5 0.7 ; the 0.5s sit exactly on a threshold
SCORES = np.array([0.1, 0.5, 0.5, 0.9, 0.2, 0.5, 0.7])
SAME = np.array([1, 1, 1, 1, 0, 0, 0], dtype=bool)


def brute(scores: np.ndarray, same: np.ndarray, t: float) -> tuple[float, float]:
    imp = [s >= t for s, g in zip(scores, same, strict=True) if not g and not math.isnan(s)]
    gen = [s < t for s, g in zip(scores, same, strict=True) if g and not math.isnan(s)]
    return sum(imp) / len(imp), sum(gen) / len(gen)


def synthetic(n_subjects: int = 400, n_pairs: int = 20_000, seed: int = 1) -> ScoreSet:
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 4, n_subjects)
    a = rng.integers(0, n_subjects, n_pairs)
    b = np.where(rng.random(n_pairs) < 0.2, a, rng.integers(0, n_subjects, n_pairs))
    same = a == b
    scores = rng.normal(size=n_pairs) + 2.5 * same + 0.2 * group[a]
    return ScoreSet(scores, same, group[a], group[b], ("g0", "g1", "g2", "g3"), a, b)


# ------------------------------------------------------------------------------------------ 1:1


def test_ties_at_threshold_count_as_matches() -> None:
    assert fmr_fnmr(SCORES, SAME, 0.5) == (2 / 3, 1 / 4)
    assert fmr_fnmr(SCORES, SAME, np.nextafter(0.5, 1)) == (1 / 3, 3 / 4)


def test_curve_is_exact_at_every_observed_score() -> None:
    curve = error_curve(SCORES, SAME)
    np.testing.assert_array_equal(curve.thresholds[:-1], [0.1, 0.2, 0.5, 0.7, 0.9])
    assert curve.thresholds[-1] > 0.9
    np.testing.assert_allclose(curve.fmr, [1, 1, 2 / 3, 1 / 3, 0, 0])
    np.testing.assert_allclose(curve.fnmr, [0, 1 / 4, 1 / 4, 3 / 4, 3 / 4, 1])


def test_curve_matches_brute_force_with_many_ties() -> None:
    rng = np.random.default_rng(0)
    scores = np.round(rng.normal(size=2000), 1)  # heavy ties
    same = rng.random(2000) < 0.3
    curve = error_curve(scores, same)
    for t in [*np.unique(scores)[::7], -9.0, 9.0, 0.05]:
        assert curve.at(t) == pytest.approx(brute(scores, same, t))
        assert fmr_fnmr(scores, same, t) == pytest.approx(brute(scores, same, t))


def test_eer_interpolates_between_neighbouring_thresholds() -> None:
    eer = equal_error_rate(error_curve(SCORES, SAME))
    assert eer is not None
    assert eer.rate == pytest.approx(0.5)
    assert eer.threshold == pytest.approx(0.6)


def test_eer_perfect_separation_and_all_equal_scores() -> None:
    sep = equal_error_rate(error_curve(np.array([0.8, 0.9, 0.1, 0.2]), np.array([1, 1, 0, 0], bool)))
    assert sep is not None and sep.rate == 0 and sep.threshold == 0.8
    flat = equal_error_rate(error_curve(np.full(6, 0.3), np.array([1, 1, 1, 0, 0, 0], bool)))
    assert flat is not None and flat.rate == pytest.approx(0.5) and flat.threshold == pytest.approx(0.3)
    assert equal_error_rate(error_curve(np.array([0.1, 0.2]), np.array([1, 1], bool))) is None


def test_all_equal_scores_match_everything_at_that_score() -> None:
    scores, same = np.full(4, 0.7), np.array([1, 1, 0, 0], bool)
    assert fmr_fnmr(scores, same, 0.7) == (1.0, 0.0)
    assert error_curve(scores, same).at(0.71) == (0.0, 1.0)


def test_fnmr_at_fmr_respects_rule_of_three() -> None:
    rng = np.random.default_rng(2)
    scores = np.concatenate([rng.normal(2, 1, 100), rng.normal(0, 1, 300)])
    same = np.arange(400) < 100
    p01, p001 = fnmr_at_fmr(error_curve(scores, same), [0.01, 0.001])
    assert p01.supported and not p001.supported and p001.fnmr is None
    assert p01.fmr is not None and p01.fmr <= 0.01
    fourth = np.sort(scores[~same])[-4]
    assert p01.threshold == np.sort(scores[scores > fourth])[0]  # lowest score letting only 3 impostors in
    assert p01.fnmr == pytest.approx(brute(scores, same, p01.threshold)[1])
    assert p01.to_dict()["needed"] == 300 and p001.to_dict()["needed"] == 3000


def test_fta_is_reported_apart_and_as_non_match() -> None:
    scores = np.array([0.9, np.nan, 0.1, 0.2, np.nan])
    same = np.array([1, 1, 1, 0, 0], bool)
    overall = group_rates(ScoreSet.from_labels(scores, same), 0.5).overall
    assert overall.fnmr == 0.5 and overall.fmr == 0.0
    assert overall.fta == pytest.approx(2 / 5)
    assert overall.fnmr_with_fta == pytest.approx(2 / 3)
    assert error_curve(scores, same).n_genuine == 2


def test_group_rates_within_cross_empty_and_no_impostor_groups() -> None:
    #            gen a  gen a  imp a  imp b  imp a/b  gen c  (group "empty" has no pairs at all)
    scores = np.array([0.9, 0.3, 0.6, 0.4, 0.8, 0.7])
    same = np.array([1, 1, 0, 0, 0, 1], bool)
    ga = np.array([0, 0, 0, 1, 0, 2])
    gb = np.array([0, 0, 0, 1, 1, 2])
    ss = ScoreSet(scores, same, ga, gb, ("a", "b", "c", "empty"))
    rates = group_rates(ss, 0.5)
    a, b, c, empty = (rates.groups[n] for n in ("a", "b", "c", "empty"))
    assert (a.fmr, a.fnmr, a.impostor, a.genuine) == (1.0, 0.5, 1, 2)
    assert (a.cross_impostor, a.fmr_cross) == (1, 1.0)
    assert (b.fmr, b.fnmr, b.fmr_cross) == (0.0, None, 1.0)
    assert c.fmr is None and c.fnmr == 0.0  # a group with no impostors
    assert empty.fmr is None and empty.fnmr is None and empty.fta is None
    assert any("no within-group impostor" in w for w in empty.warnings)
    assert rates.cross_group.impostor == 1 and rates.cross_group.fmr == 1.0
    assert rates.overall.fmr == pytest.approx(2 / 3)  # cross-group pairs count overall
    d = b.to_dict()
    assert d["fmr_upper95"] == 1.0 and d["fmr_support"] == "zero_errors" and d["low_support"]
    diffs = differentials(rates)
    assert any("skipped groups without comparisons: c, empty" in n for n in diffs["notes"])
    assert diffs["fmr_max_min"] is None  # b's FMR is 0 and no floor


def test_differentials_known_values_floor_and_vectorised() -> None:
    # FMR exactly 0.01 in group x (100 impostors, 1 false match) and 0.04 in group y.
    scores = np.concatenate([np.r_[0.9, np.full(99, 0.1)], np.r_[np.full(4, 0.9), np.full(96, 0.1)]])
    same = np.zeros(200, bool)
    ss = ScoreSet.from_labels(scores, same, groups=["x"] * 100 + ["y"] * 100)
    d = differentials(group_rates(ss, 0.5))
    assert d["fmr_max_min"] == pytest.approx(4.0)
    assert d["fmr_max_geomean"] == pytest.approx(2.0)  # geomean(0.01, 0.04) = 0.02
    assert (d["fmr_max_group"], d["fmr_min_group"]) == ("y", "x")
    assert d["fnmr_max_min"] is None  # no genuine pairs
    max_min, max_geo = ratio_stats(np.array([[0.01, 0.04, np.nan], [0.0, 0.02, 0.02], [0.0, 0.0, np.nan]]))
    assert max_min[0] == pytest.approx(4) and np.isinf(max_min[1]) and np.isnan(max_min[2])
    floored, _ = ratio_stats(np.array([[0.0, 0.02]]), floor=0.001)
    assert floored[0] == pytest.approx(20)


# ----------------------------------------------------------------------------------- bootstrap


def test_bootstrap_is_reproducible_and_independent_of_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    ss = synthetic()
    first = bootstrap_rates(ss, 1.5, n_resamples=200, seed=7)
    assert bootstrap_rates(ss, 1.5, n_resamples=200, seed=7) == first
    assert bootstrap_rates(ss, 1.5, n_resamples=200, seed=8) != first
    monkeypatch.setattr(bootstrap_module, "_CHUNK_CELLS", 1)  # one resample per chunk
    assert bootstrap_rates(ss, 1.5, n_resamples=200, seed=7) == first


def test_bootstrap_intervals_bracket_the_estimate_and_report_progress() -> None:
    ss = synthetic()
    rates = group_rates(ss, 1.5)
    calls: list[tuple[int, int]] = []
    boot = bootstrap_rates(ss, 1.5, n_resamples=300, seed=0, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (300, 300)
    for name, counts in rates.groups.items():
        lo, hi = boot.groups[name]["fmr"]
        assert lo is not None and hi is not None and lo <= counts.fmr <= hi
    lo, hi = boot.differentials["fnmr_max_min"]
    point = differentials(rates)["fnmr_max_min"]
    assert lo is not None and hi is not None and lo <= point <= hi
    assert boot.to_dict()["unit"] == "subject"


def test_bootstrap_weights_pairs_by_identity_draws() -> None:
    # Subject 0 has three genuine pairs, all failing at t=0.5; subject 1 has one that passes. Drawing
    # two subjects gives FNMR 1, 3/4 (half the time) or 0; resampling pairs would give 1/4 and 1/2 too.
    subjects = np.array([0, 0, 0, 1])
    zeros = np.zeros(4, int)
    ss = ScoreSet(np.array([0.1, 0.2, 0.3, 0.9]), np.ones(4, bool), zeros, zeros, ("g",), subjects, subjects)
    boot = bootstrap_rates(ss, 0.5, n_resamples=400, seed=0, level=0.2)
    assert boot.groups["g"]["fnmr"] == (0.75, 0.75)
    zero = bootstrap_rates(ss, 0.0, n_resamples=50, seed=0)
    assert zero.groups["g"]["fnmr"] == (0.0, 0.0)
    with pytest.raises(ValueError, match="identity"):
        bootstrap_rates(ScoreSet.from_labels([0.1], [True]), 0.5)


def test_bootstrap_is_fast_enough() -> None:
    ss = synthetic(n_subjects=3000, n_pairs=50_000)
    boot = bootstrap_rates(ss, 1.5, n_resamples=1000, seed=0)
    assert boot.n_resamples == 1000  # ~1 s; a pair-by-pair loop would take minutes


# ------------------------------------------------------------------------------------------ 1:N


def test_identification_rates_ranks_and_fta() -> None:
    s = np.array(
        [
            [0.9, 0.1, 0.2],  # mate x at rank 1, above threshold
            [0.3, 0.8, 0.85],  # mate y at rank 2
            [0.2, 0.2, 0.4],  # non-mated, best 0.4 below threshold
            [np.nan] * 3,  # failed to acquire
            [0.5, 0.5, 0.1],  # mate y tied with x: ties rank against the probe -> rank 2
            [0.6, 0.1, 0.1],  # non-mated, false positive
        ]
    )
    m = identification_metrics(
        s, ["x", "y", "z"], ["x", "y", None, "x", "y", None], threshold=0.5, groups=list("aabbbb")
    )
    o = m.to_dict()["overall"]
    assert (o["mated"], o["nonmated"], o["fta"]) == (3, 2, 1)
    assert o["fnir"] == pytest.approx(2 / 3) and o["fpir"] == 0.5
    assert o["rank_1"] == pytest.approx(1 / 3) and o["rank_5"] == 1.0
    assert m.to_dict()["groups"]["a"]["fnir"] == 0.5
    assert m.curve.at(0.5) == (0.5, pytest.approx(2 / 3))
    with pytest.raises(ValueError, match="not in the gallery"):
        identification_metrics(s[:1], ["x", "y", "z"], ["w"], threshold=0.5)


# ---------------------------------------------------------------------------------- calibration


def test_calibration_worst_group_decides(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    n = 5000
    # Group "hi" has impostor scores shifted up: it alone should set the threshold.
    imp_lo, imp_hi = rng.normal(0, 1, n), rng.normal(0.8, 1, n)
    gen = rng.normal(3, 1, 1000)
    scores = np.concatenate([imp_lo, imp_hi, gen])
    same = np.r_[np.zeros(2 * n, bool), np.ones(1000, bool)]
    groups = ["lo"] * n + ["hi"] * n + ["lo"] * 500 + ["hi"] * 500
    cal = calibrate_threshold(scores, same, groups, 1e-3)
    assert cal.limiting_group == "hi"
    assert cal.threshold == np.nextafter(np.sort(imp_hi)[-6], np.inf)  # 5 = 1e-3 * 5000 allowed
    for g in cal.groups.values():
        assert g.fmr is not None and g.fmr <= 1e-3 and g.supported
    assert cal.groups["hi"].fmr == 1e-3
    below = fmr_fnmr(imp_hi, np.zeros(n, bool), np.sort(imp_hi)[-6])[0]
    assert below is not None and below > 1e-3  # any lower threshold breaks the worst group
    assert cal.groups["lo"].threshold_alone is not None and cal.groups["lo"].threshold_alone < cal.threshold
    thin = calibrate_threshold(scores[: n + 10], same[: n + 10], groups[: n + 10], 1e-4)
    assert not thin.groups["lo"].supported and thin.notes

    path = write_calibration(
        tmp_path / "cal.json",
        Calibration(
            model="arcface-r100",
            threshold=cal.threshold,
            target_fmr=1e-3,
            method=cal.method,
            created="2026-11-26T00:00:00+00:00",
            dataset={"name": "synthetic", "n_identities": 1000},
            groups=cal.to_dict()["groups"],
        ),
    )
    back = read_calibration(path)
    assert (back.model, back.threshold, back.target_fmr) == ("arcface-r100", cal.threshold, 1e-3)
    assert back.dataset["n_identities"] == 1000 and back.groups["hi"]["fmr"] == 1e-3
    path.write_text('{"model": "m", "threshold": "high"}')
    with pytest.raises(ModelError, match="unreadable"):
        read_calibration(path)


# ---------------------------------------------------------------------------------------- pairs


def test_pairs_enumerate_and_sample_deterministically() -> None:
    ids = [0, 0, 1, 1, 1, 2, 3, 3]
    groups = list("aaabbbbb")
    assert genuine_pairs(ids).tolist() == [[0, 1], [2, 3], [2, 4], [3, 4], [6, 7]]
    every = [[i, j] for i, j in itertools.combinations(range(8), 2) if ids[i] != ids[j]]
    assert impostor_pairs(ids).tolist() == every
    assert impostor_pairs(ids, groups=groups).tolist() == every
    sampled = impostor_pairs(ids, groups=groups, limit=3, seed=1)
    assert len(sampled) == 2 + 3 + 3  # group a has only 2 within impostors; b and cross capped at 3
    assert all(list(p) in every for p in sampled)
    np.testing.assert_array_equal(sampled, impostor_pairs(ids, groups=groups, limit=3, seed=1))
    assert not np.array_equal(sampled, impostor_pairs(ids, groups=groups, limit=3, seed=2))

    rng = np.random.default_rng(0)
    ids_big, groups_big = rng.integers(0, 300, 3000), rng.integers(0, 3, 3000)
    pairs = make_pairs(ids_big, groups=groups_big, impostor_limit=5000, seed=0)
    a, b = pairs.a, pairs.b
    assert (a < b).all() and len(np.unique(a * 3000 + b)) == len(pairs)
    assert ((ids_big[a] == ids_big[b]) == pairs.same).all()
    within = (~pairs.same) & (groups_big[a] == groups_big[b])
    assert np.bincount(groups_big[a][within]).tolist() == [5000, 5000, 5000]
    ss = score_set_from_pairs(np.zeros(len(pairs)), pairs, ids_big, groups_big)
    assert ss.group_names == ("0", "1", "2") and ss.subject_a is not None


def test_pair_unranking_is_exact_for_huge_indices() -> None:
    k = np.array([0, 1, 2, 10**12, 10**12 + 12_345, 2**52], dtype=np.int64)
    i, j = _unrank(k)
    assert (i < j).all() and (i >= 0).all()
    assert (j * (j - 1) // 2 + i == k).all()


def test_score_set_validation() -> None:
    with pytest.raises(ValueError, match="finite"):
        ScoreSet.from_labels([np.inf], [True])
    with pytest.raises(ValueError, match="entries"):
        ScoreSet.from_labels([0.1, 0.2], [True])
    assert ErrorCurve.from_scores(np.array([]), np.array([])).at(0.5) == (None, None)
