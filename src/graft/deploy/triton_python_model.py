"""Triton Python-backend model written by ``graft deploy triton --runtime python`` as
``VERSION/model.py``: runs the ``model.onnx`` beside it with onnxruntime on the CPU.

It runs inside Triton's Python stub, so it imports no graft code: only numpy, onnxruntime and
the stub's ``triton_python_backend_utils``. The dynamic batcher hands ``execute`` several
requests at once; they are concatenated into one onnxruntime batch and the outputs split back.
Tensors cross the stub through DLPack rather than ``pb_utils.Tensor(name, ndarray)``: the stub
that nvidia-pytriton 0.7 bundles is built against numpy 1 and returns empty tensors from numpy 2
arrays, while DLPack works with both. ``instance_group`` sets how many copies run.
"""

import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        folder = os.path.join(args["model_repository"], args["model_version"])
        options = ort.SessionOptions()
        threads = os.environ.get("GRAFT_TRITON_THREADS")
        if threads:
            options.intra_op_num_threads = int(threads)
        self.session = ort.InferenceSession(os.path.join(folder, "model.onnx"), options,
                                            providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.batched = int(config.get("max_batch_size", 0)) > 0

    def execute(self, requests):
        feeds = [{n: np.from_dlpack(pb_utils.get_input_tensor_by_name(r, n))
                  for n in self.inputs} for r in requests]
        if not self.batched or len(feeds) == 1:
            parts = [self._run({n: np.array(v) for n, v in f.items()}) for f in feeds]
            return [self._response(p) for p in parts]
        sizes = [len(f[self.inputs[0]]) for f in feeds]
        merged = self._run({n: np.concatenate([f[n] for f in feeds]) for n in self.inputs})
        responses, start = [], 0
        for size in sizes:
            responses.append(self._response([o[start:start + size] for o in merged]))
            start += size
        return responses

    def _run(self, feed):
        return self.session.run(self.outputs, feed)

    def _response(self, arrays):
        return pb_utils.InferenceResponse(output_tensors=[
            pb_utils.Tensor.from_dlpack(name, np.ascontiguousarray(a))
            for name, a in zip(self.outputs, arrays, strict=True)])
