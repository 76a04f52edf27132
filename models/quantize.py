"""Post-training int8 quantization of a bundle's ONNX network (onnxruntime static quantization, QDQ format: int8
weights per output channel, uint8 activations per tensor, MinMax ranges from calibration feeds). Serving is
unchanged: onnxruntime runs the quantized graph with its int8 kernels (VNNI/AMX where the CPU has them)."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def quantize_onnx(src: Path, dst: Path, feeds: Sequence[dict[str, np.ndarray]], operators: Sequence[str],
                  keep_float_outputs: bool = True, only_under: str | None = None) -> dict[str, Any]:
    """Write `src` quantized to `dst`, calibrated on `feeds` (input name -> array, as serving feeds them). With
    `keep_float_outputs`, the nodes that write the graph's outputs stay float, also where a node of another type
    (a Resize) stands between them and the output (quantized logits would be rounded to the output's uint8 steps and
    clipped to its calibration range). With `only_under` (a node-name prefix such as
    "/features/", as torch names the nodes of a sub-module), nodes outside it stay float. Returns the description
    that goes into model.json's "quantization", with the CPU's int8 instructions: uint8 activations with int8
    weights are exact on CPUs with VNNI (AVX-512 or AVX-VNNI); plain AVX2 kernels may saturate, so compare again on
    such a machine."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.it, None)

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        g = onnx.load(str(pre)).graph
        heads = _output_writers(g, operators) if keep_float_outputs else set()
        excluded = [n.name for n in g.node if n.op_type in operators
                    and (n.name in heads or (only_under is not None and not n.name.startswith(only_under)))]
        quantize_static(str(pre), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=list(operators), nodes_to_exclude=excluded,
                        calibrate_method=CalibrationMethod.MinMax)
    return {"method": "onnxruntime static quantization, QDQ", "onnxruntime": ort.__version__,
            "weights": "int8, per output channel", "activations": "uint8, per tensor, MinMax ranges",
            "operators": list(operators), "kept_float": excluded, **({"only_under": only_under} if only_under else {}),
            "built_on_cpu_with": _int8_flags()}


def _output_writers(graph: Any, operators: Sequence[str]) -> set[str]:
    """Names of the nodes of type `operators` that write the graph's outputs, directly or through nodes of other
    types on their data path (a network whose logits are upsampled by a Resize: the convolution before it). Only a
    node's first input is followed: a Resize's scales or sizes, however computed, are not the logits' path."""
    made_by = {o: n for n in graph.node for o in n.output}
    heads: set[str] = set()
    todo, seen = [o.name for o in graph.output], set()
    while todo:
        name = todo.pop()
        node = made_by.get(name)
        if node is None or name in seen:
            continue
        seen.add(name)
        if node.op_type in operators:
            heads.add(node.name)
        elif node.input:
            todo.append(node.input[0])
    return heads


def _int8_flags() -> list[str]:
    """The CPU's int8 dot-product instructions (Linux), as recorded with a quantized bundle."""
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return []
    return sorted({"avx2", "avx512_vnni", "avx_vnni", "amx_int8"} & set(flags.split(":", 1)[1].split()))
