"""Sentiment for brand mentions: TextBlob polarity plus rules about how people complain and praise.

TextBlob's lexicon comes from product reviews, so it misses most of what makes a brand mention negative
(a cancelled order has no adjective in it) and reads sarcasm literally. The rules here add general
service-failure, gratitude, emoji and sarcasm knowledge that holds for any brand or industry (the phrases they
look for are in `triage.tagging.phrases`; the lexicon is read by `triage.tagging.lexicon`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from triage.routing.priority import HARM_RE
from triage.tagging.lexicon import lexicon_tokens, pattern_sentiment
from triage.tagging.phrases import (
    CLAIM_RE,
    EMOTICON_NEG_RE,
    EMOTICON_POS_RE,
    EXASPERATION_RE,
    FAILURE_RE,
    GRATITUDE_RE,
    HOW_TO_RE,
    HYPOTHETICAL_HARM_RE,
    HYPOTHETICAL_RE,
    IDIOM_RE,
    LITERAL_BEFORE_FOOT,
    MY_FOOT_RE,
    NEG_HASHTAG_RE,
    NEGATION_RE,
    NEGATIVE_EMOJI,
    POS_HASHTAG_RE,
    POSITIVE_EMOJI,
    PRAISE_RE,
    REASSURANCE_RE,
    RECOMMEND_RE,
    RECOVERY_RE,
    SARCASM_RE,
    SARCASM_WITH_FAILURE_RE,
    SCARE_QUOTE_RE,
    SO_CALLED_RE,
    TROUBLE_RE,
    WANTS_PERSON_RE,
    WISH_RE,
)

URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.I)
MENTION_RE = re.compile(r"(?<![\w@])@\w+")
HASHTAG_RE = re.compile(r"#(\w+)")
ELONGATED_RE = re.compile(r"\b\w*([a-z])\1{2,}\w*\b", re.I)
SQUEEZE_RE = re.compile(r"([a-z])\1{2,}", re.I)
CAPS_WORD_RE = re.compile(r"\b[A-Z][A-Z']{2,}\b")
LETTER_WORD_RE = re.compile(r"\b[^\W\d_]{3,}\b")
HTML_ENTITY_RE = re.compile(r"&(?:amp|gt|lt|quot|#39);")
HTML_ENTITIES = {"&amp;": "&", "&gt;": ">", "&lt;": "<", "&quot;": '"', "&#39;": "'"}


# Hand-set, then checked against labelled posts: a named failure outweighs a polite "thanks",
# which is how support teams read a mention.
WEIGHTS: dict[str, float] = {
    "lexicon": 0.7, "hashtag": 0.35, "failure": 0.35, "hypothetical_failure": 0.15, "trouble": 0.12,
    "negation": 0.15, "emoji": 0.15, "gratitude": 0.3, "polite_thanks": 0.1, "praise": 0.1, "unscored_praise": 0.3,
    "shouting": 0.2, "question_damping": 0.6, "question_damping_positive": 0.45, "harm": 0.45,
    "wants_person": 0.3, "recommend": 0.35, "recovered_failure": 0.05, "recovery": 0.15,
}  # fmt: skip
NEG_THRESHOLD = -0.12
POS_THRESHOLD = 0.2


@dataclass(slots=True)
class SentimentResult:
    """Sentiment of one text, with the evidence the intent rules reuse."""

    label: str = "neutral"
    polarity: float = 0.0
    subjectivity: float = 0.0
    confidence: float = 0.3
    failures: list[str] = field(default_factory=list)
    trouble: int = 0
    gratitude: bool = False
    praise: bool = False
    sarcasm: bool = False
    harm: list[str] = field(default_factory=list)  # harm, hacking, legal threats, money taken (not hypothetical)
    wants_person: bool = False
    emoji_score: int = 0
    cues: list[str] = field(default_factory=list)


def clean_for_lexicon(text: str) -> str:
    """Drop URLs and @-handles, unwrap hashtags and unescape the few HTML entities tweets carry."""
    text = URL_RE.sub(" ", text)
    text = MENTION_RE.sub(" ", text)
    text = HASHTAG_RE.sub(r"\1", text)
    if "&" in text:
        text = HTML_ENTITY_RE.sub(lambda m: HTML_ENTITIES[m.group(0)], text)
    return text


def _emoji(text: str, res: SentimentResult) -> None:
    pos: list[str] = []
    neg: list[str] = []
    if not text.isascii():  # the cheap test spares the per-character scan for most English posts
        pos = [c for c in text if c in POSITIVE_EMOJI]
        neg = [c for c in text if c in NEGATIVE_EMOJI]
    if m := EMOTICON_POS_RE.search(text):
        pos.append(m.group(0).strip())
    if m := EMOTICON_NEG_RE.search(text):
        neg.append(m.group(0).strip())
    res.emoji_score = len(pos) - len(neg)
    res.cues.extend(f"emoji {c}" for c in pos[:1] + neg[:1])


def analyse(text: str, question: bool = False, body: str | None = None) -> SentimentResult:
    """Score `text` (already sanitised and bounded); `question` softens tone, as asking is not yet complaining.

    `body` is `clean_for_lexicon(text)` when the caller already has it.
    """
    res = SentimentResult()
    cues = res.cues
    _emoji(text, res)
    body = clean_for_lexicon(text) if body is None else body
    if m := ELONGATED_RE.search(body):
        cues.append(f"elongated: {m.group(0)}")
        body = SQUEEZE_RE.sub(r"\1\1", body)  # "sooooo goooood" -> "soo good"-ish, closer to lexicon forms
    caps = CAPS_WORD_RE.findall(body)
    shouting = len(caps) >= 3 and len(caps) * 2 >= len(LETTER_WORD_RE.findall(body))
    if shouting:
        cues.append("shouting")
    lower = body.lower().replace("\u2019", "'")  # phones type curly apostrophes; the lexicons use straight ones
    if m := IDIOM_RE.search(lower):
        cues.append(f"idiom: {m.group(0)}")
        lower = IDIOM_RE.sub(" ", lower)

    score = pattern_sentiment(lexicon_tokens(lower))
    base, res.subjectivity = float(score[0]), float(score[1])
    for words, *_ in score.assessments:
        if len(words) > 1 and words[0] in ("not", "n't", "no", "never"):
            cues.append("negation: " + " ".join(words).replace(" n't", "n't"))
            break

    reassurance = REASSURANCE_RE.findall(lower)
    if reassurance:
        lower = REASSURANCE_RE.sub(" ", lower)
    res.failures = FAILURE_RE.findall(lower)
    hypothetical = question and bool(res.failures) and HYPOTHETICAL_RE.search(lower) is not None
    label = "asks about failure" if hypothetical else "service failure"
    harm = HARM_RE.findall(lower)
    if harm and question and HYPOTHETICAL_HARM_RE.search(lower):
        cues.append(f"asks about harm: {harm[0]}")
        res.failures += harm[:1]
    elif harm:
        res.harm = harm
        cues.append(f"serious: {harm[0]}")
    if m := WANTS_PERSON_RE.search(lower):
        res.wants_person = True
        cues.append(f"wants a person: {m.group(0)}")
    cues.extend(f"{label}: {f}" for f in dict.fromkeys(res.failures[:2]))
    hashtag = 0
    if "#" in text:
        neg_tags, pos_tags = NEG_HASHTAG_RE.findall(text), POS_HASHTAG_RE.findall(text)
        hashtag = (len(pos_tags) > len(neg_tags)) - (len(neg_tags) > len(pos_tags))
        if hashtag:
            cues.append(f"hashtag {(pos_tags if hashtag > 0 else neg_tags)[0]}")
    trouble = TROUBLE_RE.findall(lower)
    res.trouble = len(trouble)
    if trouble and not res.failures:
        cues.append(f"negative wording: {trouble[0]}")
    if m := EXASPERATION_RE.search(lower):
        res.trouble += 1
        cues.append(f"exasperation {m.group(0)}")
    negations = len(NEGATION_RE.findall(lower))
    thanks = GRATITUDE_RE.search(lower)
    res.gratitude = thanks is not None
    praise = reassurance + PRAISE_RE.findall(lower)
    recommend = None
    if "recommend" in lower:
        if any("recommend" in f for f in res.failures):  # "would not recommend" praises nothing
            praise = [p for p in praise if "recommend" not in p]
        else:
            recommend = RECOMMEND_RE.search(lower)
    if WISH_RE.search(lower):
        praise, recommend = [], None
        base = min(base, base * 0.5)  # halve only a positive pull: the praise is hoped for, not given
    if recommend:
        praise.insert(0, recommend.group(0))
    res.praise = bool(praise)
    # Only thanks or praise next to the fix counts: "nobody is helping" names no recovery.
    failed = bool(res.failures or res.harm)
    fix = RECOVERY_RE.search(lower) if failed and (res.gratitude or res.praise) else None
    recovered = fix is not None
    m = SARCASM_RE.search(lower) or (SARCASM_WITH_FAILURE_RE.search(lower) if res.failures and not recovered else None)
    irony = _irony(lower, bool(res.failures or res.trouble or res.emoji_score < 0)) if m is None else None
    if m or irony:
        res.sarcasm = True
        cues.append(f"sarcasm: {m.group(0).strip()}" if m else f"irony: {irony}")
    if fix is not None:
        cues.append(f"problem resolved: {fix.group(0)}")
    if thanks is not None:
        cues.append(f"gratitude: {thanks.group(0)}")
    if praise:
        cues.append(f"praise: {praise[0]}")

    w = WEIGHTS
    # A reported failure makes the lexicon's praise words unreliable ("great, now I'm stuck"), so cap their pull;
    # once the failure was put right and someone thanked for it, the praise is meant.
    pol = w["lexicon"] * (min(base, 0.1) if (failed and not recovered) or hashtag < 0 else base)
    pol += w["hashtag"] * hashtag
    failure_weight = w["recovered_failure" if recovered else "hypothetical_failure" if hypothetical else "failure"]
    pol -= failure_weight * min(len(res.failures), 3)
    pol -= (w["recovered_failure"] if recovered else w["harm"]) * min(len(res.harm), 2)
    pol -= w["wants_person"] * res.wants_person
    pol += w["recovery"] * recovered
    pol += w["recommend"] * bool(recommend)
    pol -= w["trouble"] * min(res.trouble, 3)
    pol -= w["negation"] * min(negations, 2)
    pol += w["emoji"] * max(-2, min(res.emoji_score, 2))
    if res.gratitude:
        # "Thanks" closing a question or an unresolved failure is politeness, not praise.
        pol += w["polite_thanks"] if (res.failures and not recovered) or question else w["gratitude"]
    # Praise the review lexicon already scores counts lightly; praise it lacks ("helpful", "kudos") counts fully.
    pol += sum(w["praise"] if p in pattern_sentiment else w["unscored_praise"] for p in praise[:2])
    if res.sarcasm:
        pol = min(-0.4, -abs(pol))
    if shouting and pol <= 0.1:
        pol -= w["shouting"]
    # A how-to's conditions ("without losing my photos") are no frustration either.
    calm = res.trouble == 0 or (res.trouble == 1 and HOW_TO_RE.search(lower) is not None)
    if question and not (res.sarcasm or res.harm or res.wants_person) and calm and res.emoji_score >= 0:
        # Asking about a delay is not yet complaining about one: questions carry weaker tone, praise most of all.
        pol *= w["question_damping"] if pol < 0 else w["question_damping_positive"]
    res.polarity = max(-1.0, min(1.0, pol))
    res.label, res.confidence = _label(res.polarity, len(cues))
    return res


def _irony(lower: str, trouble: bool) -> str | None:
    """The words that mock a claim ("'unlimited' data my foot"), or None: "my foot" after anything but a literal
    foot, or a quoted claim ("the 'express' delivery") in a post that reports trouble or calls it so-called."""
    if "my " in lower and (m := MY_FOOT_RE.search(lower)):
        before = (m.group(1) or "").strip(".,!?;:'\"")
        if before not in LITERAL_BEFORE_FOOT:
            return m.group(0).strip()
    if "'" in lower or '"' in lower or "\u2018" in lower or "\u201c" in lower:
        for q in SCARE_QUOTE_RE.finditer(lower):
            if CLAIM_RE.search(q.group(1)) and (trouble or SO_CALLED_RE.search(lower)):
                return q.group(0)
    return None


def _label(pol: float, n_cues: int) -> tuple[str, float]:
    """Map polarity to a label; confidence grows with the margin past the threshold and the evidence seen."""
    if pol <= NEG_THRESHOLD:
        margin = (NEG_THRESHOLD - pol) / (1.0 + NEG_THRESHOLD)
        return "negative", round(min(1.0, 0.55 + 0.45 * margin + 0.05 * n_cues), 3)
    if pol >= POS_THRESHOLD:
        margin = (pol - POS_THRESHOLD) / (1.0 - POS_THRESHOLD)
        return "positive", round(min(1.0, 0.55 + 0.45 * margin + 0.05 * n_cues), 3)
    # Neutral is most certain at zero polarity and fades towards either threshold.
    edge = POS_THRESHOLD if pol > 0 else -NEG_THRESHOLD
    return "neutral", round(max(0.3, 0.75 - 0.4 * abs(pol) / edge), 3)
