"""What real-world notebooks add to a build's messages and report (pure).

`explain_limit` gives a training error caused by nb2svc's own limits (the network
guard, --train-timeout) the fix that matches it. `extra_report` adds the report.json
keys about data paths, the version era, network use and the model choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nb2svc.analysis.model_var import MODEL_TAG
from nb2svc.analyze import Analysis
from nb2svc.errors import TrainingError
from nb2svc.plan import BuildPlan

TIMEOUT_FIX = (
    "raise the limit with --train-timeout SECONDS, or make training faster (a smaller "
    "sample or fewer iterations, e.g. through a parameter set with -p NAME=VALUE)"
)
NETWORK_FIX = (
    "commit the data next to the notebook and read it from there, or build with "
    "--allow-network if the download is intended"
)
CHOOSE_FIX = (
    f'tag the cell that fits the model you want `{MODEL_TAG}`, or set `model = "NAME"` '
    "in nb2svc.toml"
)


def explain_limit(error: TrainingError, record: Mapping[str, Any]) -> TrainingError:
    """The fix for a timeout or a blocked download; other training errors unchanged."""
    text = f"{record.get('ename')} {record.get('evalue')}"
    if record.get("ename") == "ModelCaptureError":
        return TrainingError(
            f"saving the model after the last cell failed: {record.get('evalue')}",
            path=error.path,
            details=error.details,
            fix=f"assign the trained model to a variable named `model`, or {CHOOSE_FIX}",
        )
    if record.get("ename") == "TrainingTimeout":
        error.fix = TIMEOUT_FIX
    elif "network access" in text and "blocked while training" in text:
        error.fix = NETWORK_FIX
    elif "nb2svc blocked network access earlier" in text:
        error.fix = f"an earlier cell's download was refused: {NETWORK_FIX}"
    return error


def extra_report(plan: BuildPlan, analysis: Analysis) -> dict[str, Any]:
    """report.json keys added by the real-world notebook support (add-only)."""
    choice = analysis.last.model
    others = sorted({c.variable for c in choice.candidates} - {choice.variable})
    return {
        "data_paths": [link.to_json() for link in plan.data_links],
        "versions": {
            "exclude_newer": plan.lock.exclude_newer,
            "why": list(plan.lock.notes),
            "packages": plan.lock.reasons(),
        },
        "network": {
            "allowed": plan.allow_network,
            "uses": [
                {"notebook": nb.rel_path, **use.to_json()}
                for nb in analysis.notebooks
                for use in nb.network
            ],
        },
        "train_timeout": plan.train_timeout,
        "model_choice": {
            "variable": choice.variable,
            "reason": choice.reason,
            "source": choice.source,
            "others": others,
            "how_to_choose": CHOOSE_FIX if others else None,
        },
    }
