"""The LP container: named blocks of columns and rows over one sparse matrix.

An :class:`Lp` is ``minimize cost @ x + offset`` subject to ``row_lower <= A @ x <= row_upper``
and ``col_lower <= x <= col_upper``, where ``cost @ x + offset = -margin`` [USD]. Columns and rows
come in named :class:`Block` s (one per variable and per constraint family), so code reads a
solution by name: ``lp.cols["u"].take(x)`` is the ``[C, T]`` array of ``u``. :class:`LpBuilder`
collects blocks as COO triples and assembles the CSR matrix once (linopy's model/constraints
split, without the labels).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

INF = float("inf")


# --------------------------------------------------------------------------- the LP container


@dataclass(frozen=True)
class Block:
    """A block of variables (or rows) laid out C-order from ``start``.

    Attributes
    ----------
    name : str
    start : int
        First column (row) of the block.
    shape : tuple[int, ...]
    """

    name: str
    start: int
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def stop(self) -> int:
        return self.start + self.size

    def ids(self) -> np.ndarray:
        """Global column (row) numbers of the block, shaped like the block."""
        return np.arange(self.start, self.stop, dtype=np.int64).reshape(self.shape)

    def take(self, values: np.ndarray) -> np.ndarray:
        """This block's part of a full vector, shaped like the block."""
        return np.asarray(values[self.start : self.stop]).reshape(self.shape)


@dataclass(eq=False)
class Lp:
    """``minimize cost @ x + offset`` s.t. ``row_lower <= A x <= row_upper``, bounds on x.

    ``cost @ x + offset`` is minus the margin [USD]. ``cols`` and ``rows`` name the blocks;
    ``gpu_v`` and ``gpu_w`` give the GPU class behind each row of the ``v`` and ``w`` blocks.
    """

    cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    offset: float
    matrix: sp.csr_array
    row_lower: np.ndarray
    row_upper: np.ndarray
    cols: dict[str, Block]
    rows: dict[str, Block]
    gpu_v: np.ndarray
    gpu_w: np.ndarray
    ramp_sites: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    take_sites: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    hosted_classes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def n_cols(self) -> int:
        return len(self.cost)

    @property
    def n_rows(self) -> int:
        return len(self.row_lower)

    def family_of_row(self, row: int) -> tuple[str, tuple[int, ...]]:
        """Block name and index within the block of a global row number."""
        for b in self.rows.values():
            if b.start <= row < b.stop:
                return b.name, tuple(int(i) for i in np.unravel_index(row - b.start, b.shape))
        raise IndexError(row)


class LpBuilder:
    """Collects variable blocks and row blocks (as COO triples), then assembles an :class:`Lp`."""

    def __init__(self) -> None:
        self.cols: dict[str, Block] = {}
        self.rows: dict[str, Block] = {}
        self._cost: list[np.ndarray] = []
        self._lower: list[np.ndarray] = []
        self._upper: list[np.ndarray] = []
        self._n_cols = 0
        self._n_rows = 0
        self._r: list[np.ndarray] = []
        self._c: list[np.ndarray] = []
        self._v: list[np.ndarray] = []
        self._rl: list[np.ndarray] = []
        self._ru: list[np.ndarray] = []
        self.offset = 0.0

    def add_vars(self, name: str, shape: tuple[int, ...], lower=0.0, upper=INF) -> Block:
        """Add a block of variables with bounds (broadcast to ``shape``) and zero cost."""
        block = Block(name, self._n_cols, tuple(int(n) for n in shape))
        self.cols[name] = block
        self._n_cols += block.size
        self._cost.append(np.zeros(block.size))
        self._lower.append(np.broadcast_to(np.asarray(lower, float), block.shape).ravel().copy())
        self._upper.append(np.broadcast_to(np.asarray(upper, float), block.shape).ravel().copy())
        return block

    def _col_part(self, block: Block, parts: list[np.ndarray]) -> np.ndarray:
        return parts[list(self.cols).index(block.name)]

    def add_cost(self, block: Block, cost) -> None:
        """Add ``cost`` (broadcast to the block's shape) to the block's objective coefficients."""
        self._col_part(block, self._cost)[:] += np.broadcast_to(
            np.asarray(cost, float), block.shape
        ).ravel()

    def set_upper(self, block: Block, upper) -> None:
        """Set the upper bounds of a block (broadcast to its shape)."""
        self._col_part(block, self._upper)[:] = np.broadcast_to(
            np.asarray(upper, float), block.shape
        ).ravel()

    def add_rows(
        self,
        name: str,
        shape: tuple[int, ...],
        terms: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
        lower,
        upper,
    ) -> Block:
        """Add a block of rows ``lower <= sum of terms <= upper``.

        Each term is ``(row, col, coef)``: ``col`` global columns, ``row`` local rows of the
        block (flat C-order index) with as many entries as ``col``, ``coef`` broadcast to
        ``col``'s shape. Zero coefficients are dropped.
        """
        block = Block(name, self._n_rows, tuple(int(n) for n in shape))
        self.rows[name] = block
        for r, c, v in terms:
            c = np.asarray(c, dtype=np.int64)
            r = np.asarray(r, dtype=np.int64).reshape(c.shape)
            v = np.broadcast_to(np.asarray(v, dtype=float), c.shape).ravel()
            r, c = r.ravel(), c.ravel()
            keep = v != 0.0
            self._r.append(r[keep] + block.start)
            self._c.append(c[keep])
            self._v.append(v[keep])
        self._rl.append(np.broadcast_to(np.asarray(lower, float), block.shape).ravel())
        self._ru.append(np.broadcast_to(np.asarray(upper, float), block.shape).ravel())
        self._n_rows += block.size
        return block

    def finish(self, **extra) -> Lp:
        cat = np.concatenate
        rows = cat(self._r) if self._r else np.zeros(0, np.int64)
        cols = cat(self._c) if self._c else np.zeros(0, np.int64)
        vals = cat(self._v) if self._v else np.zeros(0)
        matrix = sp.csr_array(
            (vals, (rows.astype(np.int32), cols.astype(np.int32))),
            shape=(self._n_rows, self._n_cols),
        )
        return Lp(
            cost=cat(self._cost) if self._cost else np.zeros(0),
            col_lower=cat(self._lower) if self._lower else np.zeros(0),
            col_upper=cat(self._upper) if self._upper else np.zeros(0),
            offset=self.offset,
            matrix=matrix,
            row_lower=cat(self._rl).astype(float) if self._rl else np.zeros(0),
            row_upper=cat(self._ru).astype(float) if self._ru else np.zeros(0),
            cols=self.cols,
            rows=self.rows,
            **extra,
        )
