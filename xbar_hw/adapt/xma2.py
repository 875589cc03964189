"""XMA² (Frontiers in Electronics 3:1032485, 2022): two tiers.

Tier 1, a PE-wise reprogram mask under a budget: at most floor(budget x backbone PEs) PEs
are chosen, and only their weights are re-learned and rewritten. The paper does not give
its selection rule; ours (a design choice, stated in docs/results.md): after one epoch
that trains the new head on the frozen backbone, one more pass over the task's training
data accumulates the squared gradient of the task loss with respect to every weight (the
diagonal Fisher information); a PE's score is the sum over the weights it holds, and the
highest-scoring PEs are selected. The selection epoch counts in the training time.

Tier 2, a column-wise shift scaling (XMA's mask) in the weight-frozen PEs, trained jointly
with the re-learned weights of the selected PEs and the head. Columns of the reprogrammed
PEs keep the code of exponent 0. Mask memory: b_m bits per column of the frozen PEs plus
one bit per backbone PE (the PE mask).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..core.program import Program
from ..workload.train import default_device
from .column import ShiftColumnMask, pass_code
from .method import Method, reprogrammed, train_loop
from .proxy import ProxyLayer, Retrain, crossbar_region


def crossbar_sums(values: torch.Tensor, lp, design) -> torch.Tensor:
    """Per-weight values [K, N] summed over each crossbar: [crossbars] in index order cb * n_rb + rb."""
    n_rb, n_cb = lp.grid(design)
    R, L = design.crossbar.rows, design.logical_cols
    v = F.pad(values, (0, n_cb * L - values.shape[1], 0, n_rb * R - values.shape[0]))
    return v.view(n_rb, R, n_cb, L).sum((1, 3)).t().reshape(-1)


def budget_pes(program: Program, budget: float) -> int:
    """How many PEs a budget allows: floor(budget x backbone PEs)."""
    return int(math.floor(budget * len(program.backbone_pes()) + 1e-9))


class XMA2(Method):
    name = "xma2"

    def __init__(self):
        self.selected: list[int] = []
        self.scores: dict[int, float] = {}

    @torch.no_grad()
    def _select(self, program, layers, pe_scores: dict[int, float], k: int) -> list[int]:
        ranked = sorted(pe_scores, key=lambda p: (-pe_scores[p], p))
        return sorted(ranked[:k])

    def pe_scores(self, program, layers: dict[str, ProxyLayer], net, data, cfg, device) -> dict[int, float]:
        """Tier 1: diagonal-Fisher score of every backbone PE on the task's training data."""
        d = program.design
        for proxy in layers.values():
            proxy.retrain = Retrain(proxy.w_int, torch.ones_like(proxy.w_int, dtype=torch.bool), d.weight_max)
        net.to(device).eval()
        fisher = {n: torch.zeros_like(p.w_int) for n, p in layers.items()}
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + 7)
        n = len(data.x_train)
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, cfg.batch):
            idx = perm[i : i + cfg.batch]
            x, y = data.x_train[idx].to(device), data.y_train[idx].to(device)
            net.zero_grad(set_to_none=True)
            F.cross_entropy(net(x), y).backward()
            for name, proxy in layers.items():
                fisher[name] += proxy.retrain.u.grad.detach() ** 2
        scores: dict[int, float] = {}
        for name, proxy in layers.items():
            lp = program.layers[name]
            per_xbar = crossbar_sums(fisher[name].cpu(), lp, d)
            for pe, s in zip(lp.crossbar_pe(d).tolist(), per_xbar.tolist()):
                scores[pe] = scores.get(pe, 0.0) + s
            proxy.retrain = None
        net.zero_grad(set_to_none=True)
        return scores

    def attach(self, program, layers, net, data, cfg):

        d = program.design
        pass_code(d, "XMA²")
        device = next(net.parameters()).device if any(True for _ in net.parameters()) else default_device()
        k = budget_pes(program, cfg.budget)
        self.selected = []
        if k > 0:
            head = net.get_submodule(program.head)
            # selection epoch: the new head learns on the frozen backbone, so that the
            # gradients that score the PEs come from a classifier of this task
            train_loop(net, data, [{"params": list(head.parameters()), "lr": cfg.lr_head}], 1, cfg,
                       f"xma2 select {data.name}", device, seed_offset=1)
            self.scores = self.pe_scores(program, layers, net, data, cfg, device)
            self.selected = self._select(program, layers, self.scores, k)
        sel = torch.tensor(self.selected, dtype=torch.int64)
        weights, scales = [], []
        for name, proxy in layers.items():
            lp = program.layers[name]
            chosen = torch.isin(lp.crossbar_pe(d), sel)
            if bool(chosen.any()):
                proxy.retrain = Retrain(proxy.w_int, crossbar_region(chosen, lp, d).to(proxy.w_int.device), d.weight_max)
                weights.append(proxy.retrain.u)
            if not bool(chosen.all()):
                proxy.column_mask = ShiftColumnMask(lp.n_crossbars, d, frozen=chosen).to(proxy.w_int.device)
                scales.append(proxy.column_mask.scale)
        self.chosen = {n: torch.isin(program.layers[n].crossbar_pe(d), sel) for n in layers}
        return [{"params": weights, "lr": cfg.lr_weight}, {"params": scales, "lr": cfg.lr_scale}]

    def parts(self, program, layers):
        masks = {}
        for name, proxy in layers.items():
            if proxy.column_mask is not None:
                masks[name] = proxy.column_mask.codes().cpu()
        levels = reprogrammed(program, layers, lambda p: p.retrain.integer() if p.retrain is not None else None)
        gated = sum(int((c == 0).sum()) for c in masks.values())
        return {"masks": masks, "levels": levels,
                "meta": {"budget_pes": len(self.selected), "pes_selected": self.selected, "gated_columns": gated,
                         "backbone_pes": len(program.backbone_pes()), "selection_epochs": 1 if self.selected else 0}}

    def mask_bits(self, program, layers):
        d = program.design
        frozen_xbars = sum(int((~self.chosen[n]).sum()) for n in layers)
        return frozen_xbars * d.logical_cols * d.mask.bits + len(program.backbone_pes())
