"""Exact IR-drop model of one crossbar's resistive network (architecture spec, section 4).

The network of an R x C crossbar:

* row ``r`` is driven at its left end: an ideal source ``V_r`` through ``r_source`` into row
  node ``(r, 0)``; row nodes ``(r, c)`` and ``(r, c + 1)`` are joined by ``r_row``;
* cell ``(r, c)`` joins row node ``(r, c)`` to column node ``(r, c)`` with conductance
  ``G[r, c]``;
* column nodes ``(r, c)`` and ``(r + 1, c)`` are joined by ``r_col``; column ``c`` leaves at
  its bottom, column node ``(R - 1, c)`` through ``r_sense`` to ground (the sense amplifier's
  virtual ground). The column current is the current through ``r_sense``.

Units: siemens, volts, ohms, amperes. A resistance of 0 is an ideal wire: the nodes it joins
are merged (or pinned to the source / ground); no tiny resistance is substituted.

The network is linear, so ``I = G_eff^T V`` for an effective conductance matrix ``G_eff``
that is solved once per crossbar (:func:`effective_conductance`, module ``exact``).
:func:`column_currents` and :func:`node_voltages` (module ``nodal``) solve the whole nodal
system directly with a sparse LU instead; the two paths share no code beyond the input
checks (module ``checks``), so each checks the other. :func:`write_netlist` (module
``netlist``) writes the same network for ngspice.
"""

from __future__ import annotations

from .exact import effective_conductance, effective_conductances
from .netlist import write_netlist
from .nodal import column_currents, node_voltages

__all__ = [
    "column_currents",
    "effective_conductance",
    "effective_conductances",
    "node_voltages",
    "write_netlist",
]
