"""The full-screen client (Textual, with trio as its guest)."""

from __future__ import annotations
