"""Deterministic kernels for builds, where PyTorch has them.

On the CPU every kernel we use is deterministic, so a resumed or re-split build is byte-identical. On CUDA some
are not by default: cuBLAS picks reduction orders by workspace, cuDNN benchmarks and picks convolution
algorithms, and fused attention's backward pass (the null-text optimisation's) accumulates with atomics. A build
asks for the deterministic variants before any model loads: `torch.use_deterministic_algorithms(True)` (an op
without a deterministic kernel then raises instead of silently differing), cuBLAS's fixed workspace
(`CUBLAS_WORKSPACE_CONFIG=:4096:8`, read when cuBLAS starts), cuDNN without benchmarking, and the math attention
backend inside the optimisation's forward and backward passes (`optimisation_attention`). What this buys, and
where it stops (another GPU model, driver or library version may round differently), is said in
docs/maintainers/building.md.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext
from typing import Any

CUBLAS_WORKSPACE = ":4096:8"


def make_deterministic(device: str) -> dict[str, Any]:
    """Ask PyTorch for deterministic kernels on `device`; returns the settings now in force."""
    import torch

    settings: dict[str, Any] = {}
    if str(device).startswith("cuda"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        settings = {"CUBLAS_WORKSPACE_CONFIG": os.environ["CUBLAS_WORKSPACE_CONFIG"],
                    "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
                    "cudnn.deterministic": torch.backends.cudnn.deterministic,
                    "cudnn.benchmark": torch.backends.cudnn.benchmark}
    return settings


def optimisation_attention(device: str) -> AbstractContextManager[Any]:
    """The attention backend for passes that run backward: PyTorch's math kernels on CUDA (their backward has no
    atomics); the CPU's default kernels are deterministic already."""
    if not str(device).startswith("cuda"):
        return nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.MATH])
