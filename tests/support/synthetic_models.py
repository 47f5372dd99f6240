"""Detoxify-format checkpoints built locally, without any network: test models, not the service's.

Used by the tests (the real weights cannot be downloaded here), by the
benchmarks (``bench/moderation.py``: a bert-base-shaped model) and by ``make run``
(``services/devrun.py``) when no real checkpoint is configured (a demo model whose
scores mean nothing). No module of a running service imports it.

The real checkpoints can't be downloaded here, so tests exercise Detoxify's real
loading code on a checkpoint with exactly the published layout::

    {"config": {"arch": {"type": "BERT", "args": {"model_type": <local config dir>,
                                                   "model_name": "BertForSequenceClassification",
                                                   "tokenizer_name": "BertTokenizer",
                                                   "num_classes": 6}},
                "dataset": {"args": {"classes": [...]}}},
     "state_dict": BertForSequenceClassification(...).state_dict()}

``model_type`` is the config directory, as :func:`prepare_offline_checkpoint`
would write it, so loading needs no Hugging Face download. Scores are random
but deterministic for a given ``seed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

# What Detoxify's ``original`` model reports (its checkpoint stores the Jigsaw
# names toxic/severe_toxic/identity_hate; Detoxify renames them to these).
DETOXIFY_ORIGINAL_LABELS: tuple[str, ...] = (
    "toxicity",
    "severe_toxicity",
    "obscene",
    "threat",
    "insult",
    "identity_attack",
)

# The class names as the published ``original`` checkpoint stores them.
JIGSAW_ORIGINAL_CLASSES: tuple[str, ...] = (
    "toxic",
    "severe_toxic",
    "obscene",
    "threat",
    "insult",
    "identity_hate",
)

SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

_WORDS = """
the of and to a in is it you that he was for on are with as i his they be at one
have this from or had by hot word but what some we can out other were all there
when up use your how said an each she which do their time if will way about many
then them write would like so these her long make thing see him two has look more
day could go come did number sound no most people my over know water than call
first who may down side been now find any new work part take get place made live
where after back little only round man year came show every good me give our under
name very through just form sentence great think say help low line differ turn
cause much mean before move right boy old too same tell does set three want air
well also play small end put home read hand port large spell add even land here
must big high such follow act why ask men change went light kind off need house
picture try us again animal point mother world near build self earth father head
stand own page should country found answer school grow study still learn plant
cover food sun four between state keep eye never last let thought city tree cross
farm hard start might story saw far sea draw left late run while press close
night real life few north open seem together next white children begin got walk
example ease paper group always music those both mark often letter until mile
river car feet care second book carry took science eat room friend began idea fish
mountain stop once base hear horse cut sure watch color face wood main enough plain
girl usual young ready above ever red list though feel talk bird soon body dog
family direct pose leave song measure door product black short numeral class wind
question happen complete ship area half rock order fire south problem piece told
knew pass since top whole king space heard best hour better true during hundred
five remember step early hold west ground interest reach fast verb sing listen six
table travel less morning ten simple several vowel toward war lay against pattern
slow center love person money serve appear road map rain rule govern pull cold
notice voice unit power town fine certain fly fall lead cry dark machine note wait
plan figure star box noun field rest correct able pound done beauty drive stood
contain front teach week final gave green oh quick develop ocean warm free minute
strong special mind behind clear tail produce fact street inch multiply nothing
course stay wheel full force blue object decide surface deep moon island foot
system busy test record boat common gold possible plane stead dry wonder laugh
thousand ago ran check game shape equate miss brought heat snow tire bring yes
distant fill east paint language among pills tonight idiot hate kill stupid die
hurt sad alone nobody anymore goodbye hello thanks please sorry help hope kind
welcome post forum reply thread user moderator report ban spam
worthless loser craving sober relapse meeting
"""


def vocabulary(extra: Sequence[str] = ()) -> list[str]:
    """Special tokens, then the word list and ``extra`` in order, without duplicates."""
    seen: dict[str, None] = dict.fromkeys(SPECIAL_TOKENS)
    for word in [*_WORDS.split(), *extra]:
        seen.setdefault(word.lower(), None)
    return list(seen)


def build_tiny_checkpoint(
    directory: Path,
    *,
    hidden_size: int = 32,
    layers: int = 2,
    heads: int = 2,
    intermediate: int = 37,
    labels: Sequence[str] = DETOXIFY_ORIGINAL_LABELS,
    seed: int = 0,
    vocab_size: int | None = None,
    max_positions: int = 512,
    filename: str = "detoxify-tiny.ckpt",
) -> tuple[Path, Path]:
    """Write ``<directory>/config/`` and ``<directory>/<filename>``; return (checkpoint, config dir).

    ``vocab_size`` pads the word list with synthetic ``##xN`` pieces up to that
    size (for benchmark-sized models). The tokenizer is saved without
    ``model_max_length`` on purpose, so tests catch code that relies on the
    tokenizer to bound input length.
    """
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    config_dir = directory / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    words = _padded(vocabulary(), vocab_size)
    vocab_file = config_dir / "vocab.txt"
    vocab_file.write_text("\n".join(words) + "\n", encoding="utf-8")
    BertTokenizer(vocab=str(vocab_file), do_lower_case=True)  # transformers 5: `vocab`, not `vocab_file`.save_pretrained(str(config_dir))
    config = BertConfig(
        vocab_size=len(words),
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        max_position_embeddings=max_positions,
        num_labels=len(labels),
        initializer_range=0.2,  # wider than BERT's 0.02 so random scores differ visibly between texts
    )
    config.save_pretrained(str(config_dir))
    with torch.random.fork_rng(devices=[]):  # seed without disturbing the caller's RNG
        torch.manual_seed(seed)
        state_dict = BertForSequenceClassification(config).state_dict()
    checkpoint = directory / filename
    torch.save(_checkpoint(config_dir, list(labels), state_dict), checkpoint)
    return checkpoint, config_dir


def cached_bert_base_checkpoint(directory: Path) -> tuple[Path, Path]:
    """The bert-base-shaped checkpoint in ``directory``, built there first if it is not (once per machine).

    ``make bench`` and the reliability suite's overload scenario share it (the same seed, the same bytes).
    """
    checkpoint, config_dir = directory / "detoxify-bert-base.ckpt", directory / "config"
    if checkpoint.is_file() and (config_dir / "config.json").is_file():
        return checkpoint, config_dir
    return build_bert_base_checkpoint(directory)


def build_bert_base_checkpoint(directory: Path, *, seed: int = 0) -> tuple[Path, Path]:
    """A random checkpoint the size of Detoxify ``original`` (bert-base-uncased, ~110M parameters, ~440 MB)."""
    return build_tiny_checkpoint(
        directory,
        hidden_size=768,
        layers=12,
        heads=12,
        intermediate=3072,
        seed=seed,
        vocab_size=30522,
        filename="detoxify-bert-base.ckpt",
    )


def _padded(words: list[str], size: int | None) -> list[str]:
    if size is None or size <= len(words):
        return words
    return words + [f"##x{i}" for i in range(size - len(words))]


def _checkpoint(config_dir: Path, classes: list[str], state_dict: dict) -> dict:
    return {
        "config": {
            "arch": {
                "type": "BERT",
                "args": {
                    "model_type": str(config_dir.resolve()),
                    "model_name": "BertForSequenceClassification",
                    "tokenizer_name": "BertTokenizer",
                    "num_classes": len(classes),
                },
            },
            "dataset": {"args": {"classes": classes}},
        },
        "state_dict": state_dict,
    }


# Words the marker model scores as abusive (see build_marker_checkpoint).
MARKER_WORDS: tuple[str, ...] = ("idiot", "stupid", "worthless", "loser")
_MARKED_LABELS = ("toxicity", "insult", "obscene", "toxic")


def build_marker_checkpoint(directory: Path, *, markers: Sequence[str] = MARKER_WORDS) -> tuple[Path, Path]:
    """A tiny checkpoint with *planted* weights: abuse labels fire on ``markers`` in short texts.

    Random weights score every text alike, so an end-to-end test could not show
    a post being held for abuse. This one-layer BERT is wired by hand:

    * every word embedding is random except along hidden dimension 0, where
      marker words carry a spike and other words sit exactly at their mean (so
      LayerNorm maps them to 0 there); position and type embeddings are zero;
    * attention has zero query/key weights, hence uniform attention, and
      identity value/output maps: [CLS] becomes itself plus the mean of the
      sequence, so dimension 0 measures the share of marker tokens;
    * the feed-forward block is zero (a no-op through the residual), the pooler
      is the identity before its tanh, and the classifier reads dimension 0
      for the abuse labels (``threat`` and the rest stay near 0.02).

    A marker word in a text of up to a dozen tokens scores above 0.8; texts
    without one score about 0.02. It runs through Detoxify's real loading and
    prediction code like any checkpoint.
    """
    import torch

    checkpoint, config_dir = build_tiny_checkpoint(directory, layers=1, heads=2, hidden_size=32, intermediate=8)
    loaded = torch.load(checkpoint, weights_only=False)
    state = loaded["state_dict"]
    vocab = (config_dir / "vocab.txt").read_text(encoding="utf-8").split("\n")
    index = {word: i for i, word in enumerate(vocab) if word}
    generator = torch.Generator().manual_seed(7)
    hidden = state["bert.embeddings.word_embeddings.weight"].shape[1]
    words = torch.randn(state["bert.embeddings.word_embeddings.weight"].shape, generator=generator)
    words[:, 0] = words[:, 1:].mean(dim=1)  # LayerNorm then puts ordinary words at exactly 0 on dimension 0
    for marker in markers:
        words[index[marker]] = 0.0
        words[index[marker], 0] = 10.0  # a pure spike: LayerNorm maps it to sqrt(hidden - 1) on dimension 0
    identity = torch.eye(hidden)
    planted = {
        "bert.embeddings.word_embeddings.weight": words,
        "bert.embeddings.position_embeddings.weight": torch.zeros_like(state["bert.embeddings.position_embeddings.weight"]),
        "bert.embeddings.token_type_embeddings.weight": torch.zeros_like(state["bert.embeddings.token_type_embeddings.weight"]),
    }
    layer = "bert.encoder.layer.0."
    for name in ("attention.self.query", "attention.self.key", "intermediate.dense", "output.dense"):
        planted[f"{layer}{name}.weight"] = torch.zeros_like(state[f"{layer}{name}.weight"])
        planted[f"{layer}{name}.bias"] = torch.zeros_like(state[f"{layer}{name}.bias"])
    for name in ("attention.self.value", "attention.output.dense"):
        planted[f"{layer}{name}.weight"] = identity.clone()
        planted[f"{layer}{name}.bias"] = torch.zeros(hidden)
    planted["bert.pooler.dense.weight"] = identity.clone()
    planted["bert.pooler.dense.bias"] = torch.zeros(hidden)
    classes = loaded["config"]["dataset"]["args"]["classes"]
    classifier = torch.zeros_like(state["classifier.weight"])
    for row, label in enumerate(classes):
        if label in _MARKED_LABELS:
            classifier[row, 0] = 16.0
    planted["classifier.weight"] = classifier
    planted["classifier.bias"] = torch.full_like(state["classifier.bias"], -4.0)
    for name, tensor in planted.items():
        assert name in state, f"unexpected parameter name {name}"
        state[name] = tensor
    torch.save(loaded, checkpoint)
    return checkpoint, config_dir
