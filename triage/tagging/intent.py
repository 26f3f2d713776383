"""Intent rules for brand mentions: complaint, question, advocacy or other.

Intent leans on the sentiment evidence: in customer-care traffic a negative mention is nearly always a
complaint, even when phrased as a question ("why is my order still not here?"), so complaint wins over question.
"""

from __future__ import annotations

import re

from triage.tagging.phrases import HOW_TO_RE
from triage.tagging.sentiment import SentimentResult

_WH = r"(?:what|when|where|which|who|whom|whose|why|how|any)\b(?!\s+(?:be|been)\b)"
# An auxiliary opens a question only when its subject follows ("would you", "is it"): "would recommend",
# "will do", "can confirm" are answers.
_AUX = (
    r"(?:is|are|am|was|were|do|does|did|can|could|will|would|should|shall|may|might|has|have|had)\s+(?:i|you|u|we"
    r"|yous|y'all|they|he|she|it|there|this|that|these|those|my|your|ur|our|their|his|her|the|a|an|any|anyone|anybody|someone"
    r"|somebody|everyone|anything)\b"
)
_SOMEONE = (
    r"(?:anyone|anybody|someone|somebody)\s+(?:know|knows|else|help|have|has|had|tried|able|pls|please|can|could"
    r"|tell|got|seen|experienc\w+|having|getting|using|here|out there)\b"
)
# A sentence opening with a wh-word or an inverted auxiliary reads as a question even without "?".
QUESTION_START_RE = re.compile(r"(?:^|[.!?\n,:])\s*(?:" + _WH + "|" + _AUX + "|" + _SOMEONE + ")", re.I)
QUESTION_PHRASE_RE = re.compile(
    r"\b(?:how (?:do|can|should|would|long|much|many|to)|can (?:you|u|someone|anyone|i|we)|could (?:you|u|someone|i|we)"
    r"|is (?:there|it possible)|are (?:there|you)|do (?:you|u|i|we)|does (?:anyone|it|this)|will (?:i|you|it|there)"
    r"|any (?:way|chance|idea|update|news|info|word)|anyone (?:know|else)|wondering|i was wondering|would like to know"
    r"|want(?:ed)? to know|need to know|please (?:advise|confirm|let me know|help|tell|explain)|let (?:me|us) know"
    r"|need (?:some )?help|help me|what(?:'s| is) the (?:best|status|policy)|who (?:do|can|should) i"
    r"|where (?:do|can|is)|when (?:will|does|do|is|can))\b",
    re.I,
)
# Customer-care agents sign replies with initials ("^JS", "-AB", "*TaraL"): those are not customer intents.
# Case matters here, or "- lol" at the end of a tweet would read as a signature.
AGENT_SIGNATURE_RE = re.compile(r"(?:\s[\^~][A-Z]{1,4}|\s-[A-Z]{2}|\s\*[A-Z][a-z]+[A-Z])\s*$")
BRAND_VOICE_RE = re.compile(
    r"\b(?:please (?:dm|follow) us|send us a (?:dm|direct message|private message)"
    r"|we(?:'re| are) (?:sorry|happy to help|here to help)|we(?:'d| would) (?:be happy|love) to)\b",
    re.I,
)
# Recommending or defending a brand to others, beyond thanking it.
ADVOCACY_RE = re.compile(
    r"\b(?:recommend\w*|(?:best|favou?rite) (?:\w+ )?(?:ever|app|brand|company|airline|bank|store|shop|service|team)"
    r"|(?:love|loving|loved) (?:you|u|it|this|the|my|your|how)|never (?:disappoints|fails)|switch(?:ed)? to|go with"
    r"|(?:always|only) (?:fly|use|shop|order|buy|bank|go with)|customer for life|five stars?|5 stars?|10/10|well done"
    r"|keep (?:it )?up|you (?:guys )?(?:rock|are (?:the best|amazing|awesome|great))|shout ?out|kudos|hats off)\b",
    re.I,
)


def question_cue(text: str) -> str | None:
    """Return a cue naming why `text` reads as a question or request, or None."""
    if "?" in text:
        return "question mark"
    if m := QUESTION_PHRASE_RE.search(text):
        return f"question: {m.group(0).lower()}"
    if m := QUESTION_START_RE.search(text):
        return "question: " + m.group(0).strip(" .!?\n,:").lower()
    return None


def classify_intent(text: str, sent: SentimentResult, question: str | None) -> tuple[str, float, list[str]]:
    """Pick an intent for `text` from its sentiment evidence and question cue; return (intent, confidence, cues)."""
    cues: list[str] = []
    if AGENT_SIGNATURE_RE.search(text) or BRAND_VOICE_RE.search(text):
        return "other", 0.6, ["brand reply"]
    if sent.label == "negative" and (sent.harm or sent.wants_person):
        # Harm, a hacked account, a legal threat or a plea for a person: a complaint even when asked as a question.
        return "complaint", round(min(0.95, 0.75 + 0.1 * len(sent.harm)), 3), cues
    if sent.label == "negative" and question is not None and not sent.sarcasm and sent.emoji_score >= 0 \
            and sent.trouble <= 1 and len(sent.failures) <= 2 and (m := HOW_TO_RE.search(text)):
        # Asking how to do something is a question, even about a failure ("how do I report a lost card").
        cues.append(f"how-to: {m.group(0).lower()}")
        return "question", 0.6, cues
    if sent.label == "negative":
        # A failure named outright is the surest complaint; bare negative tone is less certain.
        conf = 0.55 + 0.1 * min(len(sent.failures), 3) + 0.1 * sent.sarcasm + 0.3 * (sent.confidence - 0.55)
        return "complaint", round(min(conf, 0.95), 3), cues
    if question is not None:
        conf = 0.8 if question == "question mark" else 0.6
        return "question", round(conf - 0.15 * bool(sent.failures), 3), cues
    if sent.label == "positive":
        if m := ADVOCACY_RE.search(text):
            cues.append(f"advocacy: {m.group(0).lower()}")
            return "advocacy", 0.85, cues
        if sent.gratitude or sent.praise or sent.emoji_score > 0:
            return "advocacy", round(0.5 + 0.3 * (sent.confidence - 0.55) + 0.1 * sent.gratitude, 3), cues
        return "other", 0.45, cues
    return "other", round(0.4 + 0.4 * sent.confidence * (sent.label == "neutral"), 3), cues
