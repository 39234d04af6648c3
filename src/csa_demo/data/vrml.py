"""A small reader for the VRML 2 meshes that KiCad's 3D model library ships.

trimesh reads STL, OBJ, PLY, glTF and OFF but not VRML, and KiCad's ``.wrl`` files are
written by one exporter (kicad StepUp) in one flat shape: a list of ``Shape`` nodes, each
an ``IndexedFaceSet`` with a ``coordIndex [...]`` and a ``coord Coordinate { point [...]
}``, no transforms, no instancing. This module reads exactly that and refuses the rest
(``Transform``, ``USE``/``DEF`` reuse, ``Inline``) with a :class:`VrmlError`, rather than
returning a mesh with parts in the wrong place. Of the 6,000 files in Debian's
``kicad-packages3d`` 6.0, three use transforms and are skipped.

It is numpy only; the caller builds a ``trimesh.Trimesh`` from the arrays.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from csa import DatasetError

# Nodes that move, pick or pull in geometry: ignoring them would misplace or add parts.
_UNSUPPORTED = re.compile(r"\b(Transform|Inline|Billboard|LOD|Switch)\b")
# ``USE`` is harmless where it reuses a look (``material USE PIN-01``, which every StepUp
# file does) and unsupported where it reuses geometry (``coord USE o1``, ``[ USE o0``).
_USE = re.compile(r"(\w+|[^\w\s])\s+USE\b")
_LOOKS = frozenset({"material", "appearance", "texture", "textureTransform", "fontStyle"})
_FACE_SET = re.compile(r"\bIndexedFaceSet\b")
_COMMENT = re.compile(r"#[^\n\r]*")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
# The geometry text ends where another node's geometry begins.
_NEXT_GEOMETRY = re.compile(r"\b(IndexedFaceSet|IndexedLineSet|PointSet)\b")


class VrmlError(DatasetError):
    """A VRML file this reader cannot turn into a mesh (damaged, empty, or unsupported)."""


def _strip(text: str) -> str:
    """Drop strings (they may hold '#' or braces) and comments, keeping everything else."""
    text = _STRING.sub('""', text)
    return _COMMENT.sub("", text)


def _bracket_after(body: str, keyword: str, where: str) -> str | None:
    """The text between ``keyword [`` and its ``]`` in ``body``, or None if absent."""
    match = re.search(rf"\b{keyword}\s*\[", body)
    if match is None:
        return None
    end = body.find("]", match.end())
    if end < 0:
        raise VrmlError(f"{where}: '{keyword} [' is never closed")
    return body[match.end() : end]


def _numbers(text: str, dtype: type, where: str) -> np.ndarray:
    try:
        return np.array(text.replace(",", " ").split(), dtype=dtype)
    except ValueError as exc:
        raise VrmlError(f"{where}: a value is not a number ({exc})") from exc


def _triangles(index: np.ndarray, n_points: int, where: str) -> np.ndarray:
    """Fan-triangulate the ``-1``-terminated polygons of a ``coordIndex`` list."""
    if index.size and index[-1] != -1:
        index = np.append(index, -1)  # VRML allows the last polygon to go unterminated
    if index.size == 0:
        return np.empty((0, 3), dtype=np.int64)
    quads = index.reshape(-1, 4) if index.size % 4 == 0 else None
    if quads is not None and np.all(quads[:, 3] == -1) and np.all(quads[:, :3] >= 0):
        tris = quads[:, :3]  # the common case: triangles only
    else:
        stops = np.flatnonzero(index == -1)
        starts = np.concatenate([[0], stops[:-1] + 1])
        fans = []
        for start, stop in zip(starts.tolist(), stops.tolist(), strict=True):
            poly = index[start:stop]
            if poly.size < 3:
                continue  # a point or an edge has no area
            fans.append(np.stack([np.full(poly.size - 2, poly[0]), poly[1:-1], poly[2:]], axis=1))
        tris = np.concatenate(fans) if fans else np.empty((0, 3), dtype=np.int64)
    if tris.size and (tris.min() < 0 or tris.max() >= n_points):
        raise VrmlError(
            f"{where}: a face uses point {int(tris.max())} or {int(tris.min())}, "
            f"but only {n_points} points are given"
        )
    return tris.astype(np.int64, copy=False)


def parse_vrml(text: str, source: str = "<string>") -> tuple[np.ndarray, np.ndarray]:
    """``(vertices (V, 3) float64, faces (F, 3) int64)`` of every face set in ``text``.

    Polygons are fan-triangulated; the face sets are concatenated into one mesh in the
    file's own units. Raises :class:`VrmlError` for anything it cannot read faithfully.
    """
    if not text.lstrip().startswith("#VRML V2.0"):
        raise VrmlError(f"{source}: not a VRML 2.0 file (no '#VRML V2.0' header)")
    body = _strip(text)
    unsupported = _UNSUPPORTED.search(body)
    if unsupported:
        raise VrmlError(
            f"{source}: uses '{unsupported.group(1)}', which this reader does not support"
        )
    for use in _USE.finditer(body):
        if use.group(1) not in _LOOKS:
            raise VrmlError(f"{source}: reuses geometry ('{use.group(1)} USE'), not supported")
    vertices: list[np.ndarray] = []
    faces: list[np.ndarray] = []
    offset = 0
    starts = [m.end() for m in _FACE_SET.finditer(body)]
    for k, start in enumerate(starts):
        nxt = _NEXT_GEOMETRY.search(body, start)
        node = body[start : nxt.start() if nxt else len(body)]
        where = f"{source}: face set {k}"
        points_text = _bracket_after(node, "point", where)
        index_text = _bracket_after(node, "coordIndex", where)
        if points_text is None or index_text is None:
            raise VrmlError(f"{where} lacks its 'point' or 'coordIndex' list")
        points = _numbers(points_text, np.float64, where)
        if points.size % 3:
            raise VrmlError(f"{where}: {points.size} coordinates is not a whole number of points")
        points = points.reshape(-1, 3)
        tris = _triangles(_numbers(index_text, np.int64, where), points.shape[0], where)
        if tris.shape[0] == 0:
            continue
        vertices.append(points)
        faces.append(tris + offset)
        offset += points.shape[0]
    if not faces:
        raise VrmlError(f"{source}: holds no faces")
    v = np.concatenate(vertices)
    if not np.isfinite(v).all():
        raise VrmlError(f"{source}: holds NaN or infinite coordinates")
    return v, np.concatenate(faces)


def read_vrml(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """:func:`parse_vrml` of a file; an unreadable file is a :class:`VrmlError` too."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise VrmlError(f"{path}: cannot be read ({exc})") from exc
    return parse_vrml(text, source=str(path))
