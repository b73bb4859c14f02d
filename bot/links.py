"""Buttons that open one feature from another: the shared entry points between features.

Each feature's own buttons have codecs in its own module; these few are pressed from many
places (lists, the due list, cards, the maturity book), so they live here, where no
feature module has to import another. The owning module handles each.
"""

from __future__ import annotations

from bot.callbacks import Codec

# Owned by bot.handlers.clients: open a client's card; start logging a contact with them.
CLIENT_CARD = Codec("cc", client_id=int)
LOG_CONTACT = Codec("cl", client_id=int)

# Owned by bot.handlers.scripts: choose a talk track for a client.
SCRIPT_FOR_CLIENT = Codec("sc", client_id=int)

# Owned by bot.handlers.stats: a client's referral tree, two levels each way.
REFERRAL_TREE = Codec("xt", client_id=int)

# Owned by bot.handlers.maturity: open the maturity case of a policy.
OPEN_CASE = Codec("mc", policy_id=int)

# Owned by bot.handlers.team: a manager acknowledges ("ack") or replies ("reply") to an
# escalated maturity case.
ESCALATION = Codec("te", case_id=int, action=str)
