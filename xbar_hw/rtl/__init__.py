"""Amaranth RTL of the PE tile (spec sections 1 and 3), Verilog generation and the cycle model.

Modules: :mod:`.params` (widths, limits), :mod:`.array` (behavioural crossbar),
:mod:`.adc`, :mod:`.shift_add`, :mod:`.saf`, :mod:`.mask`, :mod:`.pe` (the tile),
:mod:`.timing` (plain-Python cycle count, no Amaranth needed), :mod:`.driver` (host-side
beats for the tile's streams), :mod:`.generate` (Verilog, port map, README).

Nothing here is imported eagerly.
"""
