"""Placeholder registration for the team feature; its handlers are registered here."""

from __future__ import annotations

from telegram.ext import Application


def register(application: Application) -> None:
    """Add this feature's handlers to the application."""
