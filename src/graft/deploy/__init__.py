"""Deployment targets for exported models (``graft deploy ...``): Triton model repositories."""

from graft.deploy.triton import triton_command, write_repository

__all__ = ["triton_command", "write_repository"]
