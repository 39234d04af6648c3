"""Research for issue 17: a selection that serves the question the scorer is asked.

Measures, on the demo's BBC (body <-> headline) and clip-art (drawing <-> caption,
category zero-shot) splits, at the demo's budgets of 100 pairs and more and several of
its seeded draws, the default estimators (CSA, CCA, LinearMap, ASIF) against variants
built from the same fold moments:

* ``g``: weights ``rho**g`` with ``g`` chosen on the folds (g=0 is CCA, 1 is CSA), jointly
  with the ridges and ``sim_dim`` by the library's held-out separation J(s);
* ``heldout-w``: ``CSA(weights="heldout")``;
* ``zs-rb``: the zero-shot map: side a keeps its fold-chosen ridge, side b (text) is
  barely whitened (a large relative ridge, fixed or chosen by a rule that never sees
  the test split);
* ``grouped``: folds that keep similar captions together (k-means on side b), so that
  held-out text is new text;
* ``csls`` / ``isoftmax``: hubness corrections of retrieval (and zero-shot) against the
  training side as the query bank, for every method.

Every choice is made on the training pairs of a budget; the test split is only scored.
Embeddings come from ``selection_research_data.py`` (run it first). Writes a table to
stdout and rows to ``benchmarks/results/selection_research[_quick].json``.

    python benchmarks/selection_research.py --quick
    python benchmarks/selection_research.py
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import csa
from csa.linalg import unit_rows
from csa.moments import FoldMoments, MomentAccumulator
from csa.selection import _HeldOutFold, _joint_factor, _padded, _unit_scale, separation_curve
from csa.solver import range_spectrum, solve_cca
from csa.tasks import detect_out_of_context, evaluate_retrieval, zero_shot_classify

DATA = Path("/work/cache/research")
RESULTS = Path(__file__).parent / "results"
GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
GAMMAS = (0.0, 0.25, 0.5, 1.0)
N_FOLDS = 5


# ---- the maps -----------------------------------------------------------------------------
class _Embeds:
    """Scoring from ``embed_a``/``embed_b``, as every csa model scores."""

    def similarity(self, a: np.ndarray, b: np.ndarray, **_: Any) -> np.ndarray:
        return self.embed_a(a) @ self.embed_b(b).T

    def score_pairs(self, a: np.ndarray, b: np.ndarray, **_: Any) -> np.ndarray:
        return np.einsum("ij,ij->i", self.embed_a(a), self.embed_b(b))


@dataclass
class Map(_Embeds):
    """A CCA-family scorer: centred features times projections, first ``s`` dims, weights."""

    mean_a: np.ndarray
    mean_b: np.ndarray
    proj_a: np.ndarray
    proj_b: np.ndarray
    weights: np.ndarray
    s: int
    info: dict[str, Any]

    def embed_a(self, a: np.ndarray, **_: Any) -> np.ndarray:
        z = (a - self.mean_a) @ self.proj_a[:, : self.s]
        return unit_rows(z) * np.sqrt(self.weights[: self.s])

    def embed_b(self, b: np.ndarray, **_: Any) -> np.ndarray:
        z = (b - self.mean_b) @ self.proj_b[:, : self.s]
        return unit_rows(z) * np.sqrt(self.weights[: self.s])


class Hubness(_Embeds):
    """A hubness-corrected scorer: ``2 S(x, y) - r_a(x) - r_b(y)``.

    ``r_b(y)`` is a penalty computed against the training side-a rows (the query bank)
    and ``r_a(x)`` against the training side-b rows. ``kind="csls"``: the mean of the
    top-``k`` similarities (Conneau et al. 2018); ``kind="isoftmax"``: ``log sum exp``
    of ``beta`` times the similarities over the bank, divided by beta (the log of an
    inverted softmax, as in querybank normalisation). A per-row constant never changes
    a query's ranking, so one matrix serves both retrieval directions; written as an
    inner product of augmented embeddings, so the tasks' blocked scorer takes it as is.
    """

    def __init__(
        self, model: Any, bank_a: np.ndarray, bank_b: np.ndarray, kind: str, k: int, beta: float
    ):
        self.model, self.kind, self.k, self.beta = model, kind, k, beta
        self.bank_a = _dense(model.embed_a(bank_a))
        self.bank_b = _dense(model.embed_b(bank_b))

    def _penalty(self, emb: np.ndarray, bank: np.ndarray) -> np.ndarray:
        sims = emb @ bank.T
        if self.kind == "csls":
            k = min(self.k, sims.shape[1])
            return np.mean(np.partition(sims, -k, axis=1)[:, -k:], axis=1)
        top = sims.max(axis=1, keepdims=True)
        return top[:, 0] + np.log(np.exp(self.beta * (sims - top)).sum(axis=1)) / self.beta

    def embed_a(self, a: np.ndarray, **_: Any) -> np.ndarray:
        e = _dense(self.model.embed_a(a))
        r = self._penalty(e, self.bank_b)
        return np.hstack([np.sqrt(2.0) * e, -r[:, None], -np.ones((e.shape[0], 1))])

    def embed_b(self, b: np.ndarray, **_: Any) -> np.ndarray:
        e = _dense(self.model.embed_b(b))
        r = self._penalty(e, self.bank_a)
        return np.hstack([np.sqrt(2.0) * e, np.ones((e.shape[0], 1)), r[:, None]])


class Regress(_Embeds):
    """Side a mapped into side b's own space through the canonical solution; cosine there.

    The regression of b on a through a ridge CCA is ``(C_bb + r_b mu I) B diag(rho) z_a``
    (exact for the ridge solution: ``W_b^(-1) V = (C_bb + r_b mu I) B``). Scoring its cosine
    with the raw centred side b is what a ridge linear map does, but at CSA's ridges and
    rank ``s``: no decomposition beyond CSA's, one ``d_b x d_b x s`` product.
    """

    def __init__(self, m: Map, cov_bb: np.ndarray, rb: float, g: float = 1.0) -> None:
        d = cov_bb.shape[0]
        shifted = cov_bb + np.eye(d) * rb * np.trace(cov_bb) / d
        rho = m.info.get("rho")
        self.m = m
        self.lift = (shifted @ m.proj_b[:, : m.s]) * (rho[: m.s] ** g)
        self.info = dict(m.info, regress_g=g)

    def embed_a(self, a: np.ndarray, **_: Any) -> np.ndarray:
        z = (a - self.m.mean_a) @ self.m.proj_a[:, : self.m.s]
        return unit_rows(z @ self.lift.T)

    def embed_b(self, b: np.ndarray, **_: Any) -> np.ndarray:
        return unit_rows(b - self.m.mean_b)


def _dense(x: Any) -> np.ndarray:
    return np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float64)


# ---- fold moments ----------------------------------------------------------------------------
def fold_moments(a: np.ndarray, b: np.ndarray, fold: np.ndarray | None = None) -> FoldMoments:
    """The library's hashed folds, or ``fold[i]`` for row i (grouped folds)."""
    if fold is None:
        return (
            MomentAccumulator(a.shape[1], b.shape[1], n_folds=N_FOLDS)
            .add(a, b, first_row=0)
            .finish()
        )
    parts = []
    for k in range(N_FOLDS):
        rows = np.flatnonzero(fold == k)
        acc = MomentAccumulator(a.shape[1], b.shape[1], n_folds=1)
        parts.append(acc.add(a[rows], b[rows], first_row=0).finish().folds[0])
    return FoldMoments(tuple(parts))


def kmeans_folds(b: np.ndarray, seed: int, clusters_per_fold: int = 4) -> np.ndarray:
    """Rows dealt to folds by k-means cluster of side b (unit rows): similar text together."""
    from sklearn.cluster import KMeans

    n_clusters = N_FOLDS * clusters_per_fold
    km = KMeans(n_clusters=n_clusters, n_init=2, random_state=seed).fit(unit_rows(b - b.mean(0)))
    # Deal clusters to folds largest first, always to the emptiest fold: balanced sizes.
    sizes = np.bincount(km.labels_, minlength=n_clusters)
    load = np.zeros(N_FOLDS, dtype=int)
    cluster_fold = np.empty(n_clusters, dtype=int)
    for c in np.argsort(-sizes):
        cluster_fold[c] = int(np.argmin(load))
        load[cluster_fold[c]] += sizes[c]
    return cluster_fold[km.labels_]


def hashed_folds(b: np.ndarray, bits: int | None, seed: int = 0) -> np.ndarray:
    """Streamable grouping: a row's fold from its side-b value alone (any chunking agrees).

    ``bits=None``: a hash of the row's bytes, so identical captions share a fold;
    ``bits=k``: the signs of ``k`` fixed random projections (SimHash), so near-identical
    captions share a fold too. The bucket id is spread over the folds by a SplitMix64 hash.
    """
    from csa.moments import fold_of

    if bits is None:
        rows = np.ascontiguousarray(b)
        keys = np.array([zlib.crc32(row.tobytes()) for row in rows], dtype=np.int64)
    else:
        planes = np.random.default_rng(seed).standard_normal((b.shape[1], bits))
        keys = ((b @ planes) > 0).astype(np.int64) @ (1 << np.arange(bits))
    return fold_of(keys, N_FOLDS)


# ---- the generalised fold search -----------------------------------------------------------
class Search:
    """The library's held-out search, with every weighting ``rho**g`` scored at once.

    ``evaluate`` (one small SVD per fold) does not depend on the weights, so scoring
    several ``g`` per candidate ridge costs nothing extra.
    """

    def __init__(self, folds: FoldMoments, held: list[_HeldOutFold] | None = None) -> None:
        self.held = held or [
            _HeldOutFold(folds.training(k), folds.folds[k]) for k in range(folds.n_folds)
        ]
        self.length = max(f.cap for f in self.held)
        self.cache: dict[tuple[float, float], list] = {}
        self.evaluations = 0

    def evaluated(self, ra: float, rb: float) -> list:
        key = (float(ra), float(rb))
        if key not in self.cache:
            self.cache[key] = [f.evaluate(*key) for f in self.held]
            self.evaluations += 1
        return self.cache[key]

    def curve(self, ra: float, rb: float, g: float, heldout_weights: bool = False) -> np.ndarray:
        rows = []
        for ev in self.evaluated(ra, rb):
            if ev is None:
                rows.append(np.full(self.length, -np.inf))
                continue
            rho, heldout, spread = ev
            w = np.clip(heldout, 0, None) if heldout_weights else rho**g
            rows.append(_padded(separation_curve(w, heldout, spread), self.length))
        return np.vstack(rows).mean(axis=0)

    def best(
        self,
        gammas: Sequence[float],
        tune_a: bool = True,
        tune_b: bool = True,
        fixed: tuple[float, float] = (0.0, 0.0),
    ) -> tuple[float, float, float, int, float]:
        """(ridge_a, ridge_b, g, sim_dim, score): the library's search order, max over g."""

        def score(key: tuple[float, float]) -> tuple[float, float, int]:
            best = (-np.inf, 0.0, 1)
            for g in gammas:
                c = self.curve(*key, g)
                if best[0] == -np.inf or np.max(c) > best[0] + 1e-6 * abs(best[0]):
                    best = (float(np.max(c)), g, int(np.argmax(c)) + 1)
            return best

        def pair(va: float, vb: float) -> tuple[float, float]:
            return (va if tune_a else fixed[0], vb if tune_b else fixed[1])

        best = pair(GRID[0], GRID[0])
        top = score(best)

        def consider(cand: tuple[float, float]) -> None:
            nonlocal best, top
            s = score(cand)
            if top[0] == -np.inf or s[0] > top[0] + 1e-6 * abs(top[0]):
                best, top = cand, s

        for v in GRID[1:]:
            consider(pair(v, v))
        for f in (10**-0.5, 10**0.5):
            consider(pair(best[0] * f, best[1] * f))
        for side in ("a", "b"):
            if not (tune_a if side == "a" else tune_b):
                continue
            for f in (0.1, 10.0):
                consider((best[0] * f, best[1]) if side == "a" else (best[0], best[1] * f))
        return best[0], best[1], top[1], top[2], top[0]


def prompt_folds(folds: FoldMoments, prompts: np.ndarray) -> list[_HeldOutFold]:
    """Held-out folds whose side b is projected onto the span of the centred prompts.

    The separation criterion then scores only what the prompts can express: a
    held-out caption's component along the prompts' directions, whitened as a prompt
    would be. Computed from moments alone: ``S_ab P`` and ``P S_bb P`` with ``P`` the
    orthogonal projector onto the prompts' span (``c`` directions).
    """
    from csa.linalg import matmul

    out = []
    for k in range(folds.n_folds):
        train, held = folds.training(k), folds.folds[k]
        f = _HeldOutFold.__new__(_HeldOutFold)
        f.dtype = np.dtype(np.float64)
        (cov_aa, cov_bb, cov_ab), joint = _unit_scale(train, held)
        basis, _ = np.linalg.qr((prompts - train.mean_b).T)  # d_b x c, orthonormal
        d_a = train.dim_a
        # Side b of the held-out moments seen through the projector onto the prompts:
        # S_bb -> P S_bb P, S_ab -> S_ab P (and S_ba -> P S_ba), S_aa unchanged.
        through = np.eye(joint.shape[0])
        through[d_a:, d_a:] = basis @ basis.T
        joint = through @ joint @ through
        f.eig_a, vec_a, f.singular_a = range_spectrum(cov_aa, train.n - 1)
        f.eig_b, vec_b, f.singular_b = range_spectrum(cov_bb, train.n - 1)
        f.cross = matmul(vec_a, matmul(cov_ab, vec_b), trans_x=True)
        factor_a, factor_b = _joint_factor(joint, d_a, rank_bound=held.n)
        f.held_a = matmul(vec_a, factor_a, trans_x=True)
        f.held_b = matmul(vec_b, factor_b, trans_x=True)
        f.cap = min(f.eig_a.shape[0], f.eig_b.shape[0], train.n - 1)
        out.append(f)
    return out


def build_map(
    folds: FoldMoments, ra: float, rb: float, g: float, s: int | None, **info: Any
) -> Map:
    """Solve on all folds at these ridges; weights ``rho**g``; ``s`` None keeps every dim."""
    total = folds.total
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", csa.WeakFitWarning)
        sol = solve_cca(total, ra, rb)
    k = sol.correlations.shape[0]
    s = k if s is None else min(s, k)
    return Map(
        total.mean_a, total.mean_b, sol.proj_a, sol.proj_b, sol.correlations**g, s,
        dict(info, ridge_a=ra, ridge_b=rb, g=g, sim_dim=s, rho=sol.correlations),
    )  # fmt: skip


# ---- variants ------------------------------------------------------------------------------
def variants(
    a: np.ndarray,
    b: np.ndarray,
    seed: int,
    extra: dict[str, Any],
    prompts: np.ndarray | None,
    light: bool = False,
) -> dict[str, Any]:
    """Every fitted scorer of one budget: the defaults and the research variants."""
    out: dict[str, Any] = {}
    cost: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", csa.WeakFitWarning)
        for name, cls in (("CSA", csa.CSA), ("CCA", csa.CCA), ("LinearMap", csa.LinearMap),
                          ("ASIF", csa.ASIF)):  # fmt: skip
            t0 = time.perf_counter()
            out[name] = cls().fit(a, b)
            cost[name] = time.perf_counter() - t0
        out["CSA heldout-w"] = csa.CSA(weights="heldout").fit(a, b)

    folds = fold_moments(a, b)
    search = Search(folds)
    # CSA's own choice, reproduced (g = 1) and the joint choice of g.
    ra, rb, _, s1, _ = search.best([1.0])
    out["CSA re"] = build_map(folds, ra, rb, 1.0, s1)
    n_csa = search.evaluations
    # CCA's own choice (equal weights in the criterion), scored with either weighting.
    ca, cb, _, sc, _ = search.best([0.0])
    out["CCA re"] = build_map(folds, ca, cb, 0.0, sc)
    out["CSA weights @ CCA choice"] = build_map(folds, ca, cb, 1.0, sc)
    ga, gb, g, sg, _ = search.best(GAMMAS)
    out["g-chosen"] = build_map(folds, ga, gb, g, sg)
    cost["g-chosen evaluations"] = (n_csa, search.evaluations)

    # Regression into side b's space through CSA's own solution (no extra decomposition).
    cov_bb = folds.total.covariances()[1]
    out["regress csa"] = Regress(out["CSA re"], cov_bb, rb)
    # ...and through CCA's choice (one fold search serves retrieval and zero-shot).
    out["regress @ CCA choice"] = Regress(build_map(folds, ca, cb, 1.0, sc), cov_bb, cb)
    extra["cost_seconds"] = cost
    if light:
        return out

    # Zero-shot maps: side a keeps CSA's ridge; side b barely whitened.
    for rb_big in (10.0, 100.0, 1000.0):
        c = search.curve(ra, rb_big, 1.0)
        out[f"zs rb={rb_big:g}"] = build_map(folds, ra, rb_big, 1.0, int(np.argmax(c)) + 1)
    # ...with side a re-chosen for a fixed large rb.
    ra2, _, _, s2, _ = search.best([1.0], tune_b=False, fixed=(0.0, 1000.0))
    out["zs rb=1000 ra-tuned"] = build_map(folds, ra2, 1000.0, 1.0, s2)
    # ...and the g-chosen weights at rb=1000 (linear-map-like regime).
    ra3, _, g3, s3, _ = search.best(GAMMAS, tune_b=False, fixed=(0.0, 1000.0))
    out["zs rb=1000 g-chosen"] = build_map(folds, ra3, 1000.0, g3, s3)

    # Zero-shot ridge_b chosen at query time from the prompts: the held-out separation of
    # captions projected onto the prompts' span, side a at CSA's ridge.
    if prompts is not None:
        psearch = Search(folds, prompt_folds(folds, prompts))
        best = None
        for rb_p in (rb, 1.0, 10.0, 100.0, 1000.0):
            c = psearch.curve(ra, rb_p, 1.0)
            if best is None or np.max(c) > best[0]:
                best = (float(np.max(c)), rb_p, int(np.argmax(c)) + 1)
        _, rb_p, s_p = best
        out["zs prompt-span rb"] = build_map(folds, ra, rb_p, 1.0, s_p)
        c = search.curve(ra, rb_p, 1.0)
        out["zs prompt-span rb, s on folds"] = build_map(
            folds, ra, rb_p, 1.0, int(np.argmax(c)) + 1
        )

    full = build_map(folds, ra, rb, 1.0, None)
    out["regress csa all-dims"] = Regress(full, cov_bb, rb)
    out["regress g-chosen"] = Regress(out["g-chosen"], cov_bb, gb, g)

    # Grouped folds: similar captions together, so held-out text is new text.
    gfolds = fold_moments(a, b, kmeans_folds(b, seed))
    gsearch = Search(gfolds)
    gra, grb, _, gs, _ = gsearch.best([1.0])
    out["grouped"] = build_map(folds, gra, grb, 1.0, gs)
    gga, ggb, gg, ggs, _ = gsearch.best(GAMMAS)
    out["grouped g-chosen"] = build_map(folds, gga, ggb, gg, ggs)

    for label, bits in (("identity-grouped", None), ("simhash6-grouped", 6)):
        hsearch = Search(fold_moments(a, b, hashed_folds(b, bits)))
        hga, hgb, hg, hgs, _ = hsearch.best(GAMMAS)
        out[f"{label} g-chosen"] = build_map(folds, hga, hgb, hg, hgs)
        hca, hcb, _, hcs, _ = hsearch.best([1.0])
        out[f"{label}"] = build_map(folds, hca, hcb, 1.0, hcs)

    return out


# ---- tasks -----------------------------------------------------------------------------------
def score_bbc(model: Any, d: dict[str, np.ndarray], opts: dict) -> dict[str, float]:
    r = evaluate_retrieval(
        model,
        d["test_a"],
        d["test_b"],
        labels_a=d["test_groups"],
        labels_b=d["test_groups"],
        **opts,
    )
    return {
        "body->headline R@1": r["a->b"].recall[1],
        "headline->body R@1": r["b->a"].recall[1],
        "retrieval mAP": r.mean_map,
        "out-of-context AUC": detect_out_of_context(
            model, d["test_a"], d["test_b"], groups=d["test_groups"], seed=0
        ).auc,
    }


def score_clipart(model: Any, d: dict[str, np.ndarray], opts: dict) -> dict[str, float]:
    g = d["test_groups"]
    r = evaluate_retrieval(model, d["test_a"], d["test_b"], labels_a=g, labels_b=g, **opts)
    zs = zero_shot_classify(
        model, d["test_a"], d["test_classes"], d["test_labels"], top_k=(1,), **opts
    ).top1
    return {
        "image->caption R@1": r["a->b"].recall[1],
        "caption->image R@1": r["b->a"].recall[1],
        "retrieval mAP": r.mean_map,
        "zero-shot top-1": zs,
        "out-of-context AUC": detect_out_of_context(
            model, d["test_a"], d["test_b"], groups=g, seed=0
        ).auc,
    }


HUB_MODELS = ("CSA", "CCA", "LinearMap", "ASIF", "g-chosen")
SCORERS: dict[str, Callable] = {"bbc": score_bbc, "clipart": score_clipart}
#: (label, kind, k, beta, bank): "train" = the budget's own training rows (querybank
#: normalisation; a model would have to keep them), "test" = the evaluated rows themselves
#: (the query batch and the gallery: nothing kept, transductive).
HUBNESS = (
    ("csls k=10", "csls", 10, 0.0, "train"),
    ("isoftmax b=20", "isoftmax", 0, 20.0, "train"),
    ("csls-batch k=10", "csls", 10, 0.0, "test"),
)
#: --light: the defaults and the few variants worth hubness rows only.
LIGHT = ("CSA", "CCA", "LinearMap", "ASIF", "CCA re", "regress csa", "regress @ CCA choice")


def run(
    dataset: str,
    budgets: Sequence[int],
    seeds: Sequence[int],
    hub: bool,
    light: bool = False,
    partial: Path | None = None,
) -> list[dict]:
    """Rows of every variant at every budget and seed; ``partial`` gets them as they come."""
    d = dict(np.load(DATA / f"{dataset}.npz"))
    pool = d["train_a"].shape[0]
    rows = []
    for n in budgets:
        n = min(n, pool)
        for seed in seeds:
            t0 = time.perf_counter()
            idx = d[f"index_{n}_{seed}"]
            a, b = d["train_a"][idx], d["train_b"][idx]
            extra: dict[str, Any] = {}
            fitted = variants(a, b, seed, extra, d.get("test_classes"), light)
            scored = {}
            for name, model in fitted.items():
                if light and name not in LIGHT:
                    continue
                scored[name] = SCORERS[dataset](model, d, {})
                if hub and name in HUB_MODELS:
                    for label, kind, k, beta, bank in HUBNESS:
                        bank_a, bank_b = (a, b) if bank == "train" else (d["test_a"], d["test_b"])
                        wrapped = Hubness(model, bank_a, bank_b, kind, k, beta)
                        scored[f"{name} +{label}"] = SCORERS[dataset](wrapped, d, {})
            for name, metrics in scored.items():
                info = getattr(fitted.get(name), "info", None) or _params(fitted.get(name))
                info = {k: v for k, v in info.items() if k != "rho"}
                for metric, value in metrics.items():
                    rows.append(dict(dataset=dataset, n_pairs=int(n), seed=int(seed),
                                     variant=name, metric=metric, value=float(value),
                                     params=info))  # fmt: skip
            print(f"{dataset} n={n} seed={seed}: {time.perf_counter() - t0:.1f}s "
                  f"{extra['cost_seconds']}", flush=True)  # fmt: skip
            if partial is not None:
                partial.write_text(json.dumps({"rows": rows}))
    return rows


def _params(model: Any) -> dict[str, Any]:
    if model is None:
        return {}
    out = {}
    for key in ("ridge_", "sim_dim_"):
        v = getattr(model, key, None) if key in vars(model) else None
        if v is not None:
            out[key.rstrip("_")] = np.asarray(v).tolist()
    return out


def table(rows: list[dict]) -> str:
    acc: dict[tuple, list[float]] = defaultdict(list)
    for r in rows:
        acc[(r["dataset"], r["metric"], r["variant"], r["n_pairs"])].append(r["value"])
    lines = []
    keys = sorted({k[:2] for k in acc})
    for ds, metric in keys:
        ns = sorted({k[3] for k in acc if k[:2] == (ds, metric)})
        names = list(dict.fromkeys(k[2] for k in acc if k[:2] == (ds, metric)))
        lines.append(f"\n## {ds}: {metric}")
        lines.append(f"{'variant':28s}" + "".join(f"{n:>16d}" for n in ns))
        for name in names:
            cells = []
            for n in ns:
                v = acc.get((ds, metric, name, n), [])
                cells.append(f"{np.mean(v):8.3f}+-{np.std(v):.3f}" if v else " " * 16)
            lines.append(f"{name:28s}" + "".join(f"{c:>16s}" for c in cells))
    return "\n".join(lines)


def paired(rows: list[dict], reference: str) -> str:
    """Mean and sd over seeds of each variant minus ``reference`` on the same draw."""
    value = {(r["dataset"], r["metric"], r["variant"], r["n_pairs"], r["seed"]): r["value"]
             for r in rows}  # fmt: skip
    acc: dict[tuple, list[float]] = defaultdict(list)
    for (ds, metric, name, n, seed), v in value.items():
        ref = value.get((ds, metric, reference, n, seed))
        if ref is not None and name != reference:
            acc[(ds, metric, name, n)].append(v - ref)
    lines = []
    for ds, metric in sorted({k[:2] for k in acc}):
        ns = sorted({k[3] for k in acc if k[:2] == (ds, metric)})
        lines.append(f"\n## {ds}: {metric}, minus {reference} (same draw)")
        lines.append(f"{'variant':28s}" + "".join(f"{n:>17d}" for n in ns))
        for name in dict.fromkeys(k[2] for k in acc if k[:2] == (ds, metric)):
            cells = []
            for n in ns:
                d = acc.get((ds, metric, name, n), [])
                cells.append(f"{np.mean(d):+8.3f}+-{np.std(d):.3f}" if d else "")
            lines.append(f"{name:28s}" + "".join(f"{c:>17s}" for c in cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two budgets, two seeds")
    parser.add_argument("--datasets", nargs="+", default=["bbc", "clipart"])
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--budgets", type=int, nargs="+", default=None)
    parser.add_argument("--no-hubness", action="store_true")
    parser.add_argument("--light", action="store_true", help="score the defaults only")
    parser.add_argument("--out", default=None)
    parser.add_argument("--table", nargs="+", default=None, help="print saved JSON results")
    parser.add_argument("--only", nargs="+", default=None, help="variants to print")
    parser.add_argument("--paired", default=None, help="with --table: differences to this one")
    args = parser.parse_args()
    if args.table:
        saved = [r for f in args.table for r in json.loads(Path(f).read_text())["rows"]]
        if args.out:  # merge runs: the last row of each (dataset, budget, seed, variant, metric)
            merged = {(r["dataset"], r["n_pairs"], r["seed"], r["variant"], r["metric"]): r
                      for r in saved}  # fmt: skip
            saved = list(merged.values())
            Path(args.out).write_text(json.dumps({"sources": args.table, "rows": saved}, indent=0))
        kept = [r for r in saved if not args.only or r["variant"] in args.only]
        print(paired(kept, args.paired) if args.paired else table(kept))
        return
    out = (
        Path(args.out)
        if args.out
        else RESULTS
        / ("selection_research_quick.json" if args.quick else "selection_research.json")
    )
    rows = []
    for ds in args.datasets:
        pool = {"bbc": 1789, "clipart": 4169}[ds]
        budgets = args.budgets or ([100, 1000] if args.quick else [100, 300, 1000, pool])
        seeds = range(args.seeds or (2 if args.quick else 3))
        partial = out.with_name(f"{out.stem}.{ds}.partial.json")
        rows += run(ds, budgets, list(seeds), not args.no_hubness, args.light, partial)
    print(table(rows))
    out.write_text(json.dumps({"rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
