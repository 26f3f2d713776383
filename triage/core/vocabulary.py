"""The words the whole app shares: intents, sentiments, a mention's states, networks and their reply limits."""
from __future__ import annotations

import re

INTENTS = ("complaint", "question", "advocacy", "other")
SENTIMENTS = ("negative", "neutral", "positive")

# A mention's states; the transitions between them live in triage/work/ (see transitions.py). Who holds an item
# (the claim), who owns it and whether it is escalated are separate from its state.
NEW, OPEN, ANSWERED, RESOLVED, SPAM, IRRELEVANT = "new", "open", "answered", "resolved", "spam", "irrelevant"
STATUSES = (NEW, OPEN, ANSWERED, RESOLVED, SPAM, IRRELEVANT)
WORKABLE = (OPEN, ANSWERED)
CLOSED = (RESOLVED, SPAM, IRRELEVANT)

# A network's name as sources, posts and rules spell it: lower case, short, no spaces.
NETWORK_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")
# Reply limits of networks without a connector, for their imported and pushed posts; a connected network's limit
# is its connector's (`triage.intake.sources.reply_limit` asks there first).
REPLY_LIMITS = {"x": 280, "twitter": 280, "threads": 500, "instagram": 2200, "tiktok": 2200, "facebook": 8000,
                "linkedin": 1250, "youtube": 10000}
DEFAULT_REPLY_LIMIT = 5000


def reply_limit(network: str) -> int:
    """The longest reply a network without a connector takes (characters)."""
    return REPLY_LIMITS.get(network, DEFAULT_REPLY_LIMIT)
