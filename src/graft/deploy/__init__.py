"""Deployment targets for exported models: Triton model repositories (``graft deploy triton``)
and DeepStream nvinfer configs (:mod:`graft.deploy.deepstream`, written beside exports)."""

from graft.deploy.triton import triton_command, write_repository

__all__ = ["triton_command", "write_repository"]
