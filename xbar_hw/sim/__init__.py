"""Co-simulation of the generated PE tile (cocotb 2.1 on Icarus or Verilator) against the
torch golden model.

- :mod:`.cosim`: :func:`xbar_hw.sim.cosim.cosim` (load a PE, stream MVMs, compare
  bit-exactly, count cycles);
- :mod:`.runner`: Verilog into a build folder, the simulator build and run (cocotb_tools.runner);
- :mod:`.xbar_pe_tb`: the PE tile's cocotb testbench (runs inside the simulator);
- :mod:`.xbar_streams`: valid/ready stream drivers and monitors with queues;
- :mod:`.xbar_layout`: payload packing from the generated port map;
- :mod:`.commands`: the ``rtl`` and ``cosim`` subcommands of the CLI.

Nothing is imported here: the command parsers load without torch or cocotb.
"""
