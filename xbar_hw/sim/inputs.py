"""The activation vectors a Program's layer receives, as the PE tile takes them.

:func:`program_inputs` runs images of the Program's data set (the one resolver,
:func:`xbar_hw.workload.resolve.program_data`) through the mapped network with the task's
masks and keeps the crossbar inputs x_u of the layer (:meth:`MappedLayer.input_rows` of its
quantized input, observed with :func:`xbar_hw.xbar.observe.observe_inputs`);
:func:`tile_inputs` cuts them into the tile's per-crossbar input vectors.
"""

from __future__ import annotations

import torch

from ..core.design import Design
from ..core.errors import XbarError
from ..workload.resolve import program_data
from ..xbar.convert import build_network
from ..xbar.layers import mapped_layers, set_column_masks
from ..xbar.observe import observe_inputs

#: images per forward pass
BATCH = 16
#: crossbar input rows observed per vector asked for (the sample is drawn from them)
OVERSAMPLE = 4


def masked_layer(view, masks: dict, layer: str):
    """The mapped layer ``layer`` of the mapped network of ``view`` with the task's
    ``masks`` loaded: (network, layer module)."""
    net = set_column_masks(build_network(view), masks or None)
    return net, next(m for m in mapped_layers(net) if m.lp.name == layer)


@torch.no_grad()
def layer_inputs(net, target, data, vectors: int, seed: int = 0) -> torch.Tensor:
    """Crossbar input vectors x_u [vectors, K] (int64) of the mapped layer ``target`` of
    ``net``: images of ``data``'s test split (a seeded order) through the network, the
    layer's ``input_rows`` of its quantized input; a seeded sample of them."""
    rows: list[torch.Tensor] = []

    def see(mod, x):
        rows.append(mod.input_rows(mod.quantize_input(x)).to(torch.int64))

    images = data.x_test if len(data.x_test) else data.x_train
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(int(seed)))
    want, got, i = OVERSAMPLE * vectors, 0, 0
    try:
        while got < want and i < len(images):
            observe_inputs(net, [target], see, images[order[i : i + BATCH]], BATCH, stop=True)
            got = sum(r.shape[0] for r in rows)
            i += BATCH
    except RuntimeError as exc:
        raise XbarError(f"program: its network does not run on {data.name} images {list(images.shape[1:])} "
                        f"({str(exc).splitlines()[0]})") from None
    allrows = torch.cat(rows)
    gen = torch.Generator().manual_seed(int(seed) + 1)
    if len(allrows) >= vectors:
        idx = torch.randperm(len(allrows), generator=gen)[:vectors]
    else:
        idx = torch.randint(0, len(allrows), (vectors,), generator=gen)
    return allrows[idx]


def program_inputs(program, task: str | None, view, masks: dict, layer: str, vectors: int, seed: int = 0):
    """``vectors`` crossbar input vectors of ``layer`` on the data ``task`` runs on:
    (the mapped layer module, x_u [vectors, K] int64, the data set's name)."""
    data, name = program_data(program, task)
    net, module = masked_layer(view, masks, layer)
    return module, layer_inputs(net, module, data, vectors, seed), name


def tile_inputs(design: Design, lp, used: int, x_u: torch.Tensor, first: int = 0) -> torch.Tensor:
    """The tile's inputs [V, N, R] (int64; signed designs: x = x_u - offset) from a layer's
    crossbar inputs x_u [V, K], for the PE whose first crossbar is ``first``: position n
    holds crossbar first + n, row block (first + n) % n_rb; rows past the layer's inputs,
    and unused positions, get x = 0."""
    d = design
    N, R = d.pe.crossbars, d.crossbar.rows
    n_rb, _ = lp.grid(d)
    x = torch.zeros(x_u.shape[0], N, R, dtype=torch.int64)
    for n in range(used):
        rb = (first + n) % n_rb
        r0, r1 = rb * R, min(lp.k_in, rb * R + R)
        x[:, n, : r1 - r0] = x_u[:, r0:r1].to(torch.int64) - d.input_offset
    return x
