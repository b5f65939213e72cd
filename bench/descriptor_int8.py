"""int8 quantisation of the ported dlib descriptor, measured against the calibrated error rates before offering it.

Static QDQ quantisation (ONNX Runtime: int8 weights per channel, uint8 activations calibrated on 32
London chips), then on all 204 London portraits: faces per second against float32, the largest
descriptor difference, and the genuine match rate and worst-group false-match rate at the calibrated
AS-norm threshold (the calibration and cohort are float32's: int8 is offered only if both hold).

    python bench/descriptor_int8.py
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from engine import accuracy, london
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from overt.engine import FaceEngine, load_image
from overt.engine.dlib_onnx import onnx_model_bytes
from overt.engine.embed import dlib_chip
from overt.engine.models import dlib_model_path


class Chips(CalibrationDataReader):
    def __init__(self, chips: np.ndarray) -> None:
        self._batches = iter(chips[i:i + 1] for i in range(len(chips)))

    def get_next(self) -> dict | None:
        batch = next(self._batches, None)
        return None if batch is None else {"chips": batch}


def descriptors(model: Path, chips: np.ndarray) -> tuple[np.ndarray, float]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = len(os.sched_getaffinity(0))
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    session.run(None, {"chips": chips[:16]})
    start = time.perf_counter()
    out = np.concatenate([session.run(None, {"chips": chips[i:i + 16]})[0] for i in range(0, len(chips), 16)])
    return out, len(chips) / (time.perf_counter() - start)


def main() -> None:
    paths, ids, groups = london()
    engine = FaceEngine()
    chips = []
    for path in paths:
        image = load_image(path)
        chips.append(dlib_chip(image, engine.detect(image)[0]))
    batch = np.stack(chips).astype(np.float32)
    scorer, calibration = engine.scorer(), engine.calibration()
    with tempfile.TemporaryDirectory() as tmp:
        f32, pre, int8 = Path(tmp, "f32.onnx"), Path(tmp, "pre.onnx"), Path(tmp, "int8.onnx")
        f32.write_bytes(onnx_model_bytes(dlib_model_path("resnet")))
        quant_pre_process(str(f32), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(int8), Chips(batch[:64:2]), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
        results = {name: descriptors(path, batch) for name, path in (("float32", f32), ("int8", int8))}
    reference = results["float32"][0]
    print(f"max |difference| int8 vs float32: {np.abs(results['int8'][0] - reference).max():.4f}")
    for name, (vectors, speed) in results.items():
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        means, stds = scorer.stats(unit)
        scores = scorer.normalise(unit @ unit.T, means[:, None], stds[:, None], means[None, :], stds[None, :])
        print(f"{name}: {speed:.1f} faces/s, {accuracy(scores, ids, groups, calibration.threshold)}")
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
