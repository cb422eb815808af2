import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from graft.console import console
from graft.engine.progress import LineProgress, epoch_line, metrics_text, progress_bar


class Tiny(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train/loss", loss, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val/mse", torch.nn.functional.mse_loss(self.layer(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _loader() -> DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(12, 2, generator=g)
    return DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=4)


def test_metrics_text_keeps_epoch_means_at_the_end_and_steps_within():
    m = {"train/loss_step": 2.0, "train/loss_epoch": 1.5, "train/loss": 2.0, "val/AP": 0.25,
         "train/loss_mask": 0.5, "lr": 0.1}
    assert metrics_text(m, ("train/", "val/")) == (
        "train/loss_epoch 1.5, train/loss_mask 0.5, val/AP 0.25")
    assert metrics_text(m, ("train/",), within_epoch=True) == "train/loss_step 2"


def test_epoch_line_counts_from_one_with_rate():
    line = epoch_line(2, 6, 60, 87.0, {"train/loss_epoch": torch.tensor(1.595)})
    assert line == "epoch 3/6: 60 steps in 87 s (1.45 s/step); train/loss_epoch 1.595"
    assert epoch_line(0, 1, 0, 0.2, {}) == "epoch 1/1: 0 steps in 0 s"


def test_line_progress_prints_one_whole_line_per_epoch(tmp_path):
    bar = LineProgress(every_s=0.0)  # a mid-epoch line after every step
    trainer = L.Trainer(max_epochs=2, callbacks=[bar], logger=False, enable_checkpointing=False,
                        enable_model_summary=False, num_sanity_val_steps=0,
                        default_root_dir=tmp_path, accelerator="cpu")
    with console.capture() as captured:
        trainer.fit(Tiny(), _loader(), _loader())
    lines = captured.get().splitlines()
    ends = [ln for ln in lines if " steps in " in ln]
    assert [ln.split(":")[0] for ln in ends] == ["epoch 1/2", "epoch 2/2"]
    assert all("train/loss_epoch" in ln and "val/mse" in ln and "s/step" in ln for ln in ends)
    steps = [ln for ln in lines if ": step " in ln]
    assert len(steps) == 6 and steps[0].startswith("epoch 1/2: step 1/3")
    assert all("train/loss_epoch" not in ln for ln in steps)


def test_progress_bar_is_lines_outside_a_terminal():
    assert isinstance(progress_bar(), LineProgress)  # pytest captures stdout: not a terminal
