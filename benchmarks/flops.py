"""Floating-point operations of a traced TensorFlow function, counted from its graph.

Every matrix product and convolution of the graph (forward and gradient kernels, including
those inside nested function calls) is counted from its static shapes at 2 FLOPs per
multiply-add; element-wise arithmetic is counted separately at one FLOP per output element.
Only live ops count: those whose results reach an output of the function or a stateful op
(a variable update), as TensorFlow prunes the rest before running the graph (a gradient tape
builds both gradients of a convolution even where one of them is never used). Nothing is
counted by hand from the layer sizes, so what the benchmark reports is what the traced graph
asks the CPU to do.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import tensorflow as tf

__all__ = ["FlopCount", "count_flops", "function_flops"]

#: Element-wise ops counted at one FLOP per output element (the matrix work dominates).
ELEMENTWISE = frozenset(
    {
        "Add",
        "AddV2",
        "AddN",
        "BiasAdd",
        "BiasAddGrad",
        "Sub",
        "Mul",
        "RealDiv",
        "DivNoNan",
        "Square",
        "Sqrt",
        "Rsqrt",
        "Relu",
        "ReluGrad",
        "LeakyRelu",
        "LeakyReluGrad",
        "Tanh",
        "TanhGrad",
        "Sum",
        "Mean",
        "SquaredDifference",
        "FusedBatchNormV3",
        "FusedBatchNormGradV3",
        "Maximum",
        "Minimum",
        "Neg",
        "Exp",
        "Log",
        "Sigmoid",
        "SigmoidGrad",
    }
)

CALLS = frozenset({"PartitionedCall", "StatefulPartitionedCall"})


@dataclasses.dataclass
class FlopCount:
    """FLOPs of one graph.

    Attributes:
        matrix: FLOPs of matrix products and convolutions (2 per multiply-add).
        elementwise: FLOPs of element-wise arithmetic (1 per output element).
        by_type: matrix FLOPs per op type.
        unknown: op types with a matrix kernel whose shapes were not static (not counted).
    """

    matrix: int = 0
    elementwise: int = 0
    by_type: dict[str, int] = dataclasses.field(default_factory=dict)
    unknown: set[str] = dataclasses.field(default_factory=set)

    @property
    def total(self) -> int:
        return self.matrix + self.elementwise

    def add(self, op_type: str, flops: int) -> None:
        self.matrix += flops
        self.by_type[op_type] = self.by_type.get(op_type, 0) + flops


def _dims(tensor: tf.Tensor) -> list[int] | None:
    shape = tensor.shape
    if shape.rank is None or any(d is None for d in shape.as_list()):
        return None
    return shape.as_list()


def _matrix_flops(op: Any) -> int | None:
    """2 x multiply-adds of one matrix or convolution op, None if not one (or shapes unknown)."""
    kind = op.type
    if kind == "MatMul":
        a, b = _dims(op.inputs[0]), _dims(op.inputs[1])
        if a is None or b is None:
            return -1
        k = a[0] if op.get_attr("transpose_a") else a[1]
        n = b[0] if op.get_attr("transpose_b") else b[1]
        m = a[1] if op.get_attr("transpose_a") else a[0]
        return 2 * m * n * k
    if kind.startswith("BatchMatMul"):
        a, out = _dims(op.inputs[0]), _dims(op.outputs[0])
        if a is None or out is None:
            return -1
        k = a[-2] if op.get_attr("adj_x") else a[-1]
        return 2 * math.prod(out) * k
    if kind in ("Conv2D", "Conv3D", "DepthwiseConv2dNative"):
        out, kernel = _dims(op.outputs[0]), _dims(op.inputs[1])
        if out is None or kernel is None:
            return -1
        per_output = (
            math.prod(kernel[:-1]) if kind != "DepthwiseConv2dNative" else math.prod(kernel[:-2])
        )
        return 2 * math.prod(out) * per_output
    if kind.startswith(("Conv2DBackpropInput", "Conv3DBackpropInput")):
        grad, kernel = _dims(op.inputs[2]), _dims(op.inputs[1])
        if grad is None or kernel is None:
            return -1
        return 2 * math.prod(grad) * math.prod(kernel[:-1])
    if kind.startswith(("Conv2DBackpropFilter", "Conv3DBackpropFilter")):
        grad, kernel = _dims(op.inputs[2]), _dims(op.outputs[0])
        if grad is None or kernel is None:
            return -1
        return 2 * math.prod(grad) * math.prod(kernel[:-1])
    return None


def _live_ops(graph: Any) -> list[Any]:
    """The ops of ``graph`` whose results reach one of its outputs or a stateful op."""
    ops = graph.get_operations()
    stack = [t.op for t in getattr(graph, "outputs", [])]
    stack += [op for op in getattr(graph, "control_outputs", [])]
    stack += [op for op in ops if op.op_def is not None and op.op_def.is_stateful]
    live: set[Any] = set()
    while stack:
        op = stack.pop()
        if op in live:
            continue
        live.add(op)
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return [op for op in ops if op in live]


def _count(graph: Any, count: FlopCount, seen: set[str]) -> None:
    functions = getattr(graph, "_functions", {})
    for op in _live_ops(graph):
        if op.type in CALLS:
            name = op.get_attr("f").name
            if name in functions and name not in seen:
                # A function called several times is counted at each call.
                _count(functions[name].graph, count, seen | {name})
            continue
        flops = _matrix_flops(op)
        if flops is not None:
            if flops < 0:
                count.unknown.add(op.type)
            else:
                count.add(op.type, flops)
        elif op.type in ELEMENTWISE and op.outputs:
            dims = _dims(op.outputs[0])
            if dims is not None:
                count.elementwise += math.prod(dims)


def count_flops(concrete: Any) -> FlopCount:
    """FLOPs of a concrete function (``tf.function(...).get_concrete_function(...)``)."""
    count = FlopCount()
    _count(concrete.graph, count, set())
    return count


def function_flops(fn: Any, *args: Any) -> FlopCount:
    """FLOPs of ``fn(*args)`` traced once as a ``tf.function`` (the arguments fix the shapes)."""
    return count_flops(tf.function(fn).get_concrete_function(*args))
