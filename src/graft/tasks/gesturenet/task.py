"""GestureNet as graft's registry sees it: classification's network, heads and export hooks,
with its own data, commands and generator."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from graft.tasks.classification.task import ClassificationTask

if TYPE_CHECKING:
    import typer
    from pydantic import BaseModel

    from graft.api import GraftModel


class GestureNetTask(ClassificationTask):
    name = "gesturenet"
    summary = "Hand-gesture classification (GestureNet): dataset_convert, train, evaluate, ..."

    def cli(self) -> typer.Typer:
        from graft.tasks.gesturenet.cli import build_app

        return build_app(self)

    def spec_kinds(self) -> tuple[str, ...]:
        return ("train",)

    def spec_models(self) -> dict[str, type[BaseModel]]:
        from graft.tasks.gesturenet.spec import GestureSpec

        return {"train": GestureSpec}

    def predict(self, model: GraftModel, inputs: Any, boxes: Any = None,
                **options: Any) -> list[dict[str, Any]]:
        """One uint8 (3, H, W) frame and its hand boxes (pixels, x1 y1 x2 y2) -> the gesture
        and class probabilities per box, cropped by the model's recorded rule."""
        from graft.runtime import Runner
        from graft.tasks.classification.runner import Classifier
        from graft.tasks.gesturenet.crop import CropRule, preprocess

        clf = Classifier.from_runner(Runner.from_model(model))
        rule = CropRule.of(clf.runner.info.input)
        if boxes is None:
            boxes = [(0, 0, inputs.shape[-1], inputs.shape[-2])]
        import torch

        if not len(boxes):
            return []
        crops = torch.stack([preprocess(inputs, b, rule, clf.input_size) for b in boxes])
        probs = clf.logits(crops).softmax(1)
        return [{"label": clf.classes[int(p.argmax())], "score": float(p.max()),
                 "probabilities": dict(zip(clf.classes, p.tolist(), strict=True))}
                for p in probs]

    def synth_command(self) -> tuple[str, Callable[..., Any]] | None:
        from graft.tasks.gesturenet.synth_cli import synth_hands

        return "hands", synth_hands


TASK = GestureNetTask()
