"""The rules: sentiment and intent from how people write, with the cues that explain each tag.

`analyse` tags one mention and keeps the evidence behind its tags (`Evidence`), which a learned model builds on.
Nothing here knows of a model: `triage.tagging.classifier` is the front door that picks one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from triage.tagging.intent import classify_intent, question_cue
from triage.tagging.sentiment import SentimentResult, clean_for_lexicon
from triage.tagging.sentiment import analyse as analyse_sentiment

# Enough for several tweets' worth of text; longer input is analysed by its head so cost stays bounded.
MAX_ANALYSED_CHARS = 2000
MAX_CUES = 8  # enough to explain a tag at a glance

SURROGATE_RE = re.compile(r"[\ud800-\udfff]")
WORD_RE = re.compile(r"[^\W\d_]+")
# Short, frequent function words: cheap evidence of a language without any model.
STOPWORDS = {
    "en": frozenset(
        "the a an to and i you my is for of in it on me your this that with have be not are was can do no at we our"
        " get just will so but what how why when u im i'm it's don't can't been has had they there please thanks thank"
        " all from or if any would could should did".split()
    ),
    "es": frozenset(
        "el la los las que de y en por para es una un con mi mis su pero muy gracias hola esta está ha lo le se del al"
        " como porque nadie nada todavía ya".split()
    ),
    "fr": frozenset("le la les des est et je vous une un pour pas que dans avec mon sur merci bonjour ce".split()),
    "de": frozenset("der die das und ist ich nicht mit ein eine zu den von auf ist mein danke sie es wir kann".split()),
    "pt": frozenset("o os as que de e em um uma para com não meu minha obrigado muito por".split()),
    "it": frozenset("il lo gli che di e è un una per con non mio grazie sono della".split()),
    "nl": frozenset("de het een en ik niet van je is dat met voor op mijn dank".split()),
}


@dataclass(frozen=True, slots=True)
class Tags:
    """Tags for one mention; `cues` explain them to people."""

    sentiment: str
    polarity: float
    subjectivity: float
    sentiment_confidence: float
    intent: str
    intent_confidence: float
    cues: tuple[str, ...]
    language: str | None

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (built by hand: dataclasses.asdict deep-copies, a tenth of tagging's time)."""
        return {"sentiment": self.sentiment, "polarity": self.polarity, "subjectivity": self.subjectivity,
                "sentiment_confidence": self.sentiment_confidence, "intent": self.intent,
                "intent_confidence": self.intent_confidence, "cues": list(self.cues), "language": self.language}


def _sanitise(text: object) -> str:
    if text is None:
        return ""
    if not isinstance(text, str):
        text = str(text)
    if SURROGATE_RE.search(text):
        # Re-pair valid surrogate halves into real characters and replace lone ones instead of crashing later.
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def _clip(cue: str, limit: int = 60) -> str:
    # Cues quote the text; a 2,000-letter "word" must not become a 2,000-letter explanation.
    return cue if len(cue) <= limit else cue[: limit - 1] + "…"


def guess_language(text: str, *, cleaned: bool = False) -> str | None:
    """Guess a language code ("en", "es", ..., "und") or None when there are too few letters to tell."""
    words = WORD_RE.findall((text if cleaned else clean_for_lexicon(text)).lower())
    if not words:
        return None
    joined = "".join(words)
    # Latin letters incl. accents end at U+024F; mostly other scripts means not English (nor a language listed here).
    if not joined.isascii() and sum(ch <= "\u024f" for ch in joined) < 0.7 * len(joined):
        return "und"
    distinct = frozenset(words)
    counts = {lang: len(distinct & stop) for lang, stop in STOPWORDS.items()}
    best = max(counts, key=counts.__getitem__)
    if counts[best] == 0:
        # Short English mentions ("DM sent", "flight 123") often carry no stopword at all.
        return "en" if len(words) <= 6 else "und"
    if best != "en" and counts[best] > counts["en"] and counts[best] >= 2:
        return best
    return "en" if counts["en"] else best


@dataclass(slots=True)
class Evidence:
    """What the rules saw in one text: their tags, and the evidence behind them that a learned model builds on."""

    tags: Tags
    text: str  # sanitised and bounded
    body: str  # without URLs and handles, hashtags unwrapped
    sentiment: SentimentResult | None  # None: not English, so the rules did not analyse it
    question: str | None


def analyse(text: str) -> Evidence:
    """Tag one mention with the rules alone, keeping their evidence."""
    text = _sanitise(text)
    cues: list[str] = []
    if len(text) > MAX_ANALYSED_CHARS:
        text = text[:MAX_ANALYSED_CHARS]
        cues.append("truncated for analysis")
    body = clean_for_lexicon(text)
    language = guess_language(body, cleaned=True)
    if language not in ("en", None):
        tags = Tags("neutral", 0.0, 0.0, 0.2, "other", 0.2, (*cues, f"not English ({language})"), language)
        return Evidence(tags, text, body, None, None)
    question = question_cue(body)  # a "?" inside a URL asks nothing
    sent = analyse_sentiment(text, question is not None, body)
    intent, intent_conf, intent_cues = classify_intent(text, sent, question)
    if language is None:
        # Nothing but emoji, links or handles: any tag is a guess.
        cues.append("no words to analyse")
        intent_conf = min(intent_conf, 0.3)
        sent.confidence = min(sent.confidence, 0.4)
    cues.extend(sent.cues)
    if question:
        cues.append(question)
    cues.extend(intent_cues)
    tags = Tags(
        sentiment=sent.label,
        polarity=round(sent.polarity, 4),
        subjectivity=round(sent.subjectivity, 4),
        sentiment_confidence=sent.confidence,
        intent=intent,
        intent_confidence=intent_conf,
        cues=tidy_cues(cues),
        language=language,
    )
    return Evidence(tags, text, body, sent, question)


def tidy_cues(cues: Iterable[str]) -> tuple[str, ...]:
    """Cues as shown: clipped, without repeats, at most MAX_CUES."""
    return tuple(dict.fromkeys(_clip(c) for c in cues))[:MAX_CUES]
