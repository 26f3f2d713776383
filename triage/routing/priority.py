"""An explainable 0–100 priority: every point comes with the reason it was given."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

INTENT_POINTS = {"complaint": 30, "question": 20, "advocacy": 8, "other": 0}
URGENT_POINTS = 50  # above any complaint without reach: safety and legal risk come first
URGENCY_RE = re.compile(
    r"\b(emergency|urgent(ly)?|asap|danger(ous)?|unsafe|safety (issue|concern|hazard|risk|problem)|"
    r"injur(ed|y|ies)|hospital|on fire|smoke (in|on|from)|"
    r"hack(ed|er)|fraud(ulent)?|scam(med)?|stolen|identity theft|data (breach|leak)|"
    r"lawyer|attorney|legal action|su(e|ing) (you|them|the company|your company)|lawsuit|small claims|"
    r"stranded|stuck (on|at|in) (the )?(tarmac|plane|runway|airport|gate|lift|elevator|station)|trapped|"
    r"missed (my )?(connection|funeral|wedding|surgery)|"
    r"going to the (press|media)|journalist|reporter|going viral|boycott|"
    r"discriminat\w*|harass\w*|racis[mt]|threat(en(ed|ing)?)?)\b",
    re.IGNORECASE,
)
# Harm to a person, a fire, a breached account, a legal threat or money taken without consent: always a complaint
# (the sentiment rules read these too) and always urgent, however calmly it is worded. It reads lower-cased text:
# matching without IGNORECASE takes a third of the time, and tagging runs it on every post.
HARM_RE = re.compile(
    r"\b(?:caught (?:on )?fire|(?:burst|went up) (?:into|in) flames|(?:set|started|start) (?:a )?fire|fire (?:alarm"
    r"|hazard|risk)|flames|explod(?:ed|es|ing)|overheat(?:ed|ing|s)|spark(?:ed|ing)|sparks (?:came|flew|flying)"
    r"|electric(?:al)? shock"
    r"|electrocut\w+|(?<!not )(?<!n't )(?<!wouldn't )(?<!won't )(?<!doesn't )hurt (?:me|my|him|her|them|us|his|our"
    r"|their|badly|himself|herself|myself)"
    r"|(?:was|were|got|been|is|are|badly|seriously) (?:hurt|burn(?:ed|t)|cut|injured)"
    r"|burn(?:ed|t) (?:my|his|her|their|our)|injur(?:ed|y|ies)|bleeding|ambulance|a&e|emergency room"
    r"|(?:broke|broken|fractured) (?:my|his|her|their) (?:arm|leg|wrist|ankle|hand|foot|finger|nose|tooth|teeth)"
    r"|food poisoning|allergic reaction|choking hazard|poison(?:ed|ing)"
    r"|hack(?:ed|ers?)|compromised|(?:data|security) breach|identity theft|phish(?:ing|ed)"
    r"|someone (?:logged|got|broke) in(?:to)? (?:my|our)"
    r"|lawyers?|solicitors?|attorneys?|legal action|lawsuit|small claims|trading standards|ombudsman|chargeback"
    r"|(?:take|taking|see) (?:you|this|them|it) to court|su(?:e|ing) (?:you|them|the company|your company)"
    r"|unauthori[sz]ed|(?:never|didn'?t|did not|not) authori[sz]e[ds]?"
    r"|(?:charges?|payments?|orders?|transactions?|purchases?) (?:that )?(?:i|we) (?:never|didn'?t|did not)"
    r" (?:make|made|place|placed|order|ordered|agree|agreed|buy|bought|authori[sz]e)"
    r"|without (?:my|our) (?:permission|consent|knowledge|authori[sz]ation))\b"
)


@dataclass(frozen=True, slots=True)
class Priority:
    score: int
    reasons: list[dict[str, Any]]  # [{"factor", "points", "detail"}], largest first
    urgent: bool


def urgency_cues(text: str) -> list[str]:
    """Words that mean someone must look now (safety, security, legal, press), deduplicated."""
    seen: dict[str, None] = {}
    head = text[:5000]
    for pattern, read in ((HARM_RE, head.lower()), (URGENCY_RE, head)):
        for match in pattern.finditer(read):
            seen.setdefault(match.group(0).lower(), None)
    return list(seen)


def reach_points(followers: int | None) -> int:
    """0 points under 1,000 followers, then 5 per tenfold, capped at 20 (1M and more)."""
    if not followers or followers < 1000:
        return 0
    return min(20, int(5 * (math.log10(followers) - 2)))


def waiting_points(posted_at: datetime, now: datetime) -> int:
    """One point per 15 minutes of waiting, capped at 10: older items rise, but never above urgent ones."""
    minutes = max(0.0, (now - posted_at).total_seconds() / 60)
    return min(10, int(minutes // 15))


def score(
    *,
    text: str,
    intent: str,
    intent_confidence: float,
    sentiment: str,
    polarity: float,
    followers: int | None,
    posted_at: datetime,
    now: datetime,
) -> Priority:
    reasons: list[dict[str, Any]] = []

    def add(factor: str, points: int, detail: str) -> None:
        if points:
            reasons.append({"factor": factor, "points": points, "detail": detail})

    add("intent", round(INTENT_POINTS.get(intent, 0) * (0.5 + 0.5 * intent_confidence)),
        f"{intent} ({intent_confidence:.0%} sure)")
    if sentiment == "negative" or polarity < 0:
        add("negativity", round(min(1.0, abs(min(polarity, 0.0)) + (0.3 if sentiment == "negative" else 0)) * 15),
            f"negative tone (polarity {polarity:+.2f})")
    cues = urgency_cues(text)
    add("urgency", URGENT_POINTS if cues else 0, "urgent words: " + ", ".join(cues[:4]))
    add("reach", reach_points(followers), f"{followers:,} followers" if followers else "")
    add("waiting", waiting_points(posted_at, now), f"waiting {_duration(now - posted_at)}")
    reasons.sort(key=lambda r: -r["points"])
    raw = sum(r["points"] for r in reasons)
    total = max(0, min(100, raw))
    if raw > total:  # keep the explanation honest: the points shown always add up to the score
        reasons.append({"factor": "cap", "points": total - raw, "detail": "priorities stop at 100"})
    return Priority(score=total, reasons=reasons, urgent=bool(cues))


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h {minutes % 60} min" if hours < 48 else f"{hours // 24} days"
