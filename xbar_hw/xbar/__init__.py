"""The torch model of the crossbar: mapping, the golden crossbar, network conversion."""

from . import irdrop
from .golden import CrossbarEngine, apply_column_masks, check_input_range, crossbar_mvm, input_digits
from .layers import set_column_masks
from .mapping import layer_grid, layer_weights, map_layer, map_weights, unmap_levels

__all__ = [
    "irdrop",
    "CrossbarEngine",
    "apply_column_masks",
    "set_column_masks",
    "check_input_range",
    "crossbar_mvm",
    "input_digits",
    "layer_grid",
    "layer_weights",
    "map_layer",
    "map_weights",
    "unmap_levels",
]
