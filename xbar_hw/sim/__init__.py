"""Co-simulation of the generated PE tile (cocotb 2.1 on Icarus or Verilator) against the
torch golden model.

- :mod:`.cosim`: :func:`xbar_hw.sim.cosim.cosim`, the orchestration (load a PE, stream
  MVMs, compare bit-exactly, count cycles);
- :mod:`.loads`: what the tile holds (:class:`~.loads.TileLoad`): a seeded random load,
  a Program's layer as a task sees it, or a fault-free load given by hand;
- :mod:`.inputs`: a Program layer's activation vectors, cut into the tile's inputs;
- :mod:`.golden_pe`: the golden PE, the expected output beats of a load;
- :mod:`.script`: the ``prog``/``cfg`` beats of a load and the testbench's script;
- :mod:`.compare`: beats, cycles, counters, reset and monitors against what is expected;
  the golden model against the mapped layer; what a load covers;
- :mod:`.runner`: Verilog into a build folder, the simulator build and run (cocotb_tools.runner);
- :mod:`.reboc`: ReBoc's rotating input register against the golden model's input order;
- :mod:`.reboc_pe`: a ReBoc-mapped layer on the ReBoc PE (the tile behind the rotators),
  bit for bit, with its cycles;
- :mod:`.xbar_pe_tb`: the PE tile's cocotb testbench (runs inside the simulator);
- :mod:`.xbar_reboc_tb`: the rotator's cocotb testbench;
- :mod:`.xbar_streams`: valid/ready stream drivers and monitors on one stream base class;
- :mod:`.xbar_layout`: payload packing from the generated port map;
- :mod:`.commands`: the ``rtl`` and ``cosim`` subcommands of the CLI.

Nothing is imported here: the command parsers load without torch or cocotb.
"""
