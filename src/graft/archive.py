"""``.graft`` model files: safetensors weights + a JSON manifest, optionally AES-GCM encrypted.

A plain ``.graft`` file *is* a safetensors file: the manifest is stored as JSON under the
``graft_manifest`` metadata key, so any safetensors tool can read it. An encrypted file is::

    b"GRAFTENC\\n" + <header JSON line> + AES-256-GCM(ciphertext of the plain file)

with the key derived from the user's passphrase by scrypt. The header (KDF parameters, salt,
nonce) is authenticated as associated data, so any change to the file, or a wrong key, fails the
GCM tag check. Plain files carry a SHA-256 content hash of the tensors in their manifest, checked
on load, so corruption is caught too. Nothing is ever pickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from graft.errors import ArchiveError, UserError
from graft.fsutil import write_bytes

FORMAT_VERSION = 1
ENC_MAGIC = b"GRAFTENC\n"
MANIFEST_KEY = "graft_manifest"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1


def content_hash(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over tensor names, dtypes, shapes and bytes, in sorted name order."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _prepare(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors refuses shared storage; a contiguous CPU clone per tensor is always safe.
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}


def _derive_key(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def encode(
    state_dict: dict[str, torch.Tensor], manifest: dict[str, Any], key: str | None = None
) -> bytes:
    """Serialize weights + manifest to the bytes of a ``.graft`` file."""
    tensors = _prepare(state_dict)
    manifest = dict(manifest)
    manifest["format_version"] = FORMAT_VERSION
    manifest["content_hash"] = content_hash(tensors)
    manifest["encrypted"] = bool(key)
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
    manifest: dict[str, Any],
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
    try:
        header = json.loads(header_line)
        kdf = header["kdf"]
        salt, nonce = bytes.fromhex(kdf["salt"]), bytes.fromhex(header["nonce"])
        derived = _derive_key(key, salt, int(kdf["n"]), int(kdf["r"]), int(kdf["p"]))
    except (ValueError, KeyError, TypeError):
        raise ArchiveError(
            f"{path} has a corrupt encryption header", "re-export or re-download it"
        ) from None
    try:
        return AESGCM(derived).decrypt(nonce, data[end + 1 :], ENC_MAGIC + header_line)
    except InvalidTag:
        raise ArchiveError(
            f"cannot decrypt {path}: wrong key, or the file was modified", "check -k/--key"
        ) from None


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
        raise UserError(f"model file not found: {p}", "check the -m/--model path")
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
    """Read weights and manifest, verifying the content hash."""
    plain, p = _read(path, key)
    manifest = _manifest_from_plain(plain, p)
    try:
        tensors = st_load(plain)
    except Exception:  # safetensors raises its own error types for corrupt payloads
        raise ArchiveError(f"{p} has corrupt weights", "re-export or re-download it") from None
    if content_hash(tensors) != manifest.get("content_hash"):
        raise ArchiveError(
            f"{p} failed its integrity check: the weights were modified or corrupted",
            "re-export or re-download it",
        )
    return tensors, manifest


def is_encrypted(path: str | Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(len(ENC_MAGIC)) == ENC_MAGIC
