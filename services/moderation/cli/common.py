"""What the moderation commands share: the service's models and policy as the tools set them up, the
categories a decision's reasons name, the database connection and the exit on a bad setup.

A library module, not a command: ``classify`` and ``replay`` both read posts exactly as the service
does (the same detectors, the same ``DETOXIFY_*`` / ``POLICY_*`` variables) through what is here.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Any

import asyncpg

from services.common.config import EnvReader
from services.common.errors import ConfigError
from services.moderation.config import SCHEMA, learned_from_env, policy_from_env, toxicity_from_env
from services.moderation.detectors.learned import LearnedConfig, LearnedScorer
from services.moderation.detectors.pipeline import Detectors
from services.moderation.detectors.toxicity import ToxicityConfig, ToxicityScorer
from services.moderation.policy import Policy, load_document, merge

#: The labels of the corpus and the evaluation set (docs/labels.md), in the order reports list them.
LABELS = ("ok", "crisis", "abuse", "sourcing", "pii")
# Reason codes as the categories a tool reports (safety_review is part of crisis).
CATEGORY_OF_REASON = {"crisis": "crisis", "abuse": "abuse", "threat": "threat", "sourcing": "sourcing",
                      "privacy": "privacy", "watched": "watched", "automated_review_unavailable": "model_unavailable"}


def reason_categories(reasons: Iterable[dict[str, Any]]) -> list[str]:
    """The categories a decision's reasons name, in order, once each."""
    return list(dict.fromkeys(CATEGORY_OF_REASON[r["code"]] for r in reasons if r.get("code") in CATEGORY_OF_REASON))


# --- the models and the policy, as the service reads them --------------------------------------------------------


def add_model_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model (as the service: DETOXIFY_* variables; these flags win)")
    group.add_argument("--checkpoint", help="Detoxify checkpoint file (DETOXIFY_CHECKPOINT)")
    group.add_argument("--hf-config", dest="hf_config", help="its config/tokenizer directory (DETOXIFY_HF_CONFIG_PATH)")
    group.add_argument("--model", help="published model name when no checkpoint (DETOXIFY_MODEL)")
    group.add_argument("--batch-size", dest="batch_size", type=int, help="DETOXIFY_BATCH_SIZE")
    group.add_argument("--torch-threads", dest="torch_threads", type=int, help="TORCH_THREADS")
    group.add_argument("--device", help="DETOXIFY_DEVICE")
    group.add_argument("--int8", action="store_true", help="int8 dynamic quantization (DETOXIFY_INT8=1)")
    group.add_argument("--without-toxicity", dest="without_toxicity", action="store_true",
                       help="no Detoxify at all: the rules and the encoder's heads only (where no real weights exist)")


def model_environment(args: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, str]:
    """The service's variables, with the model flags written over them."""
    env = dict(environ)
    for flag, name in (("checkpoint", "DETOXIFY_CHECKPOINT"), ("hf_config", "DETOXIFY_HF_CONFIG_PATH"),
                       ("model", "DETOXIFY_MODEL"), ("batch_size", "DETOXIFY_BATCH_SIZE"),
                       ("torch_threads", "TORCH_THREADS"), ("device", "DETOXIFY_DEVICE")):
        if getattr(args, flag, None) is not None:
            env[name] = str(getattr(args, flag))
    if getattr(args, "int8", False):
        env["DETOXIFY_INT8"] = "1"
    return env


def load_setup(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[ToxicityConfig | None, LearnedConfig,
                                                                             Policy]:
    """(toxicity config or None with --without-toxicity, encoder config, policy), as the service reads them;
    ``args.policy``, where given, is a document merged onto the base policy (as a community's would be)."""
    env = EnvReader(model_environment(args, environ))
    toxicity = toxicity_from_env(env)
    learned = learned_from_env(env)
    policy = policy_from_env(env)
    env.raise_if_problems()
    if getattr(args, "policy", None):
        policy = Policy.from_document(merge(policy.as_json(), load_document(Path(args.policy))))
    return (None if getattr(args, "without_toxicity", False) else toxicity), learned, policy


@contextlib.asynccontextmanager
async def started_detectors(toxicity: ToxicityConfig | None, learned: LearnedConfig) -> AsyncIterator[Detectors]:
    """Detectors with their models loaded and warmed as the service runs them.

    ``toxicity`` None: no Detoxify at all (the evaluation, where no real weights exist).
    """
    encoder = LearnedScorer(learned)
    scorer = ToxicityScorer.from_config(toxicity) if toxicity else None
    try:
        await encoder.start()
        if scorer:
            await scorer.start()
        yield Detectors(scorer, encoder)
    finally:
        if scorer:
            await scorer.close()
        await encoder.close()


# --- the database and the exit status -------------------------------------------------------------------------------


async def connect(environ: Mapping[str, str], *, read_only: bool = False) -> asyncpg.Connection:
    """One connection to ``DATABASE_URL`` in moderation's schema; ``read_only``: it cannot write at all."""
    dsn = environ.get("DATABASE_URL", "").strip()
    if not dsn:
        raise ConfigError("DATABASE_URL is required")
    settings = {"search_path": SCHEMA, **({"default_transaction_read_only": "on"} if read_only else {})}
    return await asyncpg.connect(dsn, server_settings=settings)
