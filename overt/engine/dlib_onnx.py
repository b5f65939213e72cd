"""dlib's 128-d face descriptor (ResNet, `dlib_face_recognition_resnet_model_v1.dat`) ported to ONNX Runtime.

dlib runs its network on one core, one face at a time. The same weights in an ONNX graph run batched on
every core (and on an accelerator where ONNX Runtime has one), with descriptors equal to dlib's own to
within 1e-4 (tests/test_dlib_onnx.py checks it on every run; bench/detect.py on the London set).

The weights are read straight from dlib's file, following dlib's public serialisation format
(dlib/serialize.h, dlib/dnn/*.h): integers are a control byte (sign bit 0x80, byte count in the low
nibble) then little-endian bytes; floats are a mantissa and an exponent, each such an integer; strings
are a length then bytes; tensors (version 2) are four dimensions then little-endian float32s. A network
is stored input-first, each layer's parameters after a version string ("con_4", "affine_",
"max_pool_2", "avg_pool_2", "fc_2"), so the layers are found in forward order by those strings and
checked against the architecture dlib's example defines (dnn_face_recognition_ex.cpp):

    input 150x150 RGB, (pixel - channel mean) / 256
    conv 7x7/2 32, affine, relu, max pool 3x3/2
    residual stages: 3x 32; down + 3x 64; down + 2x 128; down + 2x 256; down 256
      (block = conv 3x3, affine, relu, conv 3x3, affine; plus the input, relu; a "down" block has
       stride 2 and adds a 2x2/2 average pool of its input; where the two differ in depth or size,
       dlib adds them as if the smaller were zero-padded at the end, and so does the graph)
    global average pool, fully connected 128 without bias
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from . import onnx_proto as proto
from .errors import ModelError

CHIP = 150
# Residual stages from the input side: (channels, blocks, first block downsamples)
STAGES = ((32, 3, False), (64, 4, True), (128, 3, True), (256, 3, True), (256, 1, True))


class _Reader:
    """dlib's serialisation primitives over the file's bytes."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data, self.pos = data, pos

    def int(self) -> int:
        control = self.data[self.pos]
        size = control & 0x0F
        value = int.from_bytes(self.data[self.pos + 1:self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if control & 0x80 else value

    def float(self) -> float:
        mantissa, exponent = self.int(), self.int()
        if exponent >= 32000:
            raise ModelError("dlib model: a non-finite number where a parameter was expected")
        return float(mantissa) * 2.0**exponent

    def string(self) -> str:
        size = self.int()
        text = self.data[self.pos:self.pos + size].decode("ascii")
        self.pos += size
        return text

    def tensor(self) -> np.ndarray:
        version = self.int()
        shape = tuple(self.int() for _ in range(4))
        count = int(np.prod(shape))
        if version == 2:
            values = np.frombuffer(self.data, "<f4", count, self.pos)
            self.pos += 4 * count
        elif version == 1:
            values = np.array([self.float() for _ in range(count)], np.float32)
        else:
            raise ModelError(f"dlib model: unknown tensor version {version}")
        return values.reshape(shape)

    def alias(self) -> tuple[int, int, int, int]:
        self.int()  # version
        return tuple(self.int() for _ in range(4))  # type: ignore[return-value]


@dataclass
class _Layers:
    """The parameters found, in forward order."""

    means: tuple[float, float, float] = (0.0, 0.0, 0.0)
    convs: list[tuple[np.ndarray, np.ndarray, int, int]] = field(default_factory=list)  # w, b, stride, padding
    affines: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # gamma, beta
    pools: list[tuple[str, int, int, int]] = field(default_factory=list)  # kind, size, stride, padding
    fc: np.ndarray | None = None  # (inputs, outputs)


def _find(data: bytes, name: str) -> list[int]:
    """Offsets just after each serialised occurrence of the version string `name`."""
    marker = bytes([1, len(name)]) + name.encode()
    found, start = [], data.find(marker)
    while start >= 0:
        found.append(start + len(marker))
        start = data.find(marker, start + 1)
    return found


def read_layers(data: bytes) -> _Layers:
    """Parse the parameters of every layer of dlib's face descriptor network from the .dat file's bytes."""
    layers = _Layers()
    events: list[tuple[int, str]] = []
    for name in ("input_rgb_image_sized", "con_4", "affine_", "max_pool_2", "avg_pool_2", "fc_2"):
        events += [(pos, name) for pos in _find(data, name)]
    for pos, name in sorted(events):
        reader = _Reader(data, pos)
        if name == "input_rgb_image_sized":
            layers.means = (reader.float(), reader.float(), reader.float())
            if (reader.int(), reader.int()) != (CHIP, CHIP):
                raise ModelError("dlib model: unexpected input size")
        elif name == "con_4":
            params = reader.tensor().reshape(-1)
            filters, rows, cols = reader.int(), reader.int(), reader.int()
            stride_y, stride_x, pad_y, pad_x = (reader.int() for _ in range(4))
            if rows != cols or stride_y != stride_x or pad_y != pad_x:
                raise ModelError("dlib model: only square convolutions are expected")
            weights = params[: params.size - filters].reshape(filters, -1, rows, cols)
            layers.convs.append((weights, params[params.size - filters:], stride_y, pad_y))
        elif name == "affine_":
            params = reader.tensor().reshape(-1)
            half = params.size // 2
            layers.affines.append((params[:half], params[half:]))
        elif name in ("max_pool_2", "avg_pool_2"):
            rows, cols, stride_y, stride_x, pad_y, pad_x = (reader.int() for _ in range(6))
            layers.pools.append((name[:3], rows, stride_y, pad_y))
        else:
            outputs, inputs = reader.int(), reader.int()
            layers.fc = reader.tensor().reshape(inputs, outputs)
    expected_convs = 1 + 2 * sum(blocks for _, blocks, _ in STAGES)
    if len(layers.convs) != expected_convs or len(layers.affines) != expected_convs or layers.fc is None:
        raise ModelError(f"dlib model: found {len(layers.convs)} convolutions, expected {expected_convs}")
    if [p[0] for p in layers.pools] != ["max"] + ["avg"] * (1 + sum(down for _, _, down in STAGES)):
        raise ModelError("dlib model: unexpected pooling layers")
    return layers


def build_graph(layers: _Layers, opset: int = 17) -> bytes:
    """The ONNX model: input `chips` (N, 150, 150, 3) float32 RGB in 0..255, output `descriptors` (N, 128).

    Written with onnx_proto (no `onnx` import at run time).

    Each affine layer is folded into the convolution before it (w * gamma, b * gamma + beta).
    """
    nodes: list[bytes] = []
    inits: list[bytes] = []
    counter = iter(range(10_000))

    def const(array: np.ndarray) -> str:
        name = f"c{next(counter)}"
        inits.append(proto.tensor(name, array))
        return name

    def node(op: str, inputs: list[str], **attrs: float | int | list[int]) -> str:
        out = f"t{next(counter)}"
        nodes.append(proto.node(op, inputs, [out], **attrs))
        return out

    convs = iter(zip(layers.convs, layers.affines, strict=True))
    pools = iter(layers.pools)

    def out_size(size: int, kernel: int, stride: int, pad: int) -> int:
        return (size + 2 * pad - kernel) // stride + 1

    def conv(x: tuple[str, int], relu: bool) -> tuple[str, int]:
        (weights, bias, stride, pad), (gamma, beta) = next(convs)
        w = (weights.astype(np.float64) * gamma[:, None, None, None]).astype(np.float32)
        b = (bias.astype(np.float64) * gamma + beta).astype(np.float32)
        kernel = weights.shape[-1]
        y = node("Conv", [x[0], const(w), const(b)], kernel_shape=[kernel, kernel], strides=[stride, stride],
                 pads=[pad] * 4)
        return (node("Relu", [y]) if relu else y), out_size(x[1], kernel, stride, pad)

    def pool(x: tuple[str, int]) -> tuple[str, int]:
        kind, kernel, stride, pad = next(pools)
        op = "MaxPool" if kind == "max" else "AveragePool"
        y = node(op, [x[0]], kernel_shape=[kernel, kernel], strides=[stride, stride], pads=[pad] * 4)
        return y, out_size(x[1], kernel, stride, pad)

    def padded(x: str, channels: int, rows: int) -> str:
        """dlib adds tensors of different shapes as if the smaller were zero-padded at the end."""
        if channels == 0 and rows == 0:
            return x
        return node("Pad", [x, const(np.array([0, 0, 0, 0, 0, channels, rows, rows], np.int64))])

    means = np.array(layers.means, np.float32).reshape(1, 3, 1, 1)
    x = node("Transpose", ["chips"], perm=[0, 3, 1, 2])
    x = node("Mul", [node("Sub", [x, const(means)]), const(np.array(1 / 256, np.float32))])
    current = pool(conv((x, CHIP), relu=True))
    channels = layers.convs[0][0].shape[0]
    for width, blocks, down in STAGES:
        for index in range(blocks):
            y, y_size = conv(conv(current, relu=True), relu=False)
            shortcut, s_size, s_channels = current[0], current[1], channels
            if down and index == 0:
                shortcut, s_size = pool(current)
            size = max(y_size, s_size)
            total = node("Add", [padded(y, 0, size - y_size), padded(shortcut, width - s_channels, size - s_size)])
            current = (node("Relu", [total]), size)
            channels = width
    x = current[0]
    if next(pools)[1] != 0:  # dlib's avg_pool_everything: a 0x0 window means the whole feature map
        raise ModelError("dlib model: the last pooling layer should average everything")
    pooled = node("GlobalAveragePool", [x])
    flat = node("Flatten", [pooled], axis=1)
    nodes.append(proto.node("MatMul", [flat, const(layers.fc)], ["descriptors"]))
    return proto.model(nodes, inits, [proto.value_info("chips", ["N", CHIP, CHIP, 3])],
                       [proto.value_info("descriptors", ["N", 128])], "dlib_face_recognition_resnet_model_v1",
                       "overt.engine.dlib_onnx", opset, ir_version=8)


@cache
def onnx_model_bytes(dat_path: Path) -> bytes:
    """The ONNX graph for a dlib descriptor file (built once per process, ~1 s)."""
    return build_graph(read_layers(Path(dat_path).read_bytes()))
