"""The zero-shot classifier: tags and cues on invented brand mentions, hostile input, and the JSONL contract."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from triage.tagging.classifier import INTENTS, SENTIMENTS, Tags, classify, classify_jsonl, classify_many

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def rules_only(tmp_path, monkeypatch):
    """These tests are about the rules: an instance folder without a trained model keeps them in charge."""
    monkeypatch.setenv("TRIAGE_INSTANCE_PATH", str(tmp_path / "instance"))


def has_cue(tags: Tags, prefix: str) -> bool:
    return any(cue.startswith(prefix) for cue in tags.cues)


def test_cancelled_flight_nobody_helps_is_a_negative_complaint_with_a_failure_cue():
    tags = classify("my flight was cancelled and nobody helps")
    assert (tags.sentiment, tags.intent) == ("negative", "complaint")
    assert "service failure: cancelled" in tags.cues
    assert tags.polarity < 0


def test_service_failures_across_industries_are_complaints():
    posts = [
        "my card was charged twice for one coffee order",  # bank / retail
        "internet has been down since Monday and still no engineer",  # telecom
        "dinner arrived cold and an hour late, again",  # food delivery
        "the app keeps crashing every time I open my statement",  # software
        "parcel never arrived and the tracking page just says error",  # shipping
    ]
    for text in posts:
        tags = classify(text)
        assert (tags.sentiment, tags.intent) == ("negative", "complaint"), (text, tags)
        assert has_cue(tags, "service failure: "), (text, tags.cues)


def test_how_do_i_question_is_a_neutral_question():
    tags = classify("how do I reset my password?")
    assert (tags.intent, tags.sentiment) == ("question", "neutral")
    assert "question mark" in tags.cues


def test_question_without_question_mark_is_found_by_its_wording():
    tags = classify("can someone tell me when the new store opens")
    assert tags.intent == "question"
    assert has_cue(tags, "question: ")


def test_asking_whether_something_will_fail_is_a_question_not_a_complaint():
    tags = classify("Will my train tomorrow be delayed by the strike?")
    assert tags.intent == "question"
    assert tags.sentiment != "negative"


def test_recommendation_is_positive_advocacy():
    tags = classify("love the new app, highly recommend")
    assert (tags.sentiment, tags.intent) == ("positive", "advocacy")
    assert tags.intent_confidence >= 0.6


def test_thanks_after_a_fixed_problem_is_advocacy_not_a_complaint():
    tags = classify("Huge thanks to the support team, they sorted my refund within minutes!")
    assert (tags.sentiment, tags.intent) == ("positive", "advocacy")
    assert "gratitude: thanks" in tags.cues
    assert any(c.startswith("problem resolved: ") for c in tags.cues)  # naming the words that said so


def test_not_bad_at_all_is_not_negative():
    assert classify("not bad at all").sentiment != "negative"


def test_negated_praise_is_negative_and_explained():
    tags = classify("the new checkout is not good")
    assert tags.sentiment == "negative"
    assert "negation: not good" in tags.cues


def test_sarcasm_flips_literal_praise():
    sarcastic = {
        "thanks for nothing": "sarcasm: thanks for nothing",
        "great, another delay": "sarcasm: great, another",
        "love how my order still hasn't shipped": "sarcasm: love how",
    }
    for text, cue in sarcastic.items():
        tags = classify(text)
        assert tags.sentiment == "negative", (text, tags)
        assert tags.intent == "complaint", (text, tags)
        assert any(c.startswith(cue) for c in tags.cues), (text, tags.cues)
    # The same words said plainly stay positive.
    assert classify("thanks for the quick fix").sentiment == "positive"
    assert classify("great, another win for the team").sentiment == "positive"


def test_emoji_and_emoticons_carry_tone():
    angry = classify("my order 😡")
    assert angry.sentiment == "negative" and "emoji 😡" in angry.cues
    happy = classify("new menu 😍😍")
    assert happy.sentiment == "positive" and "emoji 😍" in happy.cues
    assert classify("waiting for the bus :(").polarity < classify("waiting for the bus :)").polarity


def test_shouting_elongation_and_hashtags_are_cues():
    shouting = classify("WHY IS MY INTERNET DOWN AGAIN")
    assert shouting.sentiment == "negative" and "shouting" in shouting.cues
    slow = classify("this app is sooooo slow")
    assert "elongated: sooooo" in slow.cues and slow.sentiment == "negative"
    tagged = classify("new phone update broke the camera #fail")
    assert "hashtag #fail" in tagged.cues and tagged.sentiment == "negative"


def test_mentions_and_urls_do_not_change_the_tag():
    bare = classify("the refund still hasn't arrived")
    dressed = classify("@AcmeBank the refund still hasn't arrived https://t.co/abc123 @someone")
    assert (bare.sentiment, bare.intent) == (dressed.sentiment, dressed.intent)


def test_brand_agent_reply_is_other():
    tags = classify("Sorry to hear that! Could you DM us your order number so we can check? ^JS")
    assert tags.intent == "other"
    assert "brand reply" in tags.cues


def test_plain_statement_is_neutral_other():
    tags = classify("The shop on Main Street opens at 9 tomorrow")
    assert (tags.sentiment, tags.intent) == ("neutral", "other")


def test_other_languages_are_other_neutral_with_low_confidence():
    for text, code in [
        ("Hola, mi pedido no ha llegado todavía y nadie me responde", "es"),
        ("Meine Bestellung ist nicht angekommen und ich warte seit einer Woche", "de"),
        ("注文した商品がまだ届きません", "und"),
    ]:
        tags = classify(text)
        assert (tags.sentiment, tags.intent, tags.language) == ("neutral", "other", code), (text, tags)
        assert tags.intent_confidence <= 0.3 and tags.sentiment_confidence <= 0.3
    assert classify("the package is late again").language == "en"


def test_tags_are_well_formed_and_json_ready():
    for text in ["my flight was cancelled", "how much is shipping?", "best pizza in town", "ok", ""]:
        tags = classify(text)
        assert tags.sentiment in SENTIMENTS and tags.intent in INTENTS
        assert -1.0 <= tags.polarity <= 1.0 and 0.0 <= tags.subjectivity <= 1.0
        assert 0.0 <= tags.sentiment_confidence <= 1.0 and 0.0 <= tags.intent_confidence <= 1.0
        assert isinstance(tags.cues, tuple) and all(isinstance(c, str) for c in tags.cues)
        d = tags.as_dict()
        assert json.loads(json.dumps(d)) == d
        assert d == {f.name: list(tags.cues) if f.name == "cues" else getattr(tags, f.name) for f in fields(Tags)}


def test_hostile_inputs_get_sensible_tags():
    for text in ["", "   \n\t", "😀🎉", "😡😡😡", "https://example.com/a?b=c", "@brand @other", "?!?!", "\x00\x01"]:
        tags = classify(text)
        assert tags.sentiment in SENTIMENTS and tags.intent in INTENTS, (text, tags)
    empty = classify("")
    assert (empty.sentiment, empty.intent, empty.language) == ("neutral", "other", None)
    assert empty.intent_confidence <= 0.3
    url = classify("https://example.com/a?b=c")
    assert (url.sentiment, url.intent) == ("neutral", "other")
    only_emoji = classify("😀🎉")
    assert only_emoji.sentiment == "positive" and only_emoji.language is None and only_emoji.intent_confidence <= 0.3


def test_long_text_is_truncated_for_analysis():
    tags = classify("my parcel is late and nobody answers the phone. " * 2200)  # about 100 KB
    assert "truncated for analysis" in tags.cues
    assert tags.intent == "complaint"
    one_word = classify("a" * 100_000)
    assert "truncated for analysis" in one_word.cues
    assert all(len(c) <= 60 for c in one_word.cues)


def test_invalid_surrogates_do_not_crash():
    lone = classify("refund please \ud800 \udfff")
    assert lone.intent in INTENTS
    json.dumps(lone.as_dict())
    paired = classify("great service \ud83d\ude00")  # a surrogate pair for 😀
    assert paired.sentiment == "positive" and "emoji 😀" in paired.cues


def test_classify_many_keeps_order_and_length():
    texts = ["how do I cancel my plan?", "worst support ever", "thank you so much, you rock", ""]
    result = classify_many(texts)
    assert [t.intent for t in result] == ["question", "complaint", "advocacy", "other"]
    assert classify_many(iter([])) == []


def test_classify_jsonl_keeps_order_and_reports_bad_lines():
    lines = [
        json.dumps({"id": "a", "text": "my order never arrived"}),
        "{not json",
        json.dumps({"id": 7, "body": "no text key"}),
        "",
        json.dumps(["a", "list"]),
        json.dumps({"id": "b", "text": None}),
        json.dumps({"id": "c", "text": "is there a student discount?"}),
        "[" * 100_000,
        json.dumps({"id": "d", "text": "love this shop"}),
    ]
    out = io.StringIO()
    errors = classify_jsonl((line + "\n" for line in lines), out)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert errors == 5
    assert [r["id"] for r in records] == ["a", None, 7, None, "b", "c", None, "d"]
    assert [r.get("intent") for r in records if "error" not in r] == ["complaint", "question", "advocacy"]
    good = records[0]
    assert {"id", "sentiment", "polarity", "intent", "intent_confidence", "cues"} <= set(good)
    bad = [r for r in records if "error" in r]
    assert "invalid JSON" in bad[0]["error"] and "text" in bad[1]["error"]
    assert all(set(r) == {"id", "error"} and r["error"] for r in bad)


def test_module_runs_as_a_filter_without_nltk_corpora(tmp_path):
    stdin = (
        json.dumps({"id": 1, "text": "my bill doubled and nobody will explain why"}) + "\n"
        + "garbage\n"
        + json.dumps({"id": 2, "text": "how do I update my address?"}) + "\n"
    ).encode() + b'{"id": 3, "text": "bad byte \xff here"}\n'
    env = {**os.environ, "NLTK_DATA": str(tmp_path)}  # an empty corpus directory
    done = subprocess.run([sys.executable, "-m", "triage.tagging.classifier"], input=stdin, capture_output=True,
                          env=env, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [r["id"] for r in records] == [1, None, 2, 3]
    assert records[0]["intent"] == "complaint" and records[2]["intent"] == "question"
    assert "error" in records[1] and "intent" in records[3]


def test_tagging_loads_textblobs_engine_without_nltk_and_textblob_still_imports_whole():
    # The engine is loaded without textblob/__init__ (which pulls in NLTK and SciPy: seconds at every start);
    # the package must still import as usual afterwards, and score as the engine does.
    script = (
        "import sys\n"
        "from triage.tagging.classifier import classify\n"
        "classify('not a good day')\n"
        "print('nltk' in sys.modules, 'textblob' in sys.modules)\n"
        "from triage.tagging.lexicon import lexicon_tokens, pattern_sentiment\n"
        "import textblob.en\n"
        "from textblob import TextBlob\n"
        "texts = ['the crew was really not helpful, awful day', 'not bad at all!!', 'great (!) another delay :(',\n"
        "         'very very good :-) thanks', \"i don't love it. it's u.s. made... meh\", 'awful', '']\n"
        "print(textblob.en.sentiment('awful') == pattern_sentiment('awful'),\n"
        "      all(tuple(TextBlob(t).sentiment) == tuple(pattern_sentiment(lexicon_tokens(t)))[:2] for t in texts))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "True", "True"]


def test_the_lexicon_sees_the_words_textblobs_own_tokenizer_finds():
    # The fast path must give the pattern engine exactly the tokens its own tokenizer would, on any text.
    import random

    from triage.tagging.lexicon import EMOTICON_CHAR_RE, find_tokens, lexicon_tokens

    fragments = ["not", "good", "can't", "won't", "it's", "i'd", "we're", "n't", "e.g.", "etc.", "u.s.", "a.", "mr.",
                 "no.", "great", "...", "..", ".", ",", "!", "?", "!!", "?!", "'", '"', "\u201c", "\u201d", "\u2018",
                 "\u2019", "-", "--", "&", "$5", "#fail", "@", "*", "+", "|", "~", "_", "`", "[", "]", "{", "}", "^",
                 "(", ")", "(!)", ":", ";", "=", "<3", ":-)", ":(", ";)", ":'(", ">:[", "8)", "\u00b0", "\u2665",
                 "\u2026", "\U0001f621", "3.5", "x", "d", "p", " ", "  ", "\n", "\n\n", "\r\n", "\t"]
    rng = random.Random(4)
    texts = ["", " ", "thanks for nothing...", "i didn't like it. at all!", "worst. flight. ever.",
             "it is not a good day (!) :-) ok"]
    for _ in range(20_000):
        texts.append("".join(rng.choice(fragments) + rng.choice(("", " ", " ", "")) for _ in range(rng.randint(1, 12))))
    fast = 0
    for text in texts:
        lower = text.lower()
        fast += EMOTICON_CHAR_RE.search(lower) is None
        assert lexicon_tokens(lower) == " ".join(find_tokens(lower)).split(), text
    assert 2_000 < fast < len(texts) - 2_000  # both the fast path and TextBlob's own tokenizer were tried
