"""PyTorch modules: found, called and saved like the other models (tensor in, list out).

A `torch.nn.Module` has no predict(); capture calls it on a float32 tensor of the
features in inference mode, and saves it as TorchScript (`torch.jit.trace` on the
sample rows), so the server loads it with `torch.jit.load` without the notebook's
class definitions. torch is imported only when a module is actually involved.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

TORCHSCRIPT = "torchscript"


def is_torch_module(value: Any) -> bool:
    """An instance of torch.nn.Module with parameters (loss functions have none)."""
    if "torch" not in sys.modules or isinstance(value, type):
        return False
    import torch

    if not isinstance(value, torch.nn.Module):
        return False
    return isinstance(value, torch.jit.ScriptModule) or any(True for _ in value.parameters())


def forward(module: Any, data: Any) -> Any:
    """The module's output for 2-D float features, as a numpy array ((n, 1) -> (n,))."""
    import numpy as np
    import torch

    tensor = torch.as_tensor(np.asarray(data, dtype="float32"))
    module.eval()
    with torch.inference_mode():
        output = module(tensor)
    array = output.detach().cpu().numpy()
    return array[:, 0] if array.ndim == 2 and array.shape[1] == 1 else array


def save(module: Any, sample: Any, path: Path) -> None:
    import numpy as np
    import torch

    example = torch.as_tensor(np.asarray(sample, dtype="float32"))
    module.eval()
    with torch.inference_mode():
        traced = torch.jit.trace(module, example, check_trace=False)
    torch.jit.save(traced, str(path))


def load(path: Path) -> Any:
    import torch

    torch.set_num_threads(1)  # one thread per server worker process; workers use the cores
    return torch.jit.load(str(path), map_location="cpu").eval()
