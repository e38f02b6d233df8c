"""Seeds for the challenge splits and for training.

Seeds are 128-bit values written as 32 hex digits (MICO stored them as files named
``seed_challenge``, ``seed_membership``, ``seed_training``; we keep those names).

Two modes:

* **secure** (default): every seed comes from the OS CSPRNG (:mod:`secrets`). Nothing that is
  published lets anyone recompute an unpublished seed, because there is nothing to recompute from.
* **master seed**: the organizer keeps one private master secret; each per-model seed is
  ``HMAC-SHA256(master, "<task>/<scenario>/<phase>/<index>/<role>")`` truncated to 128 bits.
  HMAC is a PRF, so publishing the challenge or training seed of a model reveals nothing about its
  membership seed, yet a rebuild with the same master secret is byte-identical.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

# The environment variable that holds the master secret (reproducible mode).
MASTER_SEED_ENV = "MICO_MASTER_SEED"

ROLES = ("challenge", "membership", "training", "train_run")
SEED_HEX_DIGITS = 32


def random_seed() -> str:
    """A fresh seed from the OS CSPRNG."""
    return secrets.token_hex(SEED_HEX_DIGITS // 2)


def derive_seed(master: str, task: str, scenario: str, phase: str, index: int, role: str) -> str:
    """One-way derivation of a per-model seed from the organizer's private master secret."""
    if role not in ROLES:
        raise ValueError(f"unknown seed role {role!r}; expected one of {', '.join(ROLES)}")
    if not master:
        raise ValueError("the master seed must not be empty")
    message = f"{task}/{scenario}/{phase}/{index}/{role}".encode()
    digest = hmac.new(master.encode(), message, hashlib.sha256).hexdigest()
    return digest[:SEED_HEX_DIGITS]


def model_seeds(
    master: str | None, task: str, scenario: str, phase: str, index: int
) -> dict[str, str]:
    """All seeds of one model: derived from ``master`` when given, else drawn from the CSPRNG."""
    if master is None:
        return {role: random_seed() for role in ROLES}
    return {role: derive_seed(master, task, scenario, phase, index, role) for role in ROLES}


def torch_seed(seed_hex: str) -> int:
    """Fold a 128-bit hex seed into the 63-bit integer torch generators accept."""
    return int(seed_hex, 16) & ((1 << 63) - 1)
