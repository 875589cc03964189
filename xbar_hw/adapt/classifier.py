"""Classifier-only: a new head per task on the frozen backbone (the accuracy floor; no
cell of the backbone is written, no mask)."""

from __future__ import annotations

from .method import Method


class Classifier(Method):
    name = "classifier"

    def attach(self, program, layers, net, data, cfg):
        return []

    def parts(self, program, layers):
        return {}
