"""The library layer under the ``xbar-hw`` command line: each command's work as plain
functions with keyword arguments (no argparse anywhere), for the CLI, the scripts and the
notebooks alike.

- :mod:`.nonideal`: a design with non-ideal overrides (stuck-at faults, IR drop, noise,
  variation, chip seed, read frequency) applied.
- :mod:`.workloads`: the data an evaluation or a cost estimate runs on.
- :mod:`.models`: train a float model; map a model onto a design (a Program).
- :mod:`.evaluate`: float, quantized and mapped accuracy; accuracy over chip instances.
- :mod:`.ir_drop`: the exact IR drop of one random crossbar.
- :mod:`.nia`: Noise Injection Adaption against IR drop, with chips before and after.
- :mod:`.adapting`: the shared backbone, a task's adaptation, the cells two views differ in.
- :mod:`.costs`: a design's and a Program's energy; the multi-task cost report.
- :mod:`.hardware`: the PE tile's Verilog, its statistics and lint.
- :mod:`.demo`: the end-to-end demo, step by step.
"""
