"""Block-circulant layers (CirCNN, Ding et al. MICRO 2017), the networks ReBoc maps.

Layout: the weight matrix as the mapper unfolds it, W[K, N] (K inputs: ``in_features``,
or ``in_channels * kh * kw`` in (c_in, kh, kw) order for a conv; N outputs), is cut into
b x b blocks; block (i, j) is circulant and defined by one vector v[i, j] of b numbers:

    W[i*b + r, j*b + c] = v[i, j, (c - r) mod b]      (r: input, c: output within the block)

so that output c of block column j is the circular convolution
y[j*b + c] = sum_i sum_r x[i*b + r] * v[i, j, (c - r) mod b]. The layers keep the vectors
(K * N / b numbers instead of K * N) and train through the expanded matrix.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..core.errors import XbarError

#: the block sizes ``train --circulant`` offers
BLOCK_SIZES = (4, 8, 16)


def circulant_index(b: int, device=None) -> torch.Tensor:
    """[b, b] int64: entry [r, c] = (c - r) mod b, the vector element at block row r, column c."""
    r = torch.arange(b, device=device)
    return (r.view(1, b) - r.view(b, 1)) % b


def expand_vectors(vectors: torch.Tensor) -> torch.Tensor:
    """Vectors [p, q, b] -> the block-circulant matrix W[p*b, q*b] (rows inputs, columns outputs)."""
    p, q, b = vectors.shape
    blocks = vectors[:, :, circulant_index(b, vectors.device)]  # [p, q, r, c]
    return blocks.permute(0, 2, 1, 3).reshape(p * b, q * b)


def project_vectors(w: torch.Tensor, b: int) -> torch.Tensor:
    """The circulant vectors [K/b, N/b, b] nearest (least squares) to W[K, N]: each v[i, j, d]
    is the mean of the entries of block (i, j) on its d-th cyclic diagonal."""
    K, N = w.shape
    blocks = w.reshape(K // b, b, N // b, b).permute(0, 2, 1, 3)  # [p, q, r, c]
    idx = circulant_index(b, w.device)
    out = torch.zeros(K // b, N // b, b, dtype=w.dtype, device=w.device)
    return out.index_add_(2, idx.reshape(-1), blocks.reshape(K // b, N // b, b * b)) / b


def check_block(name: str, k_in: int, n_out: int, b: int) -> None:
    """One line unless block size ``b`` divides both the inputs K and the outputs N."""
    if b < 2 or k_in % b or n_out % b:
        raise XbarError(f"circulant: layer {name} is {k_in} x {n_out} (inputs x outputs); block size {b} "
                        f"does not divide it; allowed: a block size >= 2 dividing both")


def initial_vectors(k_in: int, n_out: int, block: int, init: bool) -> torch.Tensor:
    """The block vectors [K/b, N/b, b] of a new layer: uniform in +-1/sqrt(K) from torch's
    global generator (as nn.Linear), or zeros without a draw (``init=False``: the caller
    sets them, and the generator's state stays as it was)."""
    v = torch.zeros(k_in // block, n_out // block, block)
    if init:
        bound = 1.0 / math.sqrt(k_in)
        v.uniform_(-bound, bound)
    return v


class CirculantLayer(nn.Module):
    """What the block-circulant layers share: the b x b blocks' vectors [K/b, N/b, b] (the
    trained parameters), the bias, and the expanded W[K, N]."""

    def __init__(self, kind: str, k_in: int, n_out: int, block: int, bias: bool, init: bool):
        super().__init__()
        check_block(kind, k_in, n_out, block)
        self.block = block
        self.vectors = nn.Parameter(initial_vectors(k_in, n_out, block, init))
        self.bias = nn.Parameter(torch.zeros(n_out)) if bias else None

    def matrix(self) -> torch.Tensor:
        """W[K, N] (the mapper's layout)."""
        return expand_vectors(self.vectors)


class CirculantLinear(CirculantLayer):
    """A Linear layer whose W[K = in_features, N = out_features] is block-circulant."""

    def __init__(self, in_features: int, out_features: int, block: int, bias: bool = True, init: bool = True):
        super().__init__("linear", in_features, out_features, block, bias, init)
        self.in_features, self.out_features = in_features, out_features

    @property
    def weight(self) -> torch.Tensor:
        """The torch layout [N, K] of the expanded matrix."""
        return self.matrix().t()

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)


class CirculantConv2d(CirculantLayer):
    """A Conv2d (groups = 1, zero padding) whose unfolded W[K = c_in*kh*kw, N = c_out] is
    block-circulant (K in the mapper's (c_in, kh, kw) order)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, block: int, stride=1, padding=0,
                 dilation=1, bias: bool = True, init: bool = True):
        pair = (lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v))
        kernel_size = pair(kernel_size)
        super().__init__("conv", in_channels * kernel_size[0] * kernel_size[1], out_channels, block, bias, init)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.stride, self.padding, self.dilation = pair(stride), pair(padding), pair(dilation)

    @property
    def weight(self) -> torch.Tensor:
        """The torch layout [c_out, c_in, kh, kw] of the expanded matrix."""
        return self.matrix().t().reshape(self.out_channels, self.in_channels, *self.kernel_size)

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)


def unfolded_shape(m: nn.Module) -> tuple[int, int]:
    """(K, N) of a Linear or Conv2d as the mapper unfolds it."""
    if isinstance(m, (nn.Linear, CirculantLinear)):
        return m.in_features, m.out_features
    return m.in_channels * m.kernel_size[0] * m.kernel_size[1], m.out_channels


def circulant_from(m: nn.Module, b: int) -> nn.Module:
    """The block-circulant twin of a dense Linear / Conv2d; its vectors are the projection of
    the dense weights times sqrt(b) (the projection averages b entries; the factor keeps the
    initial weights' spread), so the twin's start is as seeded as the dense model's."""
    K, N = unfolded_shape(m)
    w = m.weight.detach().reshape(N, -1).t()
    if isinstance(m, nn.Linear):
        out = CirculantLinear(K, N, b, bias=m.bias is not None, init=False)
    else:
        out = CirculantConv2d(m.in_channels, N, m.kernel_size, b, m.stride, m.padding, m.dilation, m.bias is not None,
                              init=False)
    with torch.no_grad():
        out.vectors.copy_(project_vectors(w, b) * math.sqrt(b))
        if m.bias is not None:
            out.bias.copy_(m.bias.detach())
    return out


def make_circulant(model: nn.Module, b: int, layers: list[str] | None = None) -> nn.Module:
    """``model`` with each Linear / Conv2d (groups = 1, zero padding) that ``b`` divides
    (K and N multiples of b) replaced by its block-circulant twin, in place; ``layers``
    names the layers to convert instead (each must be divisible: one line otherwise).
    Deterministic (no random draw). Raises a one-line XbarError when no layer is divisible."""
    if b not in BLOCK_SIZES:
        raise XbarError(f"circulant: got block size {b!r}; allowed: one of {', '.join(map(str, BLOCK_SIZES))}")
    chosen = []
    for name, m in list(model.named_modules()):
        dense = isinstance(m, nn.Linear) or (isinstance(m, nn.Conv2d) and m.groups == 1 and m.padding_mode == "zeros")
        if not dense or (layers is not None and name not in layers):
            continue
        K, N = unfolded_shape(m)
        if layers is not None:
            check_block(name, K, N, b)
        elif K % b or N % b:
            continue
        model.set_submodule(name, circulant_from(m, b))
        chosen.append(name)
    missing = [n for n in (layers or []) if n not in chosen]
    if missing:
        raise XbarError(f"circulant: layer {missing[0][:100]!r} is not a Linear or Conv2d (groups = 1, zero padding) of "
                        f"{type(model).__name__}; allowed: the names of such layers")
    if not chosen:
        raise XbarError(f"circulant: block size {b} divides no Linear or Conv2d layer of {type(model).__name__} "
                        f"(inputs K and outputs N must both be multiples of it)")
    return model


def circulant_blocks(model: nn.Module) -> dict[str, int]:
    """{layer name: block size} of the model's block-circulant layers."""
    return {name: m.block for name, m in model.named_modules() if isinstance(m, CirculantLayer)}


def densify(model: nn.Module) -> tuple[nn.Module, dict[str, int]]:
    """A copy of ``model`` with every block-circulant layer expanded into a plain Linear /
    Conv2d of the same weights (what the mapper and torch.fx see), and {name: block size}."""
    dense = copy.deepcopy(model)
    blocks = circulant_blocks(dense)
    for name in blocks:
        m = dense.get_submodule(name)
        K, N = unfolded_shape(m)
        if isinstance(m, CirculantLinear):
            plain = nn.Linear(K, N, bias=m.bias is not None)
        else:
            plain = nn.Conv2d(m.in_channels, N, m.kernel_size, m.stride, m.padding, m.dilation, bias=m.bias is not None)
        with torch.no_grad():
            plain.weight.copy_(m.weight.detach())
            if m.bias is not None:
                plain.bias.copy_(m.bias.detach())
        dense.set_submodule(name, plain)
    return dense, blocks


def parameter_count(model: nn.Module) -> int:
    """Trainable numbers of ``model`` (a circulant layer counts its vectors, not its expansion)."""
    return sum(p.numel() for p in model.parameters())
