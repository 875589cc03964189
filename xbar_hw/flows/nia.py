"""Noise Injection Adaption against IR drop (He et al., DAC 2019): measure the IR drop's
effect on each layer, fine-tune the float model once with it injected, and compare chips
before and after."""

from __future__ import annotations

from torch import nn

from ..core.design import Design
from ..workload.data import Dataset
from ..workload.models import save_model
from ..xbar.nia import irdrop_statistics, nia_train
from .evaluate import evaluate_chips
from .models import CALIBRATION, map_model

#: most calibration samples the IR-drop statistics are measured on
STATISTICS_SAMPLES = 256


def run_nia(model: nn.Module, doc: dict, design: Design, data: Dataset, output, *, data_name: str,
            source: str | None = None, seed: int = 0, calibration: int = CALIBRATION, epochs: int = 2,
            chips: int = 1, limit: int | None = None, progress: bool = True) -> dict:
    """NIA of ``model`` (its file's document ``doc``: arch, kwargs, meta) on ``design`` with
    IR drop on (turned on when the design has it off): the model mapped and evaluated on
    ``chips`` chips, fine-tuned ``epochs`` epochs on ``data`` with the measured statistics,
    written to ``output`` (its meta records the design and the IR-drop block), mapped and
    evaluated again. Returns the chips' mean accuracy and std before and after, and the
    statistics' mean mu and sigma per layer."""
    if not design.nonideal.ir_drop.enabled:
        design = design.replace(nonideal={"ir_drop": {"enabled": True}})
    arch, kwargs = doc["arch"], doc["kwargs"]
    program = map_model(model, arch, kwargs, design, data, data_name=data_name, seed=seed, calibration=calibration,
                        source=source)
    cache: dict = {}
    before = evaluate_chips(program, data, design, chips, progress=progress, limit=limit, cache=cache)
    stats = irdrop_statistics(program, design, data.x_train[: min(calibration, STATISTICS_SAMPLES)],
                              irdrop_cache=cache)
    trained = nia_train(model, stats, data, epochs=epochs, seed=seed, progress=progress)
    save_model(trained, arch, kwargs, output, {**doc["meta"], "nia": {
        "design": design.name, "ir_drop": design.to_dict()["nonideal"]["ir_drop"], "epochs": epochs}})
    program_after = map_model(trained, arch, kwargs, design, data, data_name=data_name, seed=seed,
                              calibration=calibration, source=source)
    after = evaluate_chips(program_after, data, design, chips, progress=progress, limit=limit)
    return {"before": before["chip_acc_mean"], "before_std": before["chip_acc_std"],
            "after": after["chip_acc_mean"], "after_std": after["chip_acc_std"], "chips": chips,
            "stats": {n: {"mu_mean": float(m.mean()), "sigma_mean": float(s.mean())} for n, (m, s) in stats.items()},
            "output": str(output)}
