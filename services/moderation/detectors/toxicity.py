"""Toxicity scores from Detoxify, loaded with Detoxify's own loading code.

What runs where
---------------
:class:`ToxicityModel` is the blocking part: ``load()`` builds the model with
``detoxify.Detoxify(...)`` (no reimplementation of its checkpoint format) and
``predict()`` turns texts into one ``{label: score}`` dict each.
:class:`ToxicityScorer` is the async façade a service uses: it loads and warms
the model once in its own single worker thread and runs every ``score()`` there,
so a forward pass never blocks the event loop.

``torch`` and ``detoxify`` are imported inside ``load()``, not at the top of this
module, so importing it (to validate config, to build the service) costs nothing
and nothing is read or loaded at import time.

Offline sites: what Detoxify really needs
-----------------------------------------
Detoxify 0.5.4's ``load_checkpoint`` does, in this order::

    loaded = torch.load(checkpoint, map_location=device, weights_only=False)
    args = loaded["config"]["arch"]["args"]   # model_type, model_name, tokenizer_name, num_classes
    config = getattr(transformers, args.model_name).config_class.from_pretrained(
        args.model_type, num_labels=args.num_classes)            # (1)
    model = model_class.from_pretrained(None, config=huggingface_config_path or config,
        state_dict=loaded["state_dict"], local_files_only=huggingface_config_path is not None)  # (2)
    tokenizer = getattr(transformers, args.tokenizer_name).from_pretrained(
        huggingface_config_path or args.model_type, local_files_only=...)                       # (3)

Step (1) always uses the checkpoint's ``model_type`` (``"bert-base-uncased"`` in
the published ``original`` checkpoint) and ignores ``huggingface_config_path``,
so without network (or a populated Hugging Face cache) it fails with
"We couldn't connect to 'https://huggingface.co'..." even when
``huggingface_config_path`` names a complete local directory. The fix is to
rewrite the checkpoint so ``config.arch.args.model_type`` is the path of a LOCAL
config directory; ``from_pretrained`` of a directory never touches the network.
Step (2) then takes the model config from ``huggingface_config_path``'s
``config.json`` *as saved*: its ``num_labels`` must equal the checkpoint's
``num_classes`` (6 for ``original``), otherwise transformers refuses the
classifier weights ("size mismatch"). A config saved with plain
``AutoConfig.from_pretrained("bert-base-uncased")`` has 2 labels, so save it
with ``num_labels=6``; :func:`prepare_offline_checkpoint` fixes it if you forgot.

Operator steps (on a machine with internet, ``original`` model shown)::

    pip install detoxify==0.5.4 transformers==<the pinned version>
    python - <<'EOF'
    import torch
    from transformers import AutoConfig, AutoTokenizer
    from detoxify.detoxify import MODEL_URLS   # .../v0.1-alpha/toxic_original-c1212f89.ckpt
    torch.hub.download_url_to_file(MODEL_URLS["original"], "toxic_original-c1212f89.ckpt")
    D = "detoxify-original-config"
    AutoTokenizer.from_pretrained("bert-base-uncased").save_pretrained(D)
    AutoConfig.from_pretrained("bert-base-uncased", num_labels=6).save_pretrained(D)
    EOF

(``unbiased`` is ``roberta-base``, ``multilingual`` is ``xlm-roberta-base``,
``*-small`` are ``albert-base-v2``; the URLs are ``detoxify.detoxify.MODEL_URLS``.)
Copy the ``.ckpt`` and the directory to the offline host, then, there::

    python -m services.moderation.cli.prepare_offline \\
        --checkpoint toxic_original-c1212f89.ckpt \\
        --config-dir /srv/haven/models/detoxify-original-config \\
        --out /srv/haven/models/toxic_original-offline.ckpt

and configure ``checkpoint=/srv/haven/models/toxic_original-offline.ckpt`` and
``huggingface_config_path=/srv/haven/models/detoxify-original-config``. The
absolute config path is baked into the checkpoint, so run the rewrite where the
directory will live (it needs no network), or keep the path identical.

Checkpoints are pickles (Detoxify loads them with ``weights_only=False``): only
load files you produced or downloaded from the release page yourself.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.common.errors import ConfigError
from services.moderation.detectors.model_thread import ModelThread

log = logging.getLogger(__name__)

DETOXIFY_MODELS: tuple[str, ...] = ("original", "unbiased", "multilingual", "original-small", "unbiased-small")

# Long posts are cut to this many characters before tokenising, so a megabyte
# post costs no more than a long one: the model only sees ``max_tokens`` tokens
# anyway, and an English WordPiece token averages about four characters.
_CHARS_PER_TOKEN_BUDGET = 16

# RoBERTa-style models number positions from ``pad_token_id + 1``, so their
# usable length is ``max_position_embeddings - pad_token_id - 1`` (514 -> 512).
_OFFSET_POSITION_MODELS = frozenset({"roberta", "xlm-roberta", "camembert"})

# What a missing, corrupt or wrongly-configured checkpoint makes Detoxify raise.
_LOAD_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    RuntimeError,
    EOFError,
    ImportError,
    pickle.UnpicklingError,
)

_WARM_UP_TEXT = "warm up"


@dataclass(frozen=True)
class ToxicityConfig:
    """How to load Detoxify.

    ``model`` is one of Detoxify's published models and is only used when no
    ``checkpoint`` is given (that path downloads, so it needs internet).
    Offline sites set ``checkpoint`` (prepared with :func:`prepare_offline_checkpoint`)
    and ``huggingface_config_path`` (the directory with config and tokenizer).
    ``torch_threads`` is process-wide in torch; ``max_tokens`` bounds each text;
    ``max_batch_tokens`` bounds one forward pass (texts x padded length; 512
    was fastest for bert-base on 2 CPU threads, see bench/; raise it on a GPU).
    ``quantize`` converts the model's Linear layers to int8 after loading
    (dynamic quantization, CPU only): about half the latency of fp32 on a
    bert-base model for scores within a few hundredths (see bench/).
    """

    model: str = "original"
    checkpoint: str | None = None
    huggingface_config_path: str | None = None
    device: str = "cpu"
    torch_threads: int = 1
    batch_size: int = 16
    max_tokens: int = 512
    quantize: bool = False
    max_batch_tokens: int = 512

    def __post_init__(self) -> None:
        problems = []
        if self.quantize and self.device != "cpu":
            problems.append(f"int8 quantization runs on the CPU only, but the toxicity device is {self.device!r}")
        if self.model not in DETOXIFY_MODELS:
            problems.append(f"toxicity model must be one of {', '.join(DETOXIFY_MODELS)}, got {self.model!r}")
        for name in ("torch_threads", "batch_size", "max_tokens", "max_batch_tokens"):
            if getattr(self, name) < 1:
                problems.append(f"toxicity {name} must be at least 1, got {getattr(self, name)}")
        if problems:
            raise ConfigError("; ".join(problems))


class ToxicityModel:
    """Detoxify's model and tokenizer, with a batched, bounded ``predict``.

    Blocking: call it from a worker thread (see :class:`ToxicityScorer`).
    Not thread-safe: Hugging Face fast tokenizers raise "Already borrowed" when
    two threads use one at once, so one model is driven by one thread.
    """

    def __init__(self, config: ToxicityConfig) -> None:
        self._config = config
        self._detoxify: Any = None
        self._labels: tuple[str, ...] = ()
        self._max_tokens = 0
        self._model_name = ""

    @property
    def config(self) -> ToxicityConfig:
        return self._config

    @property
    def loaded(self) -> bool:
        return self._detoxify is not None

    @property
    def labels(self) -> tuple[str, ...]:
        """Label names in Detoxify's standard spelling, e.g. ``toxicity``, ``identity_attack``."""
        self._require_loaded()
        return self._labels

    @property
    def model_name(self) -> str:
        """Which model produced the scores; stored with every decision.

        ``detoxify:original:toxic_original-c1212f89`` for a published model, or
        ``detoxify-checkpoint:<file name>@sha256:<16 hex>`` for a local file, so
        two checkpoints that share a file name are still told apart.
        """
        self._require_loaded()
        return self._model_name

    def load(self) -> None:
        """Load the model with ``detoxify.Detoxify``; raises :class:`ConfigError` if it can't."""
        import torch

        cfg = self._config
        torch.set_num_threads(cfg.torch_threads)
        started = time.perf_counter()
        detox = _load_detoxify(cfg)
        detox.model.eval()
        if cfg.quantize:
            detox.model = _quantized(detox.model)
        labels = tuple(detox.class_names)
        _check_labels(labels, detox.model.config.num_labels, _source(cfg))
        self._max_tokens = _token_limit(cfg.max_tokens, detox.tokenizer, detox.model.config)
        self._model_name = _describe(cfg)
        self._labels = labels
        self._detoxify = detox
        log.info(
            "toxicity model loaded",
            extra={
                "model_name": self._model_name,
                "labels": list(labels),
                "max_tokens": self._max_tokens,
                "load_seconds": round(time.perf_counter() - started, 3),
            },
        )

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """One ``{label: score in [0, 1]}`` per text, in input order.

        Length bucketing: the texts are tokenised once to learn their lengths,
        sorted by length, and cut into batches of at most ``batch_size`` texts
        and ``max_batch_tokens`` padded tokens, so a batch pads short posts to
        a short length and a long post does not make fifteen short ones pay for
        its padding. Results are put back in input order.
        """
        self._require_loaded()
        _check_texts(texts)
        if not texts:
            return []
        clipped = [text[: self._max_tokens * _CHARS_PER_TOKEN_BUDGET] for text in texts]
        lengths = [len(ids) for ids in self._detoxify.tokenizer(
            clipped, truncation=True, max_length=self._max_tokens)["input_ids"]]
        results: list[dict[str, float]] = [{} for _ in texts]
        for indices in buckets(lengths, self._config.batch_size, self._config.max_batch_tokens):
            for index, scores in zip(indices, self._predict_batch([clipped[i] for i in indices]), strict=True):
                results[index] = scores
        return results

    def _predict_batch(self, texts: list[str]) -> list[dict[str, float]]:
        """Tokenise, forward, sigmoid: what ``Detoxify.predict`` does, with explicit bounds.

        Not ``Detoxify.predict`` itself: its ``truncation=True`` has no
        ``max_length``, so a tokenizer saved without ``model_max_length`` lets a
        long post overflow the position embeddings (a RuntimeError), and it
        returns a bare float instead of a list for a one-text batch.
        """
        import torch

        detox = self._detoxify
        max_chars = self._max_tokens * _CHARS_PER_TOKEN_BUDGET
        with torch.inference_mode():
            inputs = detox.tokenizer(
                [text[:max_chars] for text in texts],
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=self._max_tokens,
            ).to(detox.model.device)
            logits = detox.model(**inputs)[0]
            rows = torch.sigmoid(logits).cpu().tolist()
        return [{label: float(score) for label, score in zip(self._labels, row, strict=True)} for row in rows]

    def _require_loaded(self) -> None:
        if self._detoxify is None:
            raise RuntimeError("ToxicityModel.load() has not been called")


class ToxicityScorer:
    """Async façade: loads once, then scores in its own :class:`ModelThread` (why a thread: there)."""

    def __init__(self, model: ToxicityModel) -> None:
        self._model = model
        self._thread = ModelThread("toxicity")

    @classmethod
    def from_config(cls, config: ToxicityConfig) -> ToxicityScorer:
        return cls(ToxicityModel(config))

    @property
    def model_name(self) -> str:
        return self._model.model_name

    @property
    def labels(self) -> tuple[str, ...]:
        return self._model.labels

    async def start(self) -> None:
        """Create the worker, load the model and run one warm-up prediction in it."""
        await self._thread.start(self._load_and_warm_up)

    async def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Scores for ``texts`` in input order, computed off the event loop."""
        if not self._thread.started:
            raise RuntimeError("ToxicityScorer.start() has not been called (or close() has)")
        if not texts:
            return []
        batch = list(texts)  # a private copy: the caller may reuse its list while we run
        return await self._thread.run(self._model.predict, batch)

    async def close(self) -> None:
        """Stop the worker; a prediction already running finishes, queued ones are dropped."""
        await self._thread.close()

    def _load_and_warm_up(self) -> None:
        self._model.load()
        self._model.predict([_WARM_UP_TEXT])


def buckets(lengths: Sequence[int], batch_size: int, max_batch_tokens: int) -> list[list[int]]:
    """Indices grouped by length: each group has at most ``batch_size`` texts and, padded to its
    longest, at most ``max_batch_tokens`` tokens (a text longer than that goes alone)."""
    groups: list[list[int]] = []
    current: list[int] = []
    for index in sorted(range(len(lengths)), key=lengths.__getitem__):
        if current and (len(current) >= batch_size or (len(current) + 1) * lengths[index] > max_batch_tokens):
            groups.append(current)
            current = []
        current.append(index)
    if current:
        groups.append(current)
    return groups


def prepare_offline_checkpoint(src_ckpt: Path, config_dir: Path, dst_ckpt: Path) -> None:
    """Write a copy of a Detoxify checkpoint that loads without network.

    Sets ``config.arch.args.model_type`` to ``config_dir`` (absolute), which
    must hold the ``save_pretrained`` config and tokenizer files. Also makes
    ``config.json``'s ``num_labels`` match the checkpoint's ``num_classes``,
    because Detoxify reads the model config from that directory as saved.
    Raises :class:`ConfigError` if the inputs can't make a loadable checkpoint.
    """
    import torch

    config_dir = config_dir.resolve()
    loaded = _read_checkpoint(src_ckpt)
    args = _arch_args(loaded, src_ckpt)
    _check_config_dir(config_dir, args)
    _align_num_labels(config_dir, int(args["num_classes"]))
    args["model_type"] = str(config_dir)
    dst_ckpt.parent.mkdir(parents=True, exist_ok=True)
    partial = dst_ckpt.with_name(dst_ckpt.name + ".partial")
    torch.save(loaded, partial)
    partial.replace(dst_ckpt)  # never leave a half-written checkpoint under the real name
    log.info("offline checkpoint written", extra={"checkpoint": str(dst_ckpt), "model_type": str(config_dir)})


def _load_detoxify(cfg: ToxicityConfig) -> Any:
    from detoxify import Detoxify

    try:
        return Detoxify(
            model_type=cfg.model,
            checkpoint=cfg.checkpoint,
            device=cfg.device,
            huggingface_config_path=cfg.huggingface_config_path,
        )
    except _LOAD_ERRORS as e:
        raise ConfigError(f"cannot load toxicity model {_source(cfg)}: {type(e).__name__}: {_one_line(e)}") from e


def _quantized(model: Any) -> Any:
    """The model with every ``nn.Linear`` as a dynamically quantized int8 layer (weights int8, activations
    quantized per batch). torch marks ``torch.ao.quantization`` deprecated in favour of the separate torchao
    package, which Haven does not depend on; the eager API still works in the pinned torch, so its
    deprecation notice is silenced here and nowhere else."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=r".*quantize_per_tensor.*", category=UserWarning)
        quantized = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    quantized.eval()
    return quantized


def _check_labels(labels: tuple[str, ...], num_labels: int, source: str) -> None:
    if len(labels) != num_labels or len(set(labels)) != len(labels):
        raise ConfigError(f"toxicity model {source} has {num_labels} outputs but labels {list(labels)}")


def _token_limit(configured: int, tokenizer: Any, model_config: Any) -> int:
    """The most tokens one text may have: config, tokenizer and position embeddings all agree."""
    positions = model_config.max_position_embeddings
    if getattr(model_config, "model_type", "") in _OFFSET_POSITION_MODELS:
        positions -= (model_config.pad_token_id or 0) + 1
    return min(configured, tokenizer.model_max_length, positions)


def _describe(cfg: ToxicityConfig) -> str:
    suffix = "+int8" if cfg.quantize else ""
    if cfg.checkpoint is None:
        from detoxify.detoxify import MODEL_URLS

        release = MODEL_URLS[cfg.model].rsplit("/", 1)[-1].removesuffix(".ckpt")
        return f"detoxify:{cfg.model}:{release}{suffix}"
    path = Path(cfg.checkpoint)
    return f"detoxify-checkpoint:{path.name}@sha256:{_sha256(path)[:16]}{suffix}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _source(cfg: ToxicityConfig) -> str:
    return f"checkpoint {cfg.checkpoint!r}" if cfg.checkpoint else f"{cfg.model!r} (download)"


def _check_texts(texts: Sequence[str]) -> None:
    if isinstance(texts, str):
        raise TypeError("predict() takes a list of texts, not one string")
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"texts must be str, got {type(text).__name__}")


def _one_line(error: BaseException, limit: int = 300) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_checkpoint(path: Path) -> dict[str, Any]:
    import torch

    try:
        loaded = torch.load(path, map_location="cpu", weights_only=False)
    except _LOAD_ERRORS as e:
        raise ConfigError(f"cannot read checkpoint {str(path)!r}: {type(e).__name__}: {_one_line(e)}") from e
    if not isinstance(loaded, dict) or "state_dict" not in loaded:
        raise ConfigError(f"{str(path)!r} is not a Detoxify checkpoint (no config/state_dict)")
    return loaded


def _arch_args(loaded: dict[str, Any], path: Path) -> dict[str, Any]:
    try:
        args = loaded["config"]["arch"]["args"]
        _ = (args["model_type"], args["model_name"], args["tokenizer_name"], int(args["num_classes"]))
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"{str(path)!r} lacks Detoxify's config.arch.args ({_one_line(e)})") from e
    return args


def _check_config_dir(config_dir: Path, args: dict[str, Any]) -> None:
    """Fail on the operator's machine, not at the offline site, if the tokenizer can't load."""
    import transformers

    if not (config_dir / "config.json").is_file():
        raise ConfigError(f"{str(config_dir)!r} has no config.json; run save_pretrained into it first")
    tokenizer_class = getattr(transformers, args["tokenizer_name"], None)
    if tokenizer_class is None:
        raise ConfigError(f"transformers has no tokenizer class {args['tokenizer_name']!r}")
    try:
        tokenizer_class.from_pretrained(str(config_dir), local_files_only=True)
    except _LOAD_ERRORS as e:
        raise ConfigError(f"cannot load the tokenizer from {str(config_dir)!r}: {_one_line(e)}") from e


def _align_num_labels(config_dir: Path, num_classes: int) -> None:
    """Rewrite config.json's label count if it differs from the checkpoint's."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(config_dir), local_files_only=True)
    if config.num_labels == num_classes:
        return
    log.warning(
        "setting num_labels in config.json to the checkpoint's num_classes",
        extra={"config_dir": str(config_dir), "was": config.num_labels, "now": num_classes},
    )
    config.num_labels = num_classes
    config.save_pretrained(str(config_dir))
