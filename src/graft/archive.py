"""``.graft`` model files: safetensors weights + a JSON manifest, optionally AES-GCM encrypted.

A plain ``.graft`` file *is* a safetensors file: the manifest is stored as JSON under the
``graft_manifest`` metadata key, so any safetensors tool can read it. An encrypted file is::

    b"GRAFTENC\\n" + <header JSON line> + AES-256-GCM(ciphertext of the plain file)

with the key derived from the user's passphrase by scrypt. The header (KDF parameters, salt,
nonce) is authenticated as associated data, so any change to the file, or a wrong key, fails the
GCM tag check; its scrypt parameters are bounded (:data:`SCRYPT_MAX_MEMORY` and friends) before
they are used, since a crafted header could otherwise ask for any amount of memory.

Every file carries a SHA-256 content hash in its manifest, checked on load, so corruption and
hand edits are caught in plain files too. From format version 2 the hash covers the tensors and
the manifest (its canonical JSON without the hash itself): an edited class list or
normalization fails the check like an edited weight. Version-1 files (tensors only) still load;
version 3 changed only the manifest's layout (:mod:`graft.manifest` migrates older ones).
The hash guards against accidents, not attackers (anyone can recompute it); encryption with a
key is what authenticates a file. A ``.graft`` file holds no pickle (training checkpoints are
``torch.save`` files, read back with ``weights_only=True``: see :mod:`graft.engine.checkpoints`).

This module reads and writes the manifest as a plain dict; :class:`graft.manifest.Manifest` is
its typed form (and migrates older layouts), used by everything above the file format.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from graft.errors import ArchiveError, UserError
from graft.fsutil import write_bytes
from graft.manifest import FORMAT_VERSION, Manifest  # one version for container and manifest
from graft.spec_paths import path_origin

ENC_MAGIC = b"GRAFTENC\n"
MANIFEST_KEY = "graft_manifest"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
# what a header may ask for: scrypt needs 128 * n * r bytes (graft's own: 32 MiB)
SCRYPT_MAX_MEMORY = 256 * 2**20
SCRYPT_MAX_R, SCRYPT_MAX_P = 32, 16
SALT_BYTES = (16, 64)
NONCE_BYTES = 12  # AES-GCM's standard nonce
MAX_HEADER_BYTES = 4096


def _canonical(manifest: dict[str, Any]) -> bytes:
    """The manifest as hashed: sorted-key JSON without ``content_hash``."""
    rest = {k: v for k, v in manifest.items() if k != "content_hash"}
    return json.dumps(rest, sort_keys=True, separators=(",", ":")).encode()


def content_hash(tensors: dict[str, torch.Tensor],
                 manifest: dict[str, Any] | None = None) -> str:
    """SHA-256 over tensor names, dtypes, shapes and bytes, in sorted name order, then (format
    2) the canonical manifest JSON."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    if manifest is not None:
        h.update(b"manifest|" + _canonical(manifest))
    return h.hexdigest()


def _prepare(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors refuses shared storage; a contiguous CPU clone per tensor is always safe.
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}


def _derive_key(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def encode(
    state_dict: dict[str, torch.Tensor], manifest: Mapping[str, Any] | Manifest,
    key: str | None = None
) -> bytes:
    """Serialize weights + manifest to the bytes of a ``.graft`` file."""
    tensors = _prepare(state_dict)
    manifest = manifest.to_dict() if isinstance(manifest, Manifest) else dict(manifest)
    manifest["format_version"] = FORMAT_VERSION
    manifest["encrypted"] = bool(key)
    manifest.pop("content_hash", None)
    manifest = json.loads(json.dumps(manifest))  # hash what a reader will see (tuples -> lists)
    manifest["content_hash"] = content_hash(tensors, manifest)
    plain = st_save(tensors, metadata={MANIFEST_KEY: json.dumps(manifest)})
    return encrypt_bytes(plain, key) if key else plain


def encrypt_bytes(plain: bytes, key: str) -> bytes:
    """``plain`` sealed with AES-256-GCM under a scrypt-derived key, in the encrypted ``.graft``
    layout (magic, header line, ciphertext); :func:`decrypt_bytes` reverses it. Training
    checkpoints use it too, so one scheme protects everything a key is given for."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    salt, nonce = os.urandom(16), os.urandom(12)
    header = {
        "format_version": FORMAT_VERSION,
        "cipher": "AES-256-GCM",
        "kdf": {"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "salt": salt.hex()},
        "nonce": nonce.hex(),
    }
    header_line = (json.dumps(header) + "\n").encode()
    aead = AESGCM(_derive_key(key, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P))
    return ENC_MAGIC + header_line + aead.encrypt(nonce, plain, ENC_MAGIC + header_line)


def save(
    path: str | Path,
    state_dict: dict[str, torch.Tensor],
    manifest: Mapping[str, Any] | Manifest,
    key: str | None = None,
) -> dict[str, Any]:
    """Write a ``.graft`` file atomically; returns the manifest as stored (with its hash)."""
    data = encode(state_dict, manifest, key)
    write_bytes(path, data)
    return _manifest_from_plain(_decrypt(data, key, Path(path)) if key else data, Path(path))


def decrypt_bytes(data: bytes, key: str | None, path: str | Path) -> bytes:
    """The plain bytes of an encrypted file's content; one-line errors name ``path``."""
    return _decrypt(data, key, Path(path))


def _decrypt(data: bytes, key: str | None, path: Path) -> bytes:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not key:
        raise ArchiveError(f"{path} is encrypted", "pass its key with -k/--key")
    end = data.find(b"\n", len(ENC_MAGIC))
    if end < 0:
        raise ArchiveError(
            f"{path} is truncated or corrupt (no header)", "re-export or re-download it"
        )
    header_line = data[len(ENC_MAGIC) : end + 1]
    if len(header_line) > MAX_HEADER_BYTES:
        raise ArchiveError(f"{path} has a corrupt encryption header (over {MAX_HEADER_BYTES} "
                           "bytes)", "re-export or re-download it")
    try:
        header = json.loads(header_line)
        kdf = header["kdf"]
        salt, nonce = bytes.fromhex(kdf["salt"]), bytes.fromhex(header["nonce"])
        n, r, p = (kdf[k] for k in "nrp")
    except (ValueError, KeyError, TypeError):
        raise ArchiveError(
            f"{path} has a corrupt encryption header", "re-export or re-download it"
        ) from None
    _check_header(path, kdf.get("name"), header.get("cipher"), n, r, p, salt, nonce)
    derived = _derive_key(key, salt, n, r, p)
    try:
        return AESGCM(derived).decrypt(nonce, data[end + 1 :], ENC_MAGIC + header_line)
    except InvalidTag:
        raise ArchiveError(
            f"cannot decrypt {path}: wrong key, or the file was modified", "check -k/--key"
        ) from None


def _check_header(path: Path, kdf_name: Any, cipher: Any, n: Any, r: Any, p: Any, salt: bytes,
                  nonce: bytes) -> None:
    """Refuse KDF parameters that graft would never write before spending memory on them."""
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (n, r, p))
    problem = None
    if kdf_name != "scrypt" or cipher != "AES-256-GCM":
        problem = f"an unknown cipher or key derivation ({cipher!r}, {kdf_name!r})"
    elif not ints or n < 2 or n & (n - 1) or not 1 <= r <= SCRYPT_MAX_R \
            or not 1 <= p <= SCRYPT_MAX_P or 128 * n * r > SCRYPT_MAX_MEMORY:
        problem = (f"scrypt parameters outside graft's limits (n={n!r}, r={r!r}, p={p!r}; at "
                   f"most {SCRYPT_MAX_MEMORY // 2**20} MiB, r <= {SCRYPT_MAX_R}, "
                   f"p <= {SCRYPT_MAX_P})")
    elif not SALT_BYTES[0] <= len(salt) <= SALT_BYTES[1] or len(nonce) != NONCE_BYTES:
        problem = f"a {len(salt)}-byte salt and a {len(nonce)}-byte nonce"
    if problem:
        raise ArchiveError(f"{path} has an encryption header with {problem}",
                           "it was not written by graft or was modified: re-export or "
                           "re-download it")


def _manifest_from_plain(plain: bytes, path: Path) -> dict[str, Any]:
    try:
        (n,) = struct.unpack("<Q", plain[:8])
        header = json.loads(plain[8 : 8 + n])
        return json.loads(header["__metadata__"][MANIFEST_KEY])
    except (struct.error, ValueError, KeyError, TypeError):
        raise ArchiveError(
            f"{path} is not a .graft model file (or it is corrupt)", "pass a model written by graft"
        ) from None


def _read(path: str | Path, key: str | None) -> tuple[bytes, Path]:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"model file not found: {p}{path_origin(p)}", "check the -m/--model path")
    data = p.read_bytes()
    if data.startswith(ENC_MAGIC):
        return _decrypt(data, key, p), p
    return data, p


def read_manifest(path: str | Path, key: str | None = None) -> dict[str, Any]:
    """The manifest of a ``.graft`` file, without materializing the weights."""
    plain, p = _read(path, key)
    return _manifest_from_plain(plain, p)


def load(
    path: str | Path, key: str | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read weights and manifest, verifying the content hash (the manifest too, format 2)."""
    plain, p = _read(path, key)
    manifest = _manifest_from_plain(plain, p)
    version = manifest.get("format_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ArchiveError(f"{p} has an invalid format_version {version!r}",
                           "re-export or re-download it")
    if version > FORMAT_VERSION:
        raise ArchiveError(f"{p} was written by a newer graft (format {version}; this one "
                           f"reads up to {FORMAT_VERSION})", "upgrade graft")
    try:
        tensors = st_load(plain)
    except Exception:  # safetensors raises its own error types for corrupt payloads
        raise ArchiveError(f"{p} has corrupt weights", "re-export or re-download it") from None
    covered = manifest if version >= 2 else None
    if content_hash(tensors, covered) != manifest.get("content_hash"):
        what = "its weights or manifest were" if covered is not None else "its weights were"
        raise ArchiveError(
            f"{p} failed its integrity check: {what} modified or corrupted",
            "re-export or re-download it",
        )
    return tensors, manifest


def is_encrypted(path: str | Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(len(ENC_MAGIC)) == ENC_MAGIC
