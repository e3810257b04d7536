"""Set-level distances between two sets of phrases: metric distributions, Fréchet, copies.

The per-sample metrics of :func:`pianoroll.metrics.compute_all` give, for every metric key, a
distribution over each set of phrases. This module compares two such sets:

- :func:`overlapping_area` and :func:`kl_divergence` compare the distributions of one metric,
  following Yang and Lerch (2018), "On the evaluation of generative models in music", Neural
  Computing and Applications 32. The paper smooths each set with a Gaussian kernel density
  estimate (KDE) and reports the overlapping area (OA) of the two densities and their
  Kullback-Leibler divergence (KL). The paper applies them to the *pairwise distances* of the
  metric values (intra-set distances of one set against the inter-set distances); here they are
  applied to the *per-sample metric values themselves*, which is what a comparison of a
  generated set with a reference set needs and is easier to read (OA = 1 for identical
  distributions, about 0 for disjoint ones).
- :func:`frechet_distance` compares Gaussians fitted to the vectors of all metrics of a sample.
- :func:`memorization` finds, for every generated phrase, its nearest training phrase.
- :func:`compare_sets` does all of the above for every metric key and returns a
  JSON-serializable dictionary (the input of :func:`pianoroll.report.write_report`).

Every function is pure: inputs are never modified. Set *b* is always the reference. The sets of
:func:`compare_sets` and :func:`memorization` may be arrays or packed
:class:`pianoroll.dataset.Dataset` objects; a dataset is unpacked ``chunk_size`` phrases at a
time, never whole, and gives exactly the results of its unpacked array.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pianoroll.dataset import CHUNK_PHRASES, Dataset
from pianoroll.evaluation import metric_matrix, metrics_by_chunks, metrics_for_spec
from pianoroll.spec import PhraseSpec

__all__ = [
    "compare_sets",
    "frechet_distance",
    "kl_divergence",
    "memorization",
    "memorization_summary",
    "overlapping_area",
]

#: Default number of points of the grid on which the two densities are evaluated.
DEFAULT_BINS = 512

#: Default near-copy threshold of :func:`memorization`: at most 5 % of the active cells differ.
DEFAULT_THRESHOLD = 0.05

# Elements of one (grid points x distinct values) block of the KDE evaluation.
_KDE_BLOCK = 1 << 20

# Rows per block of the nearest-neighbour search (float32 rows of a few 10k cells each).
_NN_ROWS = 2048

# A generated array is converted to float32 once if it takes at most this many bytes.
_NN_WHOLE_BYTES = 1 << 30


# --------------------------------------------------------------------------------------------
# Distributions of one metric: Gaussian KDE, overlapping area, KL divergence
# --------------------------------------------------------------------------------------------


def _finite_values(x: Any) -> np.ndarray:
    """The values as a flat float64 array without NaN or infinities (a new array)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    return x[np.isfinite(x)]


def _scott_bandwidth(x: np.ndarray) -> float:
    """Scott's rule ``std(x, ddof=1) * n ** (-1/5)``, or 0.0 for < 2 samples or equal values.

    This is the bandwidth of ``scipy.stats.gaussian_kde(x)`` (``bw_method="scott"``) in 1-D.
    """
    if len(x) < 2 or x.min() == x.max():
        return 0.0
    return float(x.std(ddof=1)) * len(x) ** -0.2


def _log_kde(x: np.ndarray, bandwidth: float, grid: np.ndarray) -> np.ndarray:
    """Log of the Gaussian KDE of ``x`` with ``bandwidth``, at the ``grid`` points.

    Computed in the log domain (log-sum-exp over the kernels), so the density far from every
    sample is a finite, very negative log value rather than an underflow to 0. Equal values
    share one weighted kernel.
    """
    values, counts = np.unique(x, return_counts=True)
    log_weights = np.log(counts / len(x))
    out = np.full(len(grid), -np.inf)
    step = max(1, _KDE_BLOCK // len(grid))
    for start in range(0, len(values), step):
        z = (grid[:, None] - values[None, start : start + step]) / bandwidth
        exponent = log_weights[None, start : start + step] - 0.5 * z * z
        peak = exponent.max(axis=1)
        block = peak + np.log(np.exp(exponent - peak[:, None]).sum(axis=1))
        out = np.logaddexp(out, block)
    return out - math.log(bandwidth * math.sqrt(2.0 * math.pi))


def _oa_kl(a: Any, b: Any, bins: int = DEFAULT_BINS) -> tuple[float, float]:
    """Overlapping area and ``KL(a || b)`` of the KDEs of two samples (see the public functions)."""
    bins = int(bins)
    if bins < 16:
        raise ValueError(f"bins must be at least 16 grid points, got {bins}")
    a, b = _finite_values(a), _finite_values(b)
    if not len(a) or not len(b):
        return math.nan, math.nan
    low, high = min(a.min(), b.min()), max(a.max(), b.max())
    span = float(high - low)
    if span == 0.0:  # every value of both sets is the same number: identical point masses
        return 1.0, 0.0
    h_a, h_b = _scott_bandwidth(a), _scott_bandwidth(b)
    # A degenerate set (one value, or all values equal) borrows the other set's bandwidth.
    h_a, h_b = (h_a or h_b), (h_b or h_a)
    # Every kernel spans at least one grid step, so that the grid resolves it.
    step = (span + 8.0 * max(h_a, h_b)) / (bins - 1)
    h_a, h_b = max(h_a, step), max(h_b, step)
    pad = 4.0 * max(h_a, h_b)
    grid, dx = np.linspace(low - pad, high + pad, bins, retstep=True)
    log_p, log_q = _log_kde(a, h_a, grid), _log_kde(b, h_b, grid)
    # Normalize on the grid (the tails beyond 4 bandwidths hold < 1e-4 of the mass), so that
    # identical sets give OA = 1 and KL = 0 up to rounding.
    log_p -= math.log(np.exp(log_p).sum() * dx)
    log_q -= math.log(np.exp(log_q).sum() * dx)
    p, q = np.exp(log_p), np.exp(log_q)
    overlap = float(np.minimum(p, q).sum() * dx)
    divergence = float((p * (log_p - log_q)).sum() * dx)
    return min(max(overlap, 0.0), 1.0), max(divergence, 0.0)


def overlapping_area(a: Any, b: Any, *, bins: int = DEFAULT_BINS) -> float:
    """Overlapping area of the Gaussian KDEs of two samples of one metric (Yang and Lerch 2018).

    ``OA = integral of min(p_a(x), p_b(x)) dx``, where ``p_a`` and ``p_b`` are Gaussian kernel
    density estimates of the values of set ``a`` and set ``b`` (per-sample metric values, not
    the paper's pairwise distances). OA is 1 for identical samples and near 0 for samples far
    apart relative to their spread. It is symmetric in ``a`` and ``b``.

    Estimation details (shared with :func:`kl_divergence`):

    - NaN (and infinite) values are dropped first.
    - Bandwidth: Scott's rule, ``std(ddof=1) * n ** (-1/5)``, as ``scipy.stats.gaussian_kde``.
      A degenerate set (a single value, or all values equal) has no spread and borrows the other
      set's bandwidth; every bandwidth is raised to at least one grid step. If all values of
      both sets are equal, OA is 1 and KL is 0.
    - Both densities are evaluated in the log domain on one shared grid of ``bins`` points from
      4 bandwidths below the smallest to 4 above the largest value, normalized to integrate
      to 1 on the grid, and integrated by the rectangle rule.

    Args:
        a: Values of one metric in set ``a``, any shape (flattened).
        b: Values of the same metric in the reference set ``b``.
        bins: Number of points of the shared evaluation grid (at least 16).

    Returns:
        OA in [0, 1]; NaN if either set has no value that is not NaN.
    """
    return _oa_kl(a, b, bins)[0]


def kl_divergence(a: Any, b: Any, *, bins: int = DEFAULT_BINS) -> float:
    """Kullback-Leibler divergence ``KL(a || b)`` of the Gaussian KDEs of two samples, in nats.

    ``KL = integral of p_a(x) log(p_a(x) / p_b(x)) dx`` with the densities of
    :func:`overlapping_area` (same NaN handling, bandwidths, grid and degenerate cases). It is
    0 for identical samples, grows without bound as the sets move apart and is not symmetric:
    it measures how badly the reference ``b`` explains set ``a``. The log densities are
    computed in the log domain, so the result is finite even for disjoint sets (about
    ``d**2 / (2 h**2)`` for two narrow kernels of bandwidth ``h`` at distance ``d``; for two
    different constants, whose bandwidth is one grid step, about ``(bins - 1)**2 / 2``).

    Args:
        a: Values of one metric in set ``a``, any shape (flattened).
        b: Values of the same metric in the reference set ``b``.
        bins: Number of points of the shared evaluation grid (at least 16).

    Returns:
        KL, at least 0; NaN if either set has no value that is not NaN.
    """
    return _oa_kl(a, b, bins)[1]


# --------------------------------------------------------------------------------------------
# Fréchet distance of metric vectors
# --------------------------------------------------------------------------------------------


def _column_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column: number of defined (not NaN) values, their mean and std (ddof=0); no warning."""
    defined = ~np.isnan(x)
    count = defined.sum(axis=0)
    filled = np.where(defined, x, 0.0)
    mean = np.full(x.shape[1], np.nan)
    np.divide(filled.sum(axis=0), count, out=mean, where=count > 0)
    deviation = np.where(defined, x - np.where(count > 0, mean, 0.0), 0.0)
    std = np.full(x.shape[1], np.nan)
    np.divide((deviation * deviation).sum(axis=0), count, out=std, where=count > 0)
    return count, mean, np.sqrt(std)


def _covariance(x: np.ndarray) -> np.ndarray:
    """Sample covariance (ddof=1) of the rows of ``x``; zeros for a single row."""
    if len(x) < 2:
        return np.zeros((x.shape[1], x.shape[1]))
    centered = x - x.mean(axis=0)
    return centered.T @ centered / (len(x) - 1)


def _trace_sqrt_product(cov_a: np.ndarray, cov_b: np.ndarray) -> float:
    """``trace(sqrtm(cov_a @ cov_b))`` for symmetric positive semi-definite matrices.

    Uses ``trace(sqrtm(A B)) = trace(sqrtm(A^1/2 B A^1/2))``: the inner matrix is symmetric
    positive semi-definite, so its eigenvalues (clipped at 0 against rounding) are real and the
    result needs no complex square root, and singular matrices (e.g. constant metrics) are fine.
    """
    w, v = np.linalg.eigh(cov_a)
    root_a = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    inner = root_a @ cov_b @ root_a
    eigenvalues = np.linalg.eigvalsh((inner + inner.T) / 2)
    return float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())


def frechet_distance(a: Any, b: Any) -> float:
    """Fréchet distance of Gaussians fitted to the per-sample metric vectors of two sets.

    ``FD = |mu_a - mu_b|^2 + trace(S_a + S_b - 2 (S_a S_b)^(1/2))`` (the squared 2-Wasserstein
    distance of the two Gaussians, as in the FID), where ``mu`` and ``S`` are the mean and the
    sample covariance (ddof=1) of the rows after these steps:

    1. Columns where the reference ``b`` has no defined value are left out.
    2. Standardize every column with the mean and std (ddof=0) of the defined values of ``b``,
       so that metrics of different units weigh alike and a shift of the mean of ``a`` by
       ``d`` reference standard deviations in one column adds ``d**2``. A column where ``b`` is
       constant is only centered.
    3. NaN cells (a metric undefined for a sample) of either set are replaced by the
       reference's column mean (0 after standardizing).

    The matrix square root is taken through symmetric eigendecompositions (see
    :func:`_trace_sqrt_product`), which equals ``trace(scipy.linalg.sqrtm(S_a @ S_b).real)``
    but stays real and quiet for singular covariances. A set with one sample has covariance 0.
    Like the FID, the estimate is biased upward for small sets (the covariance of a few dozen
    samples of 50+ metrics is poor): compare distances computed with similar set sizes, e.g.
    against a noise floor of two real sets of the generated set's size.

    Args:
        a: ``(N_a, metrics)`` per-sample metric vectors (a 1-D array is one metric).
        b: ``(N_b, metrics)`` the reference's, the same columns.

    Returns:
        FD, at least 0; NaN if either set has no row or ``b`` has no defined value at all.

    Raises:
        ValueError: the inputs are not 1-D or 2-D or have different numbers of columns.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a[:, None] if a.ndim == 1 else a
    b = b[:, None] if b.ndim == 1 else b
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(
            f"frechet_distance expects (N, metrics) arrays with the same columns, got shapes "
            f"{a.shape} and {b.shape}"
        )
    if not len(a) or not len(b):
        return math.nan
    count, mean, std = _column_stats(b)
    keep = count > 0
    if not keep.any():
        return math.nan
    mean, scale = mean[keep], np.where(std[keep] > 0, std[keep], 1.0)
    za = (np.where(np.isnan(a[:, keep]), mean, a[:, keep]) - mean) / scale
    zb = (np.where(np.isnan(b[:, keep]), mean, b[:, keep]) - mean) / scale
    cov_a, cov_b = _covariance(za), _covariance(zb)
    shift = za.mean(axis=0) - zb.mean(axis=0)
    distance = (
        float(shift @ shift)
        + float(np.trace(cov_a) + np.trace(cov_b))
        - 2.0 * _trace_sqrt_product(cov_a, cov_b)
    )
    return max(distance, 0.0)


# --------------------------------------------------------------------------------------------
# Memorization: nearest training phrase of every generated phrase
# --------------------------------------------------------------------------------------------


def _flat_bits(x: Any, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype != np.bool_:
        raise TypeError(f"memorization expects binary (bool) phrases, got {name} of {x.dtype}")
    if x.ndim < 1:
        raise ValueError(f"memorization expects a batch of phrases, got a scalar {name}")
    return x.reshape(len(x), int(np.prod(x.shape[1:])))


def memorization(
    generated: Any,
    training: Any,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    chunk_size: int = CHUNK_PHRASES,
) -> dict[str, Any]:
    """Share of generated phrases that copy a training phrase exactly or nearly.

    For every generated phrase ``x`` and training phrase ``y`` (binary, flattened), the Hamming
    distance ``d(x, y)`` is the number of cells where they differ, and the relative distance is
    ``d(x, y) / max(|x|, |y|, 1)`` where ``|x|`` is the number of active cells. A generated
    phrase is

    - an **exact** copy if some training phrase equals it (``d = 0``; an empty phrase copies an
      empty training phrase);
    - a **near** copy if some training phrase has relative distance ``<= threshold``, i.e. at
      most ``threshold * max(|x|, |y|)`` cells differ. Exact copies are near copies too.

    Only identical cell positions count: a transposed or shifted copy is not detected.

    The search is exhaustive. ``d(x, y) = |x| + |y| - 2 x.y``, with the dot products computed
    block by block as float32 matrix products (exact for fewer than 2**24 cells) over the cells
    that are active in at least one phrase of either set. Every distance is an exact integer,
    so the result does not depend on the blocks: a packed dataset, unpacked ``chunk_size``
    phrases at a time, gives the result of its unpacked array. 5,000 x 20,000 random phrases
    of 21,504 cells (the chorale shape) take about 45 s on two cores.

    Args:
        generated: ``(N, ...)`` binary (bool) phrases, or a packed
            :class:`pianoroll.dataset.Dataset` of N phrases.
        training: ``(M, ...)`` binary (bool) phrases of the same shape per phrase, or a packed
            dataset of M such phrases.
        threshold: Largest relative distance of a near copy, in [0, 1].
        chunk_size: Phrases of a dataset unpacked at a time.

    Returns:
        A dict with:

        - ``"exact_share"``, ``"near_share"``: float shares of the N generated phrases (NaN if
          either set is empty);
        - ``"threshold"``: the threshold used;
        - ``"nearest_distance"``: ``(N,)`` float64, the smallest Hamming distance to a
          training phrase (NaN if there is no training phrase);
        - ``"nearest_index"``: ``(N,)`` int64, the index of that training phrase (-1 if none);
        - ``"nearest_relative"``: ``(N,)`` float64, the smallest relative distance (not
          necessarily to the same training phrase; NaN if there is no training phrase).

    Raises:
        TypeError: an input is not bool.
        ValueError: the phrase shapes differ, ``threshold`` is not in [0, 1] or
            ``chunk_size`` is not positive.
    """
    threshold = float(threshold)
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    gen, train = _flat_sets(generated, training, chunk_size)
    result: dict[str, Any] = {
        "exact_share": math.nan,
        "near_share": math.nan,
        "threshold": threshold,
        "nearest_distance": np.full(len(gen), np.nan),
        "nearest_index": np.full(len(gen), -1, dtype=np.int64),
        "nearest_relative": np.full(len(gen), np.nan),
    }
    if len(gen) == 0 or len(train) == 0:
        return result
    nearest = _nearest(gen, train)
    # Rounding: the float32 distances are integers, relative ones get a tolerance.
    relative = nearest.relative.astype(np.float64)
    result.update(
        exact_share=float(np.mean(nearest.distance == 0)),
        near_share=float(np.mean(relative <= threshold + 1e-6)),
        nearest_distance=nearest.distance.astype(np.float64),
        nearest_index=nearest.index,
        nearest_relative=relative,
    )
    return result


@dataclasses.dataclass(frozen=True)
class _Bits:
    """A set of binary phrases flattened to ``(n, cells)`` bool rows, read a block at a time.

    Attributes:
        source: ``(n, cells)`` bool, or a packed dataset of n phrases, which is only ever
            unpacked a block at a time.
        rows: phrases per block.
    """

    source: np.ndarray | Dataset
    rows: int

    def __len__(self) -> int:
        return len(self.source)

    def used(self) -> np.ndarray:
        """``(cells,)`` bool: the cells active in at least one phrase."""
        if not isinstance(self.source, Dataset):
            return self.source.any(axis=0)
        # The union of packed rows is the packed union: no phrase needs unpacking.
        union = np.zeros(self.source.packed.shape[1], np.uint8)
        for start in range(0, len(self.source), self.rows):
            block = self.source.packed_at(slice(start, start + self.rows))
            union |= np.bitwise_or.reduce(block, axis=0)
        return np.unpackbits(union, count=int(np.prod(self.source.spec.shape))).view(bool)

    def block(self, start: int, cells: np.ndarray | None) -> np.ndarray:
        """Bool ``(k, cells)``: up to ``rows`` phrases from ``start``, only the ``cells`` where
        that boolean mask is set (every cell for None)."""
        if isinstance(self.source, Dataset):
            part = self.source.phrases_at(slice(start, start + self.rows))
            part = part.reshape(len(part), -1)
        else:
            part = self.source[start : start + self.rows]
        return part if cells is None else part[:, cells]


def _flat_sets(generated: Any, training: Any, chunk_size: int) -> tuple[_Bits, _Bits]:
    """Both sets as :class:`_Bits`, after checking their phrases' shapes match.

    Arrays are flattened by :func:`_flat_bits` and read :data:`_NN_ROWS` phrases at a time,
    datasets ``chunk_size`` at a time.

    Returns:
        ``(generated, training)`` of N and M phrases.

    Raises:
        TypeError: a set is not bool.
        ValueError: the phrase shapes differ, or a set is a scalar.
    """
    sets = [x if isinstance(x, Dataset) else np.asarray(x) for x in (generated, training)]
    gen_shape, train_shape = (x.shape[1:] for x in sets)
    if gen_shape != train_shape:
        raise ValueError(
            f"generated phrases have shape {gen_shape}, training phrases {train_shape}"
        )
    gen, train = (
        _Bits(x, chunk_size) if isinstance(x, Dataset) else _Bits(_flat_bits(x, name), _NN_ROWS)
        for x, name in zip(sets, ("generated", "training"), strict=True)
    )
    return gen, train


def _used_cells(gen: _Bits, train: _Bits) -> np.ndarray | None:
    """The boolean mask of the cells active in some phrase of either set; None if all are.

    Raises:
        ValueError: too many cells are left for exact float32 sums.
    """
    # Cells never active in either set add nothing to any distance.
    used = gen.used() | train.used()
    if int(used.sum()) >= 1 << 24:
        raise ValueError(f"phrases of {int(used.sum())} cells are too long for exact float32 sums")
    return None if used.all() else used


@dataclasses.dataclass
class _Nearest:
    """The nearest training phrases found so far, one entry per generated phrase.

    Attributes:
        distance: float32 ``(N,)``, the smallest Hamming distance (inf before any).
        index: int64 ``(N,)``, the index of the training phrase at that distance.
        relative: float32 ``(N,)``, the smallest relative distance, to any training phrase.
    """

    distance: np.ndarray
    index: np.ndarray
    relative: np.ndarray

    @classmethod
    def start(cls, n: int) -> _Nearest:
        """Nothing found yet for ``n`` generated phrases."""
        return cls(
            np.full(n, np.inf, dtype=np.float32),
            np.zeros(n, dtype=np.int64),
            np.full(n, np.inf, dtype=np.float32),
        )

    def update(self, rows: slice, distance: np.ndarray, relative: np.ndarray, first: int) -> None:
        """Keep the nearer of the known and a block's training phrases.

        Args:
            rows: the generated phrases of the block.
            distance: float32 ``(rows, block)`` Hamming distances to the block's training
                phrases.
            relative: float32 ``(rows, block)`` relative distances to them.
            first: the index of the block's first training phrase.
        """
        arg = distance.argmin(axis=1)
        low = distance[np.arange(len(distance)), arg]
        better = low < self.distance[rows]
        self.distance[rows] = np.where(better, low, self.distance[rows])
        self.index[rows] = np.where(better, arg + first, self.index[rows])
        self.relative[rows] = np.minimum(self.relative[rows], relative.min(axis=1))


def _float_rows(bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bool ``(k, cells)`` as float32 ``(k, cells)`` and their active cells, float32 ``(k,)``."""
    return bits.astype(np.float32), bits.sum(axis=1, dtype=np.int64).astype(np.float32)


def _nearest(gen: _Bits, train: _Bits) -> _Nearest:
    """Exhaustive nearest-neighbour search of the N generated phrases among the M training ones.

    ``d(x, y) = |x| + |y| - 2 x.y``, the dot products computed block by block as float32
    matrix products over the used cells (:func:`_used_cells`), exact for fewer than 2**24
    cells. Every training block is read once; a generated array of at most
    :data:`_NN_WHOLE_BYTES` as float32 is converted once, other generated sets are read again
    for every training block.
    """
    cells = _used_cells(gen, train)
    n = len(gen)
    whole = None
    if not isinstance(gen.source, Dataset):
        width = gen.source.shape[1] if cells is None else int(cells.sum())
        if n * width * 4 <= _NN_WHOLE_BYTES:
            whole = _float_rows(_Bits(gen.source, n).block(0, cells))
    nearest = _Nearest.start(n)
    for t0 in range(0, len(train), train.rows):
        rows, t_count = _float_rows(train.block(t0, cells))
        for g0 in range(0, n, gen.rows):
            g1 = min(g0 + gen.rows, n)
            if whole is not None:
                block, count = whole[0][g0:g1], whole[1][g0:g1]
            else:
                block, count = _float_rows(gen.block(g0, cells))
            g_count = count[:, None]
            distance = g_count + t_count[None, :] - 2.0 * (block @ rows.T)
            relative = distance / np.maximum(np.maximum(g_count, t_count[None, :]), 1.0)
            nearest.update(slice(g0, g1), distance, relative, t0)
    return nearest


def memorization_summary(result: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON-serializable summary of a :func:`memorization` result.

    Returns:
        ``threshold``, ``exact_share``, ``near_share`` and the ``min``/``median``/``mean``/
        ``max`` of ``nearest_distance`` and ``nearest_relative``; None where undefined (NaN).
    """

    def stats(values: np.ndarray) -> dict[str, float | None]:
        values = values[~np.isnan(values)]
        if not len(values):
            return dict.fromkeys(("min", "median", "mean", "max"))
        return {
            "min": float(values.min()),
            "median": float(np.median(values)),
            "mean": float(values.mean()),
            "max": float(values.max()),
        }

    return {
        "threshold": float(result["threshold"]),
        "exact_share": _json_float(result["exact_share"]),
        "near_share": _json_float(result["near_share"]),
        "n_generated": len(result["nearest_distance"]),
        "nearest_distance": stats(np.asarray(result["nearest_distance"], np.float64)),
        "nearest_relative": stats(np.asarray(result["nearest_relative"], np.float64)),
    }


# --------------------------------------------------------------------------------------------
# Everything for two sets
# --------------------------------------------------------------------------------------------


def _json_float(x: Any) -> float | None:
    """A Python float, or None for NaN and infinities (JSON has no NaN)."""
    x = float(x)
    return x if math.isfinite(x) else None


def _summary(values: np.ndarray) -> dict[str, Any]:
    """Mean, std (ddof=0) and count of the defined values; None where undefined."""
    defined = values[~np.isnan(values)]
    if not len(defined):
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(defined.mean()), "std": float(defined.std()), "n": len(defined)}


def _histogram(a: np.ndarray, b: np.ndarray, bins: int) -> dict[str, list]:
    """Counts of the defined values of both sets on shared edges.

    Integer-valued metrics spanning at most 64 values get one bin per integer; others ``bins``
    equal bins over the pooled range.
    """
    a, b = _finite_values(a), _finite_values(b)
    pooled = np.concatenate([a, b])
    if not len(pooled):
        return {"edges": [], "a": [], "b": []}
    low, high = float(pooled.min()), float(pooled.max())
    if np.all(pooled == np.round(pooled)) and high - low <= 64:
        edges = np.arange(low - 0.5, high + 1.0, 1.0)
    else:
        edges = np.histogram_bin_edges(pooled, bins=bins)
    return {
        "edges": edges.tolist(),
        "a": np.histogram(a, edges)[0].tolist(),
        "b": np.histogram(b, edges)[0].tolist(),
    }


def _check_phrases(x: Any, spec: PhraseSpec, name: str) -> np.ndarray | Dataset:
    """Set ``x`` (an array or a packed dataset) after checking its phrase shape and dtype."""
    if isinstance(x, Dataset):
        if x.spec.shape != spec.shape:
            raise ValueError(
                f"set {name}: expected phrases of shape (N, {', '.join(map(str, spec.shape))}),"
                f" got a dataset of {x.shape}"
            )
        return x
    x = np.asarray(x)
    if x.ndim != 5 or x.shape[1:] != spec.shape:
        raise ValueError(
            f"set {name}: expected phrases of shape (N, {', '.join(map(str, spec.shape))}),"
            f" got {x.shape}"
        )
    if x.dtype != np.bool_:
        raise TypeError(f"set {name}: expected binary (bool) phrases, got dtype {x.dtype}")
    return x


def _set_metrics(x: np.ndarray | Dataset, spec: PhraseSpec, chunk_size: int) -> dict[str, Any]:
    """Per-sample metric values (key -> ``(N,)`` float64) of an array or, chunk by chunk, of a
    packed dataset; both give the same values, every metric being a function of one phrase."""
    if isinstance(x, Dataset):
        return metrics_by_chunks(x.chunks(chunk_size), spec)
    return metrics_for_spec(x, spec)


def compare_sets(
    a: Any,
    b: Any,
    spec: PhraseSpec,
    reference_floor: Mapping[str, Any] | None = None,
    *,
    names: Sequence[str] = ("a", "b"),
    bins: int = DEFAULT_BINS,
    histogram_bins: int = 30,
    memorization_threshold: float | None = None,
    chunk_size: int = CHUNK_PHRASES,
) -> dict[str, Any]:
    """Compare a set of phrases ``a`` with a reference set ``b`` on every metric.

    For every key of :func:`pianoroll.metrics.compute_all` (``"<metric>/<track>"``): mean,
    std (ddof=0) and number of defined values in each set, :func:`overlapping_area` and
    :func:`kl_divergence` ``KL(a || b)`` of the per-sample values, and a histogram of both sets
    on shared edges (for plots); plus :func:`frechet_distance` over the vectors of all keys
    and, if ``memorization_threshold`` is given, :func:`memorization_summary` of
    ``memorization(a, b)``.

    Either set may be a packed :class:`pianoroll.dataset.Dataset`: its metrics are computed
    and its copies searched ``chunk_size`` phrases at a time, with the result of its unpacked
    array.

    Args:
        a: ``(N_a, bars, steps, pitches, tracks)`` binary phrases, e.g. generated ones, or a
            packed dataset of them.
        b: ``(N_b, ...)`` binary phrases of the reference, e.g. the training set, or a packed
            dataset of them.
        spec: The phrase spec of both sets.
        reference_floor: Optional result of ``compare_sets`` on two sets of real data (e.g.
            validation vs training): the noise floor, i.e. the OA and KL that finite samples of
            the same distribution already show. Its values are copied into this result,
            per metric as ``"floor": {"overlapping_area", "kl_divergence"}`` (None for keys
            it lacks) and at the top as ``"floor_frechet_distance"``.
        names: Display names of ``a`` and ``b``.
        bins: Grid points of the KDEs (see :func:`overlapping_area`).
        histogram_bins: Bins of the stored histograms of non-integer metrics.
        memorization_threshold: If given, also run :func:`memorization` with this threshold.
        chunk_size: Phrases of a dataset unpacked at a time.

    Returns:
        A JSON-serializable dict: ``{"sets": {"a": {"name", "n"}, "b": {...}},
        "frechet_distance": float, "metrics": {key: {"a": {"mean", "std", "n"}, "b": {...},
        "overlapping_area", "kl_divergence", "histogram": {"edges", "a", "b"}}}}`` (plus the
        floor and ``"memorization"`` entries described above). Every undefined number (NaN:
        an empty set, a metric defined on no sample) is None; no NaN or infinity appears.

    Raises:
        ValueError: a set does not have the spec's phrase shape.
        TypeError: a set is not bool.
    """
    a = _check_phrases(a, spec, "a")
    b = _check_phrases(b, spec, "b")
    name_a, name_b = (str(n) for n in names)
    values_a = _set_metrics(a, spec, chunk_size)
    values_b = _set_metrics(b, spec, chunk_size)
    result: dict[str, Any] = {
        "sets": {"a": {"name": name_a, "n": len(a)}, "b": {"name": name_b, "n": len(b)}},
        "frechet_distance": _set_distance(values_a, values_b),
        "metrics": _compare_metrics(values_a, values_b, reference_floor, bins, histogram_bins),
    }
    if reference_floor is not None:
        result["floor_frechet_distance"] = reference_floor.get("frechet_distance")
    if memorization_threshold is not None:
        result["memorization"] = memorization_summary(
            memorization(a, b, threshold=memorization_threshold, chunk_size=chunk_size)
        )
    return result


def _set_distance(values_a: dict[str, np.ndarray], values_b: dict[str, np.ndarray]) -> float | None:
    """:func:`frechet_distance` of two sets' per-sample metric values (key -> ``(N,)``).

    Returns:
        The distance, or None where undefined (no metric key, NaN).
    """
    if not values_a:
        return None
    return _json_float(frechet_distance(metric_matrix(values_a), metric_matrix(values_b)))


def _compare_metrics(
    values_a: dict[str, np.ndarray],
    values_b: dict[str, np.ndarray],
    reference_floor: Mapping[str, Any] | None,
    bins: int,
    histogram_bins: int,
) -> dict[str, Any]:
    """The ``"metrics"`` of :func:`compare_sets`: one :func:`_compare_metric` entry per key,
    with the noise floor's OA and KL beside them when a floor is given."""
    floor_metrics = (reference_floor or {}).get("metrics", {})
    metrics: dict[str, Any] = {}
    for key in values_a:
        metrics[key] = _compare_metric(values_a[key], values_b[key], bins, histogram_bins)
        if reference_floor is not None:
            floor = floor_metrics.get(key, {})
            metrics[key]["floor"] = {
                "overlapping_area": floor.get("overlapping_area"),
                "kl_divergence": floor.get("kl_divergence"),
            }
    return metrics


def _compare_metric(a: np.ndarray, b: np.ndarray, bins: int, histogram_bins: int) -> dict[str, Any]:
    """One metric key's ``(N_a,)`` and ``(N_b,)`` values compared: summaries, OA, KL, histogram.

    Returns:
        ``{"a": {"mean", "std", "n"}, "b": {...}, "overlapping_area", "kl_divergence",
        "histogram": {"edges", "a", "b"}}``, None where undefined.
    """
    oa, kl = _oa_kl(a, b, bins)
    return {
        "a": _summary(a),
        "b": _summary(b),
        "overlapping_area": _json_float(oa),
        "kl_divergence": _json_float(kl),
        "histogram": _histogram(a, b, histogram_bins),
    }
