"""Writing a tower to a file that runs without csa: ONNX and a ``torch.export`` program.

Both files carry, beside the network and the map, what a consumer needs to feed it
and read it: the preprocessing (image size, resize, mean and std) and the map's
description (side, method, ``sim_dim``, score = dot product), as JSON under the key
``csa_tower``; ONNX keeps it in the model's metadata, torch.export as an extra file.
An ONNX file is run once through ONNX Runtime (when installed) before it is kept, so
a graph the exporter got wrong never reaches the user.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from csa.errors import EncoderError, ModelFileError
from csa.extras import require

META_KEY = "csa_tower"
INPUT_NAME = "pixel_values"
OUTPUT_NAME = "embedding"
ONNX_OPSET = 17
# ONNX Runtime's convolutions round differently from torch's; a larger gap on the probe
# means a wrong graph, not rounding.
_ORT_ATOL = 1e-4


def tower_record(tower: Any, source: dict[str, Any]) -> dict[str, Any]:
    """The JSON stored with an exported tower."""
    import csa

    return {
        "csa_version": csa.__version__,
        "input": {"name": INPUT_NAME, "preprocessing": tower.preprocessing},
        "output": {"name": OUTPUT_NAME, **tower.map_info},
        "source": source,
    }


def _examples(tower: Any) -> Any:
    from csa.export.towers import probe_image

    return tower.pixels([probe_image(), probe_image()[::-1]]).to(tower.device)


def write_onnx(tower: Any, path: str | Path, record: dict[str, Any]) -> Path:
    """Export ``tower`` to ONNX at ``path`` (batch size free), checked in ONNX Runtime."""
    onnx = require("onnx", extra="export", purpose="ONNX export")
    import torch

    from csa.files import atomic_write

    example = _examples(tower)

    def write(tmp: Path) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the TorchScript-based exporter's notices
                torch.onnx.export(
                    tower,
                    (example,),
                    str(tmp),
                    dynamo=False,
                    input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME],
                    dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                    opset_version=ONNX_OPSET,
                )
        except OSError:
            raise
        except Exception as exc:  # the exporter raises many types for unsupported graphs
            raise EncoderError(f"torch could not export the tower to ONNX: {exc}") from exc
        graph = onnx.load(str(tmp))
        entry = graph.metadata_props.add()
        entry.key, entry.value = META_KEY, json.dumps(record)
        onnx.save(graph, str(tmp))
        _check_in_runtime(tmp, tower, example)

    return atomic_write(path, write, error=ModelFileError, what="ONNX file")


def _check_in_runtime(path: Path, tower: Any, example: Any) -> None:
    try:
        import onnxruntime as ort
    except ImportError:  # the file is still valid ONNX; nothing here can run it
        return
    import torch

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT_NAME], {INPUT_NAME: example.cpu().numpy()})[0]
    with torch.inference_mode():
        expected = tower(example).cpu().numpy()
    gap = float(np.max(np.abs(got - expected)))
    if got.shape != expected.shape or gap > _ORT_ATOL:
        raise EncoderError(
            f"the exported ONNX graph does not reproduce the tower in ONNX Runtime (largest "
            f"difference {gap:.3g} on a probe image); the network uses an operation the "
            "exporter translates wrongly"
        )


def write_torch(tower: Any, path: str | Path, record: dict[str, Any]) -> Path:
    """Save ``tower`` as a ``torch.export`` program (batch size free).

    ``torch.export.load(path).module()`` runs it with torch alone; ``torch.jit`` is
    deprecated in the torch csa pins, so TorchScript is not offered.
    """
    import torch

    from csa.files import atomic_write

    example = _examples(tower)

    def write(tmp: Path) -> None:
        batch = {"pixels": {0: torch.export.Dim.DYNAMIC}}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # notices about weight layouts and tracing
                program = torch.export.export(tower, (example,), dynamic_shapes=batch)
                torch.export.save(
                    program, str(tmp), extra_files={f"{META_KEY}.json": json.dumps(record)}
                )
        except OSError:
            raise
        except Exception as exc:  # torch.export raises many types for untraceable code
            raise EncoderError(f"torch.export could not capture the tower: {exc}") from exc

    return atomic_write(path, write, error=ModelFileError, what="torch.export file")
