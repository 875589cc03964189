"""The torch model of the crossbar: mapping, the golden crossbar, network conversion."""

from . import irdrop
from .golden import CrossbarEngine, check_input_range, crossbar_mvm, input_digits
from .mapping import layer_grid, layer_weights, map_layer, map_weights, unmap_levels

__all__ = [
    "irdrop",
    "CrossbarEngine",
    "check_input_range",
    "crossbar_mvm",
    "input_digits",
    "layer_grid",
    "layer_weights",
    "map_layer",
    "map_weights",
    "unmap_levels",
]
