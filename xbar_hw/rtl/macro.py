"""The crossbar array as a black-box macro: the PE tile instantiates each crossbar as a
named Verilog module (:class:`CrossbarMacro`, an Amaranth ``Instance``) whose ports carry
the integer contract of spec section 3, and :func:`macro_verilog` writes a behavioural
Verilog model of that module for simulation.

The macro's contract (module ``xbar_array_<design>``; the same ports and semantics as the
Amaranth model :class:`xbar_hw.rtl.array.CrossbarArray`, whose docstring is the
reference; a user may replace the model by their own module with these ports):

  parameters ROWS, COLS, CELL_BITS, DAC_BITS, ADCS, ROW_BITS, COL_BITS, SUM_BITS, SETTLE
             (the geometry; the generated model's defaults are the design's) and INDEX
             (the crossbar's position in the PE, 0 .. N-1)
  clk, rst   the tile's clock and synchronous active-high reset
  prog_row, prog_col, prog_level, prog_we
             programming port: at a clock edge where ``prog_we`` is high the cell
             (prog_row, prog_col) takes ``prog_level`` (also during reset)
  digits     [ROWS * DAC_BITS]: digit of row r at bits r*DAC_BITS; may change only at an
             edge where ``apply`` is high
  apply      new digits on the rows from this edge on: their settle of SETTLE cycles starts
  sample     the sample-and-hold captures the column sums at this edge: of the applied
             digits if they were applied at least SETTLE edges before, else of the last
             digits that had settled (zero after reset)
  col        [ADCS * COL_BITS]: the physical column each ADC converts
  sums       [ADCS * SUM_BITS]: the held sum of column col[a] (0 for a column >= COLS)
  writes, changes
             32-bit counters: write strobes since reset, writes that changed the level
             (the endurance count); a write outside the array changes nothing

Cell levels are not reset (ReRAM is non-volatile) and power on at level 0. Backdoor load:
with the plusarg ``+xbar_cells=DIR`` the model reads, at time 0, ``DIR/xbar<INDEX>.hex``
(``$readmemh``: ROWS lines, line r the row's levels, column c at bits c*CELL_BITS) instead
of starting from level 0; the counters do not count it (it is no write).

The generated model is written for simulation speed, not for synthesis: each row is one
wide vector with every cell zero-extended to SUM_BITS bits, so that the column sums of a
sample are ROWS * DAC_BITS wide additions (a field never carries into the next: each
holds at most S_max < 2^SUM_BITS), done in one procedural block only when a sample is
taken; an ADC's sum is a part-select of the held vector.
"""

from __future__ import annotations

import re

from amaranth.hdl import ClockSignal, Instance, Module, ResetSignal
from amaranth.lib import wiring

from ..core.design import Design
from ..core.errors import field_error
from .array import array_signature
from .params import component_params, rtl_params

#: plusarg naming the folder of the backdoor load's hex files
PLUSARG = "xbar_cells"


def design_ident(design: Design) -> str:
    """The design's name as a Verilog identifier (non-identifier characters become ``_``)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", design.name)


def macro_name(design: Design) -> str:
    return "xbar_array_" + design_ident(design)


def macro_parameters(design: Design) -> dict[str, int]:
    """The macro's geometry parameters (the module's defaults and the instances' values)."""
    p = rtl_params(design)
    return {"ROWS": p.rows, "COLS": p.cols, "CELL_BITS": p.cell_bits, "DAC_BITS": p.dac_bits, "ADCS": p.adcs,
            "ROW_BITS": p.row_bits, "COL_BITS": p.col_bits, "SUM_BITS": p.sum_bits, "SETTLE": p.settle}


class CrossbarMacro(wiring.Component):
    """Crossbar ``index`` of a PE as an instance of the black-box macro (module docstring);
    the same signature as :class:`xbar_hw.rtl.array.CrossbarArray`."""

    BEHAVIOURAL = True

    def __init__(self, design: Design, index: int = 0):
        self.design = design
        self.params = p = component_params(self, design)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < p.crossbars:
            self._MustUse__used = True
            raise field_error("index", index, f"an integer in [0, {p.crossbars - 1}] (pe.crossbars - 1)")
        self.index = index
        super().__init__(array_signature(p))

    def elaborate(self, platform):
        m = Module()
        params = {f"p_{k}": v for k, v in macro_parameters(self.design).items()}
        m.submodules.macro = Instance(
            macro_name(self.design), **params, p_INDEX=self.index,
            i_clk=ClockSignal(), i_rst=ResetSignal(),
            i_prog_row=self.prog.row, i_prog_col=self.prog.col, i_prog_level=self.prog.level,
            i_prog_we=self.prog_we, i_digits=self.digits.as_value(), i_apply=self.apply, i_sample=self.sample,
            i_col=self.col.as_value(), o_sums=self.sums.as_value(), o_writes=self.writes, o_changes=self.changes)
        return m


def cell_image(levels, design: Design) -> str:
    """The backdoor load's hex file of one crossbar: ``levels`` [R][C] (nested lists or a
    tensor), one line per row, column c at bits c*cell_bits."""
    b = design.crossbar.cell_bits
    digits = (design.crossbar.cols * b + 3) // 4
    lines = []
    for row in levels:
        word = 0
        for c, lv in enumerate(row):
            word |= int(lv) << (c * b)
        lines.append(f"{word:0{digits}x}")
    return "\n".join(lines) + "\n"


def macro_verilog(design: Design) -> str:
    """The behavioural Verilog model of the macro (module docstring), deterministic.

    Long because it is one Verilog module written out."""
    params = macro_parameters(design)
    plist = ",\n".join(f"    parameter {k} = {v}" for k, v in params.items())
    return f"""// Behavioural model of the crossbar macro {macro_name(design)} (design {design.name}):
// simulation only, never synthesized. Generated by xbar_hw.rtl.macro; the port contract is
// in README.md beside this file. Verilog-2005.
/* verilator lint_off BLKSEQ */
/* verilator lint_off WIDTHEXPAND */
/* verilator lint_off WIDTHTRUNC */
module {macro_name(design)} #(
{plist},
    parameter INDEX = 0
) (
    input  wire                         clk,
    input  wire                         rst,
    input  wire [ROW_BITS-1:0]          prog_row,
    input  wire [COL_BITS-1:0]          prog_col,
    input  wire [CELL_BITS-1:0]         prog_level,
    input  wire                         prog_we,
    input  wire [ROWS*DAC_BITS-1:0]     digits,
    input  wire                         apply,
    input  wire                         sample,
    input  wire [ADCS*COL_BITS-1:0]     col,
    output wire [ADCS*SUM_BITS-1:0]     sums,
    output reg  [31:0]                  writes,
    output reg  [31:0]                  changes
);
    // row r: its COLS cells, cell c zero-extended into bits [c*SUM_BITS +: SUM_BITS]
    reg [COLS*SUM_BITS-1:0]  cells [0:ROWS-1];
    reg [COLS*SUM_BITS-1:0]  held;   // the sample-and-hold: column c's sum at c*SUM_BITS
    reg [ROWS*DAC_BITS-1:0]  stale;  // the last digits that had settled
    reg [31:0]               age;    // clock edges since apply (saturates at SETTLE - 1)
    wire                     settled = age + 32'd1 >= SETTLE;
    wire [ROWS*DAC_BITS-1:0] live = settled ? digits : stale;  // what a sample captures

    reg [COLS*SUM_BITS-1:0]  acc, row;
    reg [SUM_BITS-1:0]       old;
    reg                      in_array;
    integer                  r, b;
    always @(posedge clk) begin
        in_array = prog_row < ROWS && prog_col < COLS;
        old = 0;
        if (prog_we && in_array) begin  // cells are written during reset too
            row = cells[prog_row];
            old = row[prog_col*SUM_BITS +: SUM_BITS];
            row[prog_col*SUM_BITS +: SUM_BITS] = prog_level;
            cells[prog_row] <= row;
        end
        if (rst) begin
            writes <= 0;
            changes <= 0;
            age <= 0;
            stale <= 0;
            held <= 0;
        end else begin
            if (prog_we) begin
                writes <= writes + 32'd1;
                if (in_array && old != prog_level)
                    changes <= changes + 32'd1;
            end
            stale <= live;
            if (apply)
                age <= 0;
            else if (!settled)
                age <= age + 32'd1;
            if (sample) begin  // the column sums, only when a sample is taken
                acc = 0;
                for (r = 0; r < ROWS; r = r + 1)
                    for (b = 0; b < DAC_BITS; b = b + 1)
                        if (live[r*DAC_BITS + b])
                            acc = acc + (cells[r] << b);
                held <= acc;
            end
        end
    end

    genvar a;
    generate
        for (a = 0; a < ADCS; a = a + 1) begin : adc
            wire [COL_BITS-1:0] sel = col[a*COL_BITS +: COL_BITS];
            assign sums[a*SUM_BITS +: SUM_BITS] = sel < COLS ? held[sel*SUM_BITS +: SUM_BITS] : {{SUM_BITS{{1'b0}}}};
        end
    endgenerate

    // power-on: every cell at level 0, or the backdoor load of +{PLUSARG}=DIR
    reg [8*1024-1:0]           folder, file;
    reg [COLS*CELL_BITS-1:0]   image [0:ROWS-1];
    reg [COLS*SUM_BITS-1:0]    line;
    integer                    i, j, fd;
    initial begin
        writes = 0;
        changes = 0;
        age = 0;
        stale = 0;
        held = 0;
        for (i = 0; i < ROWS; i = i + 1)
            cells[i] = 0;
        if ($value$plusargs("{PLUSARG}=%s", folder)) begin
            $sformat(file, "%0s/xbar%0d.hex", folder, INDEX);
            fd = $fopen(file, "r");
            if (fd == 0) begin
                $display("error: crossbar macro %0d: cannot open %0s", INDEX, file);
                $finish;
            end
            $fclose(fd);
            $readmemh(file, image);
            for (i = 0; i < ROWS; i = i + 1) begin
                line = 0;
                for (j = 0; j < COLS; j = j + 1)
                    line[j*SUM_BITS +: SUM_BITS] = image[i][j*CELL_BITS +: CELL_BITS];
                cells[i] = line;
            end
        end
    end
endmodule
/* verilator lint_on WIDTHTRUNC */
/* verilator lint_on WIDTHEXPAND */
/* verilator lint_on BLKSEQ */
"""
