"""Registers the reasoning-gym adapter (``tracemint.synth.gym``) with the built-in families.

Cheap to import: reasoning-gym itself is imported only when a "gym" family is built.
"""

from __future__ import annotations

from tracemint.synth.gym import ReasoningGym

__all__ = ["ReasoningGym"]
