"""One module per feature; each exposes ``register(application)``.

``FEATURES`` lists them in registration order; :mod:`bot.app` registers each one.
"""

from bot.handlers import start

FEATURES = (start,)

__all__ = ["FEATURES"]
