"""Amaranth RTL of the PE tile (spec sections 1 and 3) and its Verilog generation; the
cycle count it takes is :mod:`xbar_hw.core.cycles`'s.

Modules: :mod:`.params` (widths, limits; plain Python), :mod:`.array` (the behavioural
crossbar in Amaranth), :mod:`.macro` (the crossbar as a black-box macro and its Verilog
model), :mod:`.adc`, :mod:`.shift_add`, :mod:`.saf`, :mod:`.mask`, :mod:`.streams` (the
four streams' payload layouts and signatures, the config targets), :mod:`.pe` (the tile),
:mod:`.driver` (host-side beats for the tile's streams), :mod:`.generate` (Verilog, port
map, README, statistics).

Nothing here is imported eagerly.
"""
