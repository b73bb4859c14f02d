"""One module per feature; each exposes ``register(application)``.

``FEATURES`` lists them in registration order; :mod:`bot.app` registers each one.
"""

from bot.handlers import (
    clients,
    due,
    maturity,
    refer,
    scripts,
    settings,
    start,
    stats,
    team,
    warm,
)

FEATURES = (start, clients, refer, warm, scripts, maturity, due, settings, stats, team)

__all__ = ["FEATURES"]
