"""The fixed vocabularies of the method, as the short codes stored in the database.

Labels for people live in the message catalogs under ``choices.<group>.<code>``; a test
checks that every code here has a label in every language.
"""

from __future__ import annotations

from typing import Final

# Where a client came from.
SOURCES: Final = ("warm", "referral", "bank", "maturity", "cold", "other")

# The 13 warm-market categories, numbered as the method numbers them.
WARM_CATEGORIES: Final = tuple(range(1, 14))

# The three grading axes, each graded A (best) to D.
GRADE_AXES: Final = ("timing", "willingness", "depth")
GRADES: Final = ("A", "B", "C", "D")

# Contact channels for a logged interaction, and for a referral's first contact.
CHANNELS: Final = ("phone", "sms", "wechat", "visit", "event")
FIRST_CONTACT_CHANNELS: Final = ("phone", "sms", "wechat", "visit")

# The five scopes of referral step 2 (A–E).
REFERRAL_SCOPES: Final = ("A", "B", "C", "D", "E")
# Referral step 5: through which relation the prospect is approached.
REFERRAL_APPROACHES: Final = ("introduce", "close", "heard")
# How the referrer lets their name be used, strongest first.
REFERRAL_PERMISSIONS: Final = ("written", "referrer", "use_name", "no_name")

# Maturity segmentation.
REGIONS: Final = ("city", "county", "township")
TRAITS: Final = ("loyal", "ordinary", "sensitive")

# Policies and their maturity cases.
POLICY_STATUSES: Final = ("active", "matured", "renewed", "paid_out")
CASE_STAGES: Final = ("organise", "prepare", "appoint", "visit", "report", "closed")
APPOINTMENT_RESULTS: Final = ("agreed", "refused", "no_answer")
CASE_OUTCOMES: Final = ("A", "B", "C")
RENEWAL_RESULTS: Final = ("renewed", "paid_out", "pending")

# Every vocabulary with catalog labels, by catalog group name.
LABELLED: Final = {
    "source": SOURCES,
    "axis": GRADE_AXES,
    "channel": CHANNELS,
    "scope": REFERRAL_SCOPES,
    "approach": REFERRAL_APPROACHES,
    "permission": REFERRAL_PERMISSIONS,
    "region": REGIONS,
    "trait": TRAITS,
    "stage": CASE_STAGES,
    "appointment": APPOINTMENT_RESULTS,
    "renewal": RENEWAL_RESULTS,
}
