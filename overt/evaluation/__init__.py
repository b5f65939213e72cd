"""Accuracy and demographic-differential evaluation on comparison scores (ISO/IEC 19795-1/-10, NIST FRVT).

Everything here works on scores, independent of the face engine. Conventions: a score is a similarity
(higher = more alike); a pair MATCHES when ``score >= threshold``; a NaN score is a failure to acquire
(FTA), reported apart from FMR/FNMR. Groups come only from the dataset's own label columns: Overt never
infers race, gender or any trait from a face.

This package imports nothing itself, so that the engine can read a calibration without pulling in
matplotlib; import the submodules.

Public API
----------
``overt.evaluation.metrics`` (1:1)
    ``ScoreSet(scores, same, group_a, group_b, group_names, subject_a=None, subject_b=None, unit="subject")``
    ``ScoreSet.from_labels(scores, same, *, groups=None, groups_b=None, subjects=None, subjects_b=None,
    unit="subject") -> ScoreSet``
    ``fmr_fnmr(scores, same, threshold) -> (fmr | None, fnmr | None)``
    ``error_curve(scores, same) -> ErrorCurve`` (``.thresholds .fmr .fnmr``, ``.at(t)``, ``.thin(n)``)
    ``equal_error_rate(curve) -> EqualErrorRate(rate, threshold) | None``
    ``fnmr_at_fmr(curve, targets) -> list[OperatingPoint]`` (unsupported unless n_impostor >= 3/target)
    ``group_rates(score_set, threshold) -> GroupRates`` (``.overall .groups .cross_group``, ``.warnings()``)
    ``differentials(group_rates, floor=None) -> dict``; ``ratio_stats(rates, floor=None)`` (vectorised)

``overt.evaluation.bootstrap``
    ``bootstrap_rates(score_set, threshold, *, n_resamples=1000, seed=0, level=0.95, floor=None,
    progress=None) -> BootstrapResult`` (resamples identities within groups; ``.to_dict()``)
    ``rich_progress(description) -> context manager yielding a progress(done, total) callback``

``overt.evaluation.identification`` (1:N)
    ``identification_metrics(scores, gallery, truth, *, threshold, groups=None, rank=1, ranks=(1, 5, 10))
    -> IdentificationMetrics`` (FPIR, FNIR, rank-k, per probe group; ``.to_dict()``)

``overt.evaluation.calibrate``
    ``calibrate_threshold(scores, same, groups, target_fmr, *, groups_b=None) -> Calibration``
    ``calibrate_score_set(score_set, target_fmr) -> Calibration``
    (the file itself: ``overt.engine.calibration.write_calibration`` / ``read_calibration``)

``overt.evaluation.pairs``
    ``genuine_pairs(identities)``, ``impostor_pairs(identities, *, groups=None, limit=None, seed=0)``
    -> (n, 2) int arrays; ``make_pairs(identities, *, groups=None, impostor_limit=None, seed=0) -> Pairs``
    ``score_set_from_pairs(scores, pairs, identities, groups=None) -> ScoreSet``

``overt.evaluation.report``
    ``build_metrics(score_set, *, threshold=None, target_fmr=None, fmr_targets=..., n_bootstrap=1000,
    seed=0, level=0.95, floor=None, identification=None, progress=None, curve_points=200) -> dict``
    ``write_report(out_dir, variants: {name: build_metrics dict}, *, title, dataset=None, notes=(),
    created=None) -> ReportFiles(json, html)``  (several variants render side by side)

``overt.evaluation.external``
    ``load_score_csv(path, *, by=()) -> ScoreSet`` (``a,b,score,same,<labels>``; raises ``CsvError``)
    ``audit_classifier(predictions, truth, *, by, id_column="id", prediction_column="prediction",
    label_column="label", level=0.95) -> ClassifierAudit``
    ``write_classifier_report(out_dir, audit, *, title) -> ReportFiles(audit.json, audit.html)``

Typical use::

    ss = load_score_csv("vendor.csv", by=["sex", "skin_type"])       # or score_set_from_pairs(...)
    m = build_metrics(ss, target_fmr=1e-3, seed=0)
    write_report("out/eval", {"raw": m}, title="Vendor X, dataset Y")

``build_metrics`` dict (JSON-ready; rates are None when undefined)::

    {"schema": "overt.evaluation.metrics/1",
     "settings": {"threshold_source": "given"|"in-force"|"customary"|"calibrated"|"eer", "target_fmr", "fmr_targets",
                  "n_bootstrap", "seed", "level", "floor", "unit", "n_units"},
     "overall": {"eer", "eer_threshold", "threshold", <rate fields>},
     "groups": {NAME: {<rate fields>, "eer"}},          # FMR from within-group impostors only
     "cross_group": {<rate fields>},                     # impostor pairs whose sides' groups differ
     "differentials": {"fmr_max_min", "fnmr_max_min", "fmr_max_geomean", "fnmr_max_geomean",
                       "<each>_ci": [lo, hi|None], "fmr_max_group", "fmr_min_group", "fnmr_max_group",
                       "fnmr_min_group", "floor", "undefined_fraction": {...}, "notes": [...]},
     "fnmr_at_fmr": [{"target", "supported", "impostor", "needed", "threshold", "fmr", "fnmr"}],
     "curves": {"overall": {"threshold", "fmr", "fnmr"}, "groups": {NAME: {...}}},   # thinned
     "histogram": {"edges", "genuine", "impostor"},
     "calibration": Calibration.to_dict() | None, "identification": {...} | None,
     "warnings": [str]}

    <rate fields> = "fmr", "fnmr", "fta", "fnmr_with_fta", "genuine", "impostor", "false_matches",
      "false_non_matches", "genuine_fta", "impostor_fta", "fmr_upper95", "fnmr_upper95" (rule of three,
      only at zero errors), "fmr_support"/"fnmr_support" ("ok", "few_errors" (< 30), "zero_errors",
      "none"), "low_support", "impostor_cross", "false_matches_cross", "fmr_cross", "warnings",
      "fmr_ci", "fnmr_ci" (overall and groups; None without bootstrap)

Ratios with a zero minimum (or any zero, for the geometric mean) are None unless a ``floor`` is given;
empty groups are skipped with a note. ``metrics.json`` from ``write_report`` is
``{"schema": "overt.evaluation.report/1", "title", "created", "dataset", "notes", "primary",
"overall", "groups", "differentials" (mirroring the primary variant), "variants": {NAME: dict}}``.
The calibration file shape is documented in ``overt.evaluation.calibrate``.
"""
