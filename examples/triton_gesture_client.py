"""Classify hand crops with GestureNet on a Triton server using only tritonclient and numpy.

The repository comes from graft:

    graft gesturenet export -m gesturenet.graft -o gesturenet.onnx
    graft deploy triton -m gesturenet.onnx -o model_repo --name gesturenet \\
        --max_batch_size 16 --dynamic_batching --preferred_batch_size 8
    tritonserver --model-repository model_repo      # or examples' --local (CPU, no Docker)

then:

    python examples/triton_gesture_client.py --url localhost:8001 crop1.jpg crop2.jpg ...

Everything the client needs to preprocess is in the model's config (parameter
``graft.metadata``: input size, normalization, classes), so it never opens the .graft file.
The crops are sent as concurrent single-image requests; Triton's dynamic batcher merges them
into batches on the server (its statistics, printed at the end, show the batch sizes it ran).
``--local model_repo`` starts the Triton server that nvidia-pytriton bundles (CPU only; write
the repository with ``--runtime python`` for it).
"""

from __future__ import annotations

import argparse
import json
import queue
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient
from PIL import Image


def preprocess(path: Path, meta: dict) -> np.ndarray:
    """A crop as the model was trained: resized to its input, normalized as its file says."""
    inp = meta["input"]
    norm = inp.get("normalization") or {}
    img = Image.open(path).convert("RGB").resize((inp["width"], inp["height"]),
                                                 Image.Resampling.BILINEAR)
    x = np.asarray(img, np.float32).transpose(2, 0, 1) * float(norm.get("scale", 1 / 255))
    mean = np.asarray(norm.get("mean", [0, 0, 0]), np.float32)[:, None, None]
    std = np.asarray(norm.get("std", [1, 1, 1]), np.float32)[:, None, None]
    return (x - mean) / std


def classify(url: str, model: str, images: list[Path]) -> None:
    client = grpcclient.InferenceServerClient(url)
    config = client.get_model_config(model, as_json=True)["config"]
    meta = json.loads(config["parameters"]["graft.metadata"]["string_value"])
    in_name, out_name = meta["input_names"][0], meta["output_names"][0]
    answers: queue.Queue = queue.Queue()

    def done(i: int):
        def callback(result, error) -> None:
            answers.put((i, error if error is not None else result.as_numpy(out_name)))
        return callback

    for i, path in enumerate(images):  # one request per crop, all in flight at once
        x = preprocess(path, meta)[None]
        item = grpcclient.InferInput(in_name, list(x.shape), "FP32")
        item.set_data_from_numpy(x)
        client.async_infer(model, [item], done(i))
    results = dict(answers.get(timeout=60) for _ in images)
    for i, path in enumerate(images):
        if isinstance(results[i], Exception):
            raise SystemExit(f"{path}: {results[i]}")
        logits = results[i][0]
        p = np.exp(logits - logits.max())
        p /= p.sum()
        k = int(p.argmax())
        print(f"{path.name}: {meta['classes'][k]} ({p[k]:.2f})")
    stats = client.get_inference_statistics(model, as_json=True)["model_stats"][0]
    runs = {int(b["batch_size"]): int(b["compute_infer"]["count"])
            for b in stats.get("batch_stats", [])}
    print(f"batches the server ran (size: count): {dict(sorted(runs.items()))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("images", nargs="+", type=Path, help="hand crops (any size)")
    parser.add_argument("--url", default="localhost:8001", help="Triton's gRPC address")
    parser.add_argument("--model", default="gesturenet", help="model name in the repository")
    parser.add_argument("--local", type=Path, help="serve this repository with the bundled "
                        "server (nvidia-pytriton) for the run")
    args = parser.parse_args()
    if args.local:
        from graft.deploy.triton_server import LocalTriton

        server = LocalTriton(args.local)
    with server if args.local else nullcontext():
        url = f"127.0.0.1:{server.grpc_port}" if args.local else args.url
        classify(url, args.model, args.images)


if __name__ == "__main__":
    main()
