"""The interface of a non-ideal effect unit and the per-layer state the units change.

An :class:`Effect` is built from its config block (``xbar_hw.core.nonideal``) and the chip's
Design and acts at one *stage* of a chip's life:

* ``program`` (manufacture and programming): changes what the cells hold, the stored levels
  and the programmed levels ``lv`` (stuck-at faults, programming variation); draws from the
  chip's manufacturing generator;
* ``wire``: turns the conductances G into the effective matrix W_eff (IR drop);
* ``read``: adds a :class:`ReadTerm` (the variance a read adds to a column sum) and may shift
  W_eff by a mean (random telegraph noise).

Every unit implements ``apply(cells)`` on one layer's :class:`LayerCells`; the Chip
(``xbar_hw.xbar.analog``) applies the active units in registry order, layer by layer, and
turns the result into a :class:`LayerChip` the engine reads. Everything is in *level units*:
conductances are ``G = g_off + lv * dG`` with dG = ``design.conductance_step``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import torch

from ...core.design import Design
from ...core.layer import LayerProgram

STAGES = ("program", "wire", "read")


@dataclass(frozen=True)
class ReadTerm:
    """What one read-noise effect adds to the variance of a column sum S, per read cycle,
    sample and column, in level units squared (a current variance divided by (dG v_unit)^2):

        column[c] + per_s * max(S, 0) + per_digit * sum_r d_r + sum_r d_r^2 * cell[r, c]

    As a unit gives it, per crossbar: ``column`` [n, C], ``cell`` [n, R, C] (None: no such
    part). As the engine uses it (:meth:`laid_out`): ``column`` [n_rb, N*2s] by row block and
    ``cell`` [K, N*2s] in plane order.
    """

    effect: str
    column: torch.Tensor | None = None
    per_s: float = 0.0
    per_digit: float = 0.0
    cell: torch.Tensor | None = None

    def laid_out(self, columns: Callable, cells: Callable) -> ReadTerm:
        """The term in the engine's layout: ``columns`` maps [n, C] and ``cells`` [n, R, C]."""
        return replace(self, column=None if self.column is None else columns(self.column),
                       cell=None if self.cell is None else cells(self.cell))

    def add_variance(self, var: torch.Tensor, S: torch.Tensor, x: torch.Tensor, rb: int, rows: slice) -> None:
        """Add this term's variance for row block ``rb`` (its rows ``rows`` of the plane
        matrix) to ``var`` [T*M, N*2s], given the column sums S and the digits x [T*M, rows]."""
        if self.column is not None:
            var += self.column[rb]
        if self.per_s or self.per_digit:
            var += self.per_s * S.clamp(min=0) + self.per_digit * x.sum(1, keepdim=True)
        if self.cell is not None:
            var += torch.mm(x * x, self.cell[rows])


@dataclass
class LayerChip:
    """One layer's crossbars on one chip, as the engine reads them.

    stored: uint8 [n, R, C] levels the cells actually hold (stuck cells at their level);
    faults: int64 [f, 4] the profiled fault table (crossbar, row, physical column, level);
    w_eff: [n, R, C] effective levels (float64), None when they equal ``stored``;
    reads: the read-noise terms, in unit order;
    correction: int64 [K, N] = w - w_stored, added digitally (None: no correction), zero
    for the faulty weights past a crossbar's fault-table depth;
    overflow: {crossbar: faulty weights its fault table could not hold} (uncorrected).
    """

    stored: torch.Tensor
    faults: torch.Tensor
    w_eff: torch.Tensor | None = None
    reads: tuple[ReadTerm, ...] = ()
    correction: torch.Tensor | None = None
    overflow: dict = field(default_factory=dict)

    def read_term(self, effect: str) -> ReadTerm | None:
        """The read term of the named effect (``thermal``, ``shot``, ``rtn``), or None."""
        return next((t for t in self.reads if t.effect == effect), None)


class LayerCells:
    """One layer's crossbars while a chip is made: the state the effect units change.

    Given: ``name``, ``lp`` (its LayerProgram), ``levels`` (intended, uint8 [n, R, C]),
    ``design``, ``gen`` (the chip's manufacturing generator: units draw from it in registry
    order, layer by layer) and ``cache`` (IR-drop solves shared between chips, or None).

    State: ``stored`` (levels the cells hold), ``stuck`` (bool [n, R, C] or None), ``faults``
    (int64 [f, 4]), ``correction`` (int64 [K, N] or None), ``overflow`` ({crossbar: faulty
    weights past its fault table}); ``lv`` (float64 [n, R, C + 1]: the
    programmed levels with the reference column of level-0 (G_off) cells appended as column
    C), ``exact`` (True while ``lv`` holds the integer stored levels); ``w_eff`` (set by a
    wire unit, or None: ideal wires); ``reads`` (the read terms).
    """

    def __init__(self, name: str, lp: LayerProgram, design: Design, gen: torch.Generator, cache: dict | None):
        self.name, self.lp, self.design, self.gen, self.cache = name, lp, design, gen, cache
        self.levels = lp.levels
        self.stuck = self.correction = self.w_eff = None
        self.overflow: dict[int, int] = {}
        self.faults = torch.zeros(0, 4, dtype=torch.int64)
        self.reads: list[ReadTerm] = []
        self.hold(self.levels, None)

    @property
    def cols(self) -> int:
        return self.levels.shape[-1]

    # ------------------------------------------------------------------ program stage
    def hold(self, stored: torch.Tensor, stuck: torch.Tensor | None) -> None:
        """The cells hold ``stored`` (``stuck``: the cells that cannot be programmed);
        the programmed levels restart from them."""
        self.stored, self.stuck = stored, stuck
        n, R, _ = stored.shape
        self.lv = torch.cat([stored.to(torch.float64), torch.zeros(n, R, 1, dtype=torch.float64)], -1)
        self.exact, self._g = True, None

    def vary(self, delta: torch.Tensor) -> None:
        """Add ``delta`` [n, R, C + 1] (level units) to the programmed levels."""
        self.lv = self.lv + delta
        self.exact, self._g = False, None

    # ------------------------------------------------------------------ wire and read stages
    @property
    def g(self) -> torch.Tensor:
        """Conductances (S) [n, R, C + 1]: g_off + lv * dG, kept positive."""
        if self._g is None:
            g_off = self.design.device.g_off
            self._g = (g_off + self.lv * self.design.conductance_step).clamp(min=g_off * 1e-3)
        return self._g

    def matrix(self) -> torch.Tensor:
        """W_eff so far: the wire unit's, or the programmed levels minus the reference column."""
        if self.w_eff is not None:
            return self.w_eff
        C = self.cols
        return self.lv[..., :C] - self.lv[..., C:]

    def finish(self) -> LayerChip:
        # None tells the engine the cells are exactly the stored integer levels
        w_eff = None if self.w_eff is None and self.exact else self.matrix()
        return LayerChip(self.stored, self.faults, w_eff, tuple(self.reads), self.correction, self.overflow)


@dataclass
class ReadNoise:
    """The chip's read-noise stream: one generator for every layer and read."""

    gen: torch.Generator
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))


class Effect:
    """One non-ideal effect: built from its config block, applied to each layer's cells.

    Class attributes: ``name`` (its name in reports), ``block`` (the field of NonidealSpec
    that holds its config), ``stage`` (one of STAGES). A new effect is a subclass in a module
    of its own and one line in the registry (``xbar_hw.xbar.effects.EFFECTS``).
    """

    name: ClassVar[str]
    block: ClassVar[str]
    stage: ClassVar[str]

    def __init__(self, config: Any, design: Design):
        self.config, self.design = config, design

    #: the config fields that turn the effect on (any of them true or non-zero)
    switches: tuple[str, ...] = ()

    @classmethod
    def active(cls, config: Any) -> bool:
        """True when ``config`` turns the effect on: one of its ``switches`` is set."""
        return any(bool(getattr(config, f)) for f in cls.switches)

    def apply(self, cells: LayerCells) -> None:
        """Change one layer's ``cells`` (see the stage)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"
