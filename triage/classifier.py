"""Zero-shot tagging of brand mentions: sentiment and intent, with the cues that explain each tag.

Run as `python -m triage.classifier` to classify JSON Lines {"id", "text"} from stdin to stdout.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TextIO

from triage.intent import INTENTS, classify_intent, question_cue
from triage.sentiment import SENTIMENTS, analyse, clean_for_lexicon

__all__ = ["INTENTS", "SENTIMENTS", "Tags", "classify", "classify_jsonl", "classify_many"]

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

    def as_dict(self) -> dict:
        """Return a JSON-ready dict."""
        d = asdict(self)
        d["cues"] = list(self.cues)
        return d


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


def classify(text: str) -> Tags:
    """Tag one mention."""
    text = _sanitise(text)
    cues: list[str] = []
    if len(text) > MAX_ANALYSED_CHARS:
        text = text[:MAX_ANALYSED_CHARS]
        cues.append("truncated for analysis")
    body = clean_for_lexicon(text)
    language = guess_language(body, cleaned=True)
    if language not in ("en", None):
        return Tags("neutral", 0.0, 0.0, 0.2, "other", 0.2, (*cues, f"not English ({language})"), language)
    question = question_cue(body)  # a "?" inside a URL asks nothing
    sent = analyse(text, question is not None, body)
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
    return Tags(
        sentiment=sent.label,
        polarity=round(sent.polarity, 4),
        subjectivity=round(sent.subjectivity, 4),
        sentiment_confidence=sent.confidence,
        intent=intent,
        intent_confidence=intent_conf,
        cues=tuple(dict.fromkeys(_clip(c) for c in cues))[:MAX_CUES],
        language=language,
    )


def classify_many(texts: Iterable[str]) -> list[Tags]:
    """Tag many mentions, in order."""
    return [classify(t) for t in texts]


def classify_jsonl(lines: Iterable[str], out: TextIO) -> int:
    """Classify JSON Lines {"id", "text"} into `out`, one line per record, in order; return the number of bad lines.

    A bad line gets {"id": <id or null>, "error": "..."} and the run goes on; blank lines are not records.
    """
    errors = 0
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        rec_id = None
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict):
                raise ValueError("line is not a JSON object")
            rec_id = rec.get("id")
            text = rec.get("text")
            if not isinstance(text, str):
                raise ValueError('missing "text" string' if text is None else '"text" is not a string')
        except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError; deep nesting recurses
            errors += 1
            if isinstance(exc, json.JSONDecodeError):
                why = f"invalid JSON ({exc.msg})"
            else:
                why = str(exc) if isinstance(exc, ValueError) else "invalid JSON (nested too deeply)"
            msg = f"line {lineno}: {why}"
            out.write(json.dumps({"id": rec_id, "error": msg}) + "\n")
            continue
        tags = classify(text)
        out.write(json.dumps({"id": rec_id, **tags.as_dict()}) + "\n")
    return errors


if __name__ == "__main__":
    # Undecodable bytes become U+FFFD so one bad line cannot abort the whole batch.
    sys.stdin.reconfigure(errors="replace")  # type: ignore[union-attr]
    classify_jsonl(sys.stdin, sys.stdout)
