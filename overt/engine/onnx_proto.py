"""Just enough of ONNX's protobuf wire format to write a model, so building one needs no `onnx` import.

Importing the `onnx` package costs 1-2 s (it loads ml_dtypes), which a camera worker or a one-shot CLI
command would pay at every start. A model is a few nested messages; the field numbers below are those
of onnx/onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto,
TypeProto, TensorShapeProto, OperatorSetIdProto). tests/test_dlib_onnx.py parses the result with the
`onnx` package's own checker.
"""

from __future__ import annotations

import struct

import numpy as np

FLOAT, INT64 = 1, 7  # TensorProto.DataType
ATTR_FLOAT, ATTR_INT, ATTR_INTS = 1, 2, 7  # AttributeProto.AttributeType


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64s are written as 10-byte two's complement
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _bytes(field: int, value: bytes | str) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def attribute(name: str, value: float | int | list[int]) -> bytes:
    if isinstance(value, list):
        return _bytes(1, name) + b"".join(_int(8, v) for v in value) + _int(20, ATTR_INTS)
    if isinstance(value, float):
        return _bytes(1, name) + _varint(2 << 3 | 5) + struct.pack("<f", value) + _int(20, ATTR_FLOAT)
    return _bytes(1, name) + _int(3, value) + _int(20, ATTR_INT)


def node(op: str, inputs: list[str], outputs: list[str], **attrs: float | int | list[int]) -> bytes:
    parts = [_bytes(1, i) for i in inputs] + [_bytes(2, o) for o in outputs] + [_bytes(4, op)]
    parts += [_bytes(5, attribute(k, v)) for k, v in attrs.items()]
    return b"".join(parts)


def tensor(name: str, array: np.ndarray) -> bytes:
    kinds = {np.dtype(np.float32): FLOAT, np.dtype(np.int64): INT64}
    data = np.ascontiguousarray(array)
    dims = b"".join(_int(1, d) for d in data.shape)
    raw = data.astype(data.dtype.newbyteorder("<")).tobytes()
    return dims + _int(2, kinds[data.dtype]) + _bytes(8, name) + _bytes(9, raw)


def value_info(name: str, dims: list[int | str]) -> bytes:
    shape = b"".join(_bytes(1, _int(1, d) if isinstance(d, int) else _bytes(2, d)) for d in dims)
    tensor_type = _int(1, FLOAT) + _bytes(2, shape)
    return _bytes(1, name) + _bytes(2, _bytes(1, tensor_type))


def model(nodes: list[bytes], initializers: list[bytes], inputs: list[bytes], outputs: list[bytes], name: str,
          producer: str, opset: int, ir_version: int) -> bytes:
    graph = (b"".join(_bytes(1, n) for n in nodes) + _bytes(2, name) + b"".join(_bytes(5, t) for t in initializers)
             + b"".join(_bytes(11, i) for i in inputs) + b"".join(_bytes(12, o) for o in outputs))
    return (_int(1, ir_version) + _bytes(2, producer) + _bytes(7, graph)
            + _bytes(8, _bytes(1, "") + _int(2, opset)))
