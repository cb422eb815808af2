"""Containers and backends: pandas, PyTorch (CPU here, CUDA when present), CuPy, cuDF."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.special
import torch

from graft.tabular import GaussRankScaler, kernels
from graft.tabular.backends import CupyBackend, NumpyBackend, TorchBackend

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_pandas_keeps_index_names_and_dtypes(rng):
    frame = pd.DataFrame(
        {"a": rng.normal(size=50), "b": rng.normal(size=50).astype(np.float32),
         "c": rng.integers(0, 9, size=50)},
        index=pd.Index([f"r{i}" for i in range(50)], name="id"),
    )
    scaler = GaussRankScaler()
    out = scaler.fit_transform(frame)
    assert list(out.columns) == ["a", "b", "c"] and out.index.equals(frame.index)
    assert out.dtypes.to_dict() == {"a": np.float64, "b": np.float32, "c": np.float64}
    back = scaler.inverse_transform(out)
    np.testing.assert_array_equal(back["a"], frame["a"])
    np.testing.assert_array_equal(back["c"], frame["c"].astype(float))


def test_series_in_series_out(rng):
    series = pd.Series(rng.lognormal(size=30), index=np.arange(30) * 2, name="price")
    scaler = GaussRankScaler()
    out = scaler.fit_transform(series)
    assert isinstance(out, pd.Series) and out.name == "price" and out.index.equals(series.index)
    pd.testing.assert_series_equal(scaler.inverse_transform(out), series)
    pd.testing.assert_series_equal(scaler.inverse_transform_column(out, "price"), series)


def test_non_numeric_column_is_rejected():
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    with pytest.raises(ValueError, match="'b' is not numeric"):
        GaussRankScaler().fit(frame)


@pytest.mark.parametrize("prefer", ["auto", "torch"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_cpu_tensors_keep_device_and_dtype(rng, prefer, dtype):
    values = rng.lognormal(size=(4000, 2))
    values[::50, 0] = np.nan
    values[:, 1] = np.round(values[:, 1], 1)
    tensor = torch.from_numpy(values).to(dtype)
    scaler = GaussRankScaler()
    scaler._backend_preference = prefer  # "torch" runs the CUDA code path on the CPU
    z = scaler.fit_transform(tensor)
    assert isinstance(z, torch.Tensor) and z.dtype == dtype and z.device == tensor.device
    reference = GaussRankScaler().fit_transform(values.astype(z.numpy().dtype))
    np.testing.assert_allclose(z.numpy(), reference, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(scaler.transform(tensor), z, equal_nan=True)
    back = scaler.inverse_transform(z)
    assert back.dtype == dtype
    torch.testing.assert_close(back, tensor, rtol=2e-6, atol=0, equal_nan=True)
    one_d = scaler.inverse_transform_column(z[:, 0], 0)
    assert one_d.shape == (4000,) and one_d.dtype == dtype


def test_torch_one_dimensional_and_grouped_on_the_torch_backend(rng):
    keys = torch.from_numpy(rng.integers(0, 3, size=600))
    values = torch.from_numpy(rng.gamma(2.0, size=600) * (keys.numpy() + 1))
    scaler = GaussRankScaler()
    scaler._backend_preference = "torch"
    z = scaler.fit_transform(values, groups=keys)
    assert z.shape == (600,)
    for key in range(3):
        rows = keys == key
        alone = GaussRankScaler().fit_transform(values[rows].numpy()[:, None])[:, 0]
        np.testing.assert_allclose(z[rows].numpy(), alone, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(scaler.inverse_transform(z, groups=keys), values, rtol=0, atol=0)


def test_extrapolation_and_subsampling_agree_across_backends(rng):
    values = rng.normal(size=(2000, 1))
    new = np.array([[-9.0], [0.1], [9.0]])
    numpy_scaler = GaussRankScaler(extrapolate=True, n_quantiles=300).fit(values)
    torch_scaler = GaussRankScaler(extrapolate=True, n_quantiles=300)
    torch_scaler._backend_preference = "torch"
    torch_scaler.fit(torch.from_numpy(values))
    expected = numpy_scaler.transform(new)
    np.testing.assert_allclose(torch_scaler.transform(torch.from_numpy(new)).numpy(), expected,
                               rtol=1e-10)
    np.testing.assert_allclose(
        torch_scaler.inverse_transform(torch.from_numpy(expected)).numpy(),
        numpy_scaler.inverse_transform(expected), rtol=1e-10)


def test_tables_follow_the_input_device(rng):
    """Fitted on NumPy, used on tensors: the table is copied once, the data never moves."""
    values = rng.normal(size=(500, 1))
    scaler = GaussRankScaler().fit(values)
    scaler._backend_preference = "torch"
    z = scaler.transform(torch.from_numpy(values))
    assert ("torch", "cpu") in scaler._placed
    np.testing.assert_allclose(z.numpy(), scaler.transform(values), rtol=1e-12)


class _NumpyAsCupy(CupyBackend):
    """CupyBackend's own code (argsort, repeat by run id, unique, xp.interp) on NumPy arrays."""

    def __init__(self) -> None:
        self.xp = np
        self.special = scipy.special

    @property
    def device(self) -> str:
        return "cpu-shim"

    def to_numpy(self, a):
        return np.asarray(a)


def test_cupy_backend_logic_matches_numpy(rng):
    x = np.round(rng.lognormal(size=3000), 2)
    x[::40] = np.nan
    shim, reference = _NumpyAsCupy(), NumpyBackend()
    for backend in (shim, reference):
        table, scores = kernels.fit_column(backend, x, name="x", score_dtype=np.float64)
        backend.result = (scores, kernels.transform_column(backend, table, x[:100],
                                                           extrapolate=True, out_dtype=np.float64),
                          kernels.inverse_column(backend, table, scores, extrapolate=False,
                                                 out_dtype=np.float64))
        raw_keys = np.array([3, 1, 3, 2, 1, 3])
        codes, keys = backend.factorize(raw_keys)
        assert [keys[c] for c in codes] == raw_keys.tolist()
        order, bounds = backend.group_order(codes, len(keys))
        for g in range(len(keys)):  # each slice of the order holds exactly one group
            assert (codes[order[bounds[g]:bounds[g + 1]]] == g).all()
        assert bounds[-1] == raw_keys.size
    for ours, theirs in zip(shim.result, reference.result, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, equal_nan=True)
    np.testing.assert_array_equal(shim.result[2], x)


@needs_cuda
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_tensors_stay_on_the_device(rng, dtype):
    values = torch.from_numpy(rng.lognormal(size=(100_000, 1))).to(dtype)
    cuda = values.cuda()
    scaler = GaussRankScaler()
    z = scaler.fit_transform(cuda)
    assert z.is_cuda and z.dtype == dtype
    assert scaler.backend_ == "torch"
    back = scaler.inverse_transform(z)
    assert back.is_cuda and back.dtype == dtype
    torch.testing.assert_close(back.cpu(), values, rtol=2e-6, atol=0)
    reference = GaussRankScaler().fit_transform(values.numpy())
    np.testing.assert_allclose(z.cpu().numpy(), reference, rtol=1e-5, atol=1e-6)
    groups = (cuda[:, 0] > 1).long()
    grouped = GaussRankScaler().fit_transform(cuda, groups=groups)
    assert grouped.is_cuda


@pytest.mark.gpu
def test_cupy_arrays_stay_on_the_device(rng):
    cupy = pytest.importorskip("cupy")
    values = rng.lognormal(size=(10_000, 2))
    scaler = GaussRankScaler()
    z = scaler.fit_transform(cupy.asarray(values))
    assert isinstance(z, cupy.ndarray)
    np.testing.assert_array_equal(cupy.asnumpy(scaler.inverse_transform(z)), values)


@pytest.mark.gpu
def test_cudf_frames_stay_on_the_device(rng):
    cudf = pytest.importorskip("cudf")
    frame = cudf.DataFrame({"a": rng.normal(size=1000), "g": rng.integers(0, 3, size=1000)})
    scaler = GaussRankScaler(group_by="g")
    out = scaler.fit_transform(frame)
    assert type(out).__module__.startswith("cudf")
    np.testing.assert_array_equal(scaler.inverse_transform(out)["a"].to_numpy(),
                                  frame["a"].to_numpy())


def test_backend_choice_follows_the_input():
    from graft.tabular.backends import backend_for

    assert isinstance(backend_for(np.zeros(2)), NumpyBackend)
    tensor = torch.zeros(2)
    assert isinstance(backend_for(tensor), NumpyBackend)  # CPU tensors: zero-copy NumPy views
    assert isinstance(backend_for(tensor, "torch"), TorchBackend)
