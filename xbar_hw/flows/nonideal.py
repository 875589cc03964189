"""A design with non-ideal overrides applied: what ``--sa0``, ``--r-wire``, ``--noise`` ...
of ``xbar-hw evaluate`` and ``xbar-hw nia`` do to the design's ``nonideal``, ``device`` and
``corrector`` blocks."""

from __future__ import annotations

from ..core.design import Design


def with_nonideal(design: Design, *, sa0: float | None = None, sa1: float | None = None,
                  sa0_state: str | None = None, fault_map: str | None = None, saf_correction: bool = True,
                  ir_drop: bool = False, r_wire: float | None = None, thermal: bool = False, shot: bool = False,
                  rtn: bool = False, noise: bool = False, variation: float | None = None,
                  chip_seed: int | None = None, read_frequency: float | None = None,
                  fault_entries: int | str | None = None) -> Design:
    """``design`` with the given overrides (validated; unchanged when none is given).

    ``sa0``/``sa1``: stuck-at rates in [0, 1] (one given: the other is 0); ``sa0_state``:
    "on" or "off", the conductance SA0 pins; ``fault_map``: a safetensors fault map;
    ``saf_correction``: False turns the digital SAF correction off; ``ir_drop``: solve IR
    drop exactly; ``r_wire``: wire resistance per segment on rows and columns, ohms (implies
    ``ir_drop``); ``thermal``/``shot``/``rtn``: read noise sources (``noise``: all three);
    ``variation``: programming variation, sigma in level steps; ``chip_seed``: seed of the
    chip instances and the read noise; ``read_frequency``: Hz (the noise bandwidth);
    ``fault_entries``: the depth of each crossbar's fault table (``corrector.entries``:
    "auto" or an integer).
    """
    ni: dict = {}
    dev: dict = {}
    if sa0 is not None or sa1 is not None:
        ni["saf"] = {"sa0": sa0 or 0.0, "sa1": sa1 or 0.0}
    if sa0_state:
        ni.setdefault("saf", {})["sa0_state"] = sa0_state
    if fault_map:
        ni.setdefault("saf", {})["map"] = fault_map
    if not saf_correction:
        ni.setdefault("saf", {})["correct"] = False
    if ir_drop or r_wire is not None:
        ni["ir_drop"] = {"enabled": True}
        if r_wire is not None:
            ni["ir_drop"].update(r_row=r_wire, r_col=r_wire)
    for source, on in (("thermal", thermal), ("shot", shot), ("rtn", rtn)):
        if on or noise:
            ni.setdefault("noise", {})[source] = True
    if variation is not None:
        ni["variation"] = {"sigma": variation}
    if chip_seed is not None:
        ni["seed"] = chip_seed
    if read_frequency is not None:
        dev["read_frequency"] = read_frequency
    corrector = {} if fault_entries is None else {"entries": fault_entries}
    blocks = {k: v for k, v in (("nonideal", ni), ("device", dev), ("corrector", corrector)) if v}
    return design.replace(**blocks) if blocks else design
