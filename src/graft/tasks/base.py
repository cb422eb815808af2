"""What a task provides to graft. Subclass :class:`Task` in ``graft/tasks/<name>/task.py``.

Every hook graft may call is declared here, typed, with a default where one makes sense: the
engine, the optimizer and the CLI call hooks on a :class:`Task`, never look one up by name. A
hook takes the model's :class:`~graft.manifest.Manifest` (typed; a plain dict manifest is parsed
by :meth:`Manifest.of` where a caller hands one in).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    import numpy as np
    import torch
    import typer
    from pydantic import BaseModel
    from torch import nn

    from graft.api import GraftModel
    from graft.manifest import Manifest
    from graft.optimize.parity import Comparator
    from graft.optimize.prune import PruneOptions, PruneResult


class Task:
    """A task plugs into graft by implementing these hooks.

    Required: ``name``, ``summary``, :meth:`build_model`, :meth:`cli`, :meth:`predict`.
    The optimization hooks have defaults that suit single-input image networks.
    """

    name: str = ""
    summary: str = ""

    # -- required -------------------------------------------------------------------------
    def build_model(self, architecture: dict[str, Any]) -> nn.Module:
        """Build the network (random init) from the manifest's ``architecture`` section."""
        raise NotImplementedError

    def cli(self) -> typer.Typer:
        """The task's ``graft TASK ACTION`` sub-commands (``build_app(self)`` of its cli
        module: the cli module gets the task passed in and never imports ``task.py``)."""
        raise NotImplementedError

    def predict(self, model: GraftModel, inputs: Any, **options: Any) -> Any:
        """Run the model on user inputs (paths, PIL images, arrays or tensors)."""
        raise NotImplementedError

    def spec_models(self) -> dict[str, type[BaseModel]]:
        """The task's spec files by kind, the training spec first: ``graft TASK spec KIND``
        prints one as commented YAML to start from, and ``docs/specs/TASK.md`` documents them
        (both generated from the models' fields). Import the models inside: listing them must
        not load PyTorch."""
        return {}

    def spec_kinds(self) -> tuple[str, ...]:
        """The keys of :meth:`spec_models`, in order, without importing the models: ``graft
        --help`` lists the kinds, and building a dozen pydantic models costs a third of a
        second. Override with the literal names when ``spec_models`` is."""
        return tuple(self.spec_models())

    def synth_command(self) -> tuple[str, Callable[..., Any]] | None:
        """Optional ``graft synth NAME`` command making a generated dataset: (NAME, function)."""
        return None

    def upgrade_archive(self, tensors: dict[str, torch.Tensor], manifest: Manifest
                        ) -> tuple[dict[str, torch.Tensor], Manifest]:
        """Rename what an older graft version wrote (tensors, recorded layer shapes) to
        today's layer names; every reader of a ``.graft`` applies it. Default: unchanged."""
        return tensors, manifest

    # -- optimization hooks (prune / quantize / export) -----------------------------------
    def input_shape(self, manifest: Manifest) -> tuple[int, int, int]:
        """(C, H, W) of the first network input."""
        from graft.manifest import Manifest

        return Manifest.of(manifest).require_input().shape

    def example_inputs(self, manifest: Manifest, batch: int = 1) -> tuple[torch.Tensor, ...]:
        """One example of every network input, in call order: what tracing (prune, export)
        calls the network with. A network taking a list of images (Mask R-CNN) returns
        ``([image, ...],)``."""
        import torch

        generator = torch.Generator().manual_seed(0)  # the same example every time
        return (torch.randn(batch, *self.input_shape(manifest), generator=generator),)

    def input_names(self, manifest: Manifest) -> list[str]:
        """Names of the network's inputs, in call order (exported models keep them)."""
        return ["input"]

    def output_names(self, manifest: Manifest) -> list[str]:
        return ["output"]

    def dynamic_axes(self, manifest: Manifest) -> dict[str, dict[int, str]]:
        """Axes that vary, per input/output name: ``{axis: label}``. A name not given has the
        batch axis 0 only; ``{}`` is a static tensor; an output whose length depends on the
        image (a detection list) declares e.g. ``{0: "detections"}`` and has no batch axis."""
        return {}

    def parity_comparator(self, manifest: Manifest) -> Comparator | None:
        """How an export is compared with PyTorch (:data:`graft.optimize.parity.Comparator`);
        None: every output element by element within atol + rtol. Variable-length outputs
        need their own (match detections first, or compare only when the counts agree)."""
        return None

    def output_layers(self, model: nn.Module, manifest: Manifest) -> list[nn.Module]:
        """Layers whose output channels must never be pruned (the heads)."""
        return []

    def prune_network(self, model: nn.Module, manifest: Manifest, options: PruneOptions
                      ) -> PruneResult:
        """Prune ``model`` in place (``graft TASK prune``). The default traces the network on
        :meth:`example_inputs` and keeps :meth:`output_layers`; a network whose forward is no
        dense graph (a detector with per-image proposals) traces a view of itself instead."""
        from graft.optimize.prune import prune_module

        return prune_module(model, self.example_inputs(manifest), options,
                            output_layers=self.output_layers(model, manifest))

    def calibration_batches(self, manifest: Manifest, image_dir: Path, batches: int,
                            batch_size: int) -> Iterator[np.ndarray]:
        """INT8 calibration batches from real images, through exactly the inference
        preprocessing. The default resizes to the input size and applies the normalization."""
        from graft.optimize.calibration import default_calibration_batches

        return default_calibration_batches(manifest, image_dir, batches, batch_size)

    def sdk_compatible_head(self, manifest: Manifest) -> tuple[nn.Module, list[str]] | None:
        """Extra layers appended for deployment SDKs (``export --sdk_compatible_model``) and
        the output names they give; None: the task has no such variant."""
        return None

    def deployment_files(self, manifest: Manifest, model_path: Path, data_type: str,
                         engine_file: Path | None = None) -> list[Path]:
        """Files a deployment SDK needs beside a finished export (e.g. a DeepStream config);
        written by ``graft TASK export`` after the model. Default: none."""
        return []

    def export_spec(self, manifest: Manifest, spec: Path) -> Manifest | None:
        """Export settings the task reads from ``export -e SPEC``: the manifest to export with.
        None (the default): the task reads none; the spec is recorded in the metadata only."""
        return None

    def export_metadata(self, manifest: Manifest) -> dict[str, Any]:
        """Task facts to record in the exported ONNX metadata besides the manifest."""
        return {}
