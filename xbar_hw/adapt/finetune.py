"""Fine-tune: every weight (and digital bias) of the backbone re-learned per task, at the
backbone's weight scales (the accuracy ceiling; a task switch rewrites every cell whose
level changes)."""

from __future__ import annotations

import torch
from torch import nn

from .method import Method, reprogrammed
from .proxy import Retrain


class FineTune(Method):
    name = "finetune"

    def attach(self, program, layers, net, data, cfg):
        weights, biases = [], []
        for proxy in layers.values():
            proxy.retrain = Retrain(proxy.w_int, torch.ones_like(proxy.w_int, dtype=torch.bool), program.design.weight_max)
            proxy.bias_delta = nn.Parameter(torch.zeros_like(proxy.bias))
            weights.append(proxy.retrain.u)
            biases.append(proxy.bias_delta)
        return [{"params": weights, "lr": cfg.lr_weight}, {"params": biases, "lr": cfg.lr_head}]

    def parts(self, program, layers):
        bias = {n: p.effective_bias().detach().cpu() for n, p in layers.items()}
        return {"levels": reprogrammed(program, layers, lambda p: p.retrain.integer()), "bias": bias}
