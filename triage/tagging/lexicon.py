"""TextBlob's review lexicon, read the way its pattern engine reads it, without loading the rest of TextBlob.

`pattern_sentiment(tokens)` scores a lower-cased text's tokens (`lexicon_tokens`): (polarity, subjectivity), with
the assessments behind it.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import types
from typing import Any


def _loadpattern_sentiment() -> Any:
    """The engine behind TextBlob's default PatternAnalyzer (`textblob.en.sentiment`), called directly: one call
    yields both the score and the assessments used for negation cues, and it needs no NLTK corpora.

    `textblob/__init__.py` imports TextBlob's blob classes and through them NLTK and SciPy's statistics, about
    2 s at every start of a worker or of `triage classify`, for nothing this engine uses. So `textblob.en` is
    imported under a bare stand-in for its package, and all of it is then taken out of `sys.modules` again: a
    later `import textblob` anywhere imports the real package afresh.
    """
    if "textblob" in sys.modules:
        return importlib.import_module("textblob.en").sentiment
    spec = importlib.util.find_spec("textblob")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("textblob is not installed")
    stand_in = types.ModuleType("textblob")
    stand_in.__path__ = list(spec.submodule_search_locations)
    sys.modules["textblob"] = stand_in
    try:
        return importlib.import_module("textblob.en").sentiment
    finally:
        for name in [n for n in sys.modules if n == "textblob" or n.startswith("textblob.")]:
            del sys.modules[name]


def _eager(engine: Any) -> Any:
    """The engine, its lexicon loaded now and read as a plain dict.

    The engine is a lazydict: every word looked up first asks whether the lexicon has loaded yet, a good part of
    the engine's time. A subclass with dict's own lookups takes that question away; what it answers is unchanged.
    """
    len(engine)  # loads the lexicon
    engine.__class__ = type("LoadedSentiment", (type(engine),),
                            {"__contains__": dict.__contains__, "__getitem__": dict.__getitem__, "get": dict.get})
    return engine


pattern_sentiment = _eager(_loadpattern_sentiment())
find_tokens = pattern_sentiment.tokenizer
_PATTERN = find_tokens.__globals__  # textblob._text: its tokenizer's punctuation and abbreviations
_EDGE_MARKS = tuple(_PATTERN["PUNCTUATION"].replace(".", ""))
_ABBREVIATIONS = frozenset(_PATTERN["ABBREVIATIONS"])
_LETTER_ABBREVIATION_RE = re.compile(r"(?:[A-Za-z]\.)+\Z")  # "a.", "u.s."
# Every emoticon in TextBlob's list, and its "(!)" for sarcasm, holds one of these (or a capital letter, and the
# text is lower-cased): a text without them needs none of the pattern tokenizer's rejoining of split marks.
EMOTICON_CHAR_RE = re.compile(r"[:;=()<>\u00b0\u2665]")
_QUOTES = ("\u201c", "\u201d", "\u2018", "\u2019", "'", '"')


def lexicon_tokens(lower: str) -> list[str]:
    """The words TextBlob's pattern engine reads from a lower-cased text, as its own tokenizer finds them.

    That tokenizer spends most of its time on rejoining emoticons and "(!)" that its punctuation splitting tore
    apart, and on finding sentence ends; for the many posts that hold no emoticon character this does the rest
    (the same splitting of contractions, quotes and edge punctuation, the same abbreviations) at a third of the
    cost. A test holds the two equal over real and random text.
    """
    if EMOTICON_CHAR_RE.search(lower):
        return " ".join(find_tokens(lower)).split()
    lower = lower.replace("n't", " n't")
    for quote in _QUOTES:
        if quote in lower:
            lower = lower.replace(quote, f" {quote} ")
    tokens: list[str] = []
    for t in lower.split():
        while t.startswith(_EDGE_MARKS):
            tokens.append(t[0])
            t = t[1:]
        tail = []
        while t.endswith(_EDGE_MARKS) or t.endswith("."):
            if t.endswith(_EDGE_MARKS):
                tail.append(t[-1])
                t = t[:-1]
            if t.endswith("..."):
                tail.append("...")
                t = t[:-3].rstrip(".")
            if t.endswith("."):
                if t in _ABBREVIATIONS or _LETTER_ABBREVIATION_RE.match(t):
                    break
                tail.append(".")
                t = t[:-1]
        if t:
            tokens.append(t)
        tokens.extend(reversed(tail))
    return tokens
