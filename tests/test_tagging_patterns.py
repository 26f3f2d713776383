"""How people write about brands, as the rules must read it: thanks for a fix, recommending, harm and legal threats,
asking for a person, how-to questions, modesty and idioms, and irony.

Every sentence here was written for this test, for brands of several kinds (shops, banks, telecoms, apps, couriers);
none comes from the demo source's phrases or from ../shared/data, so the rules cannot have been fitted to them.
"""
from __future__ import annotations

import pytest

from triage.routing import priority
from triage.tagging.classifier import classify


def tags(text: str):
    return classify(text, model=None)


def cue_with(t, prefix: str) -> str:
    found = [c for c in t.cues if c.startswith(prefix)]
    assert found, f"no cue starting {prefix!r} in {t.cues}"
    return found[0]


# A failure named inside thanks for putting it right is praise for whoever fixed it.
@pytest.mark.parametrize("text", [
    "my parcel went missing last week and your courier team tracked it down in a day. thank you!",
    "the app crashed at checkout but the chat agent sorted my order in five minutes, thanks",
    "got charged twice, the money was back in my account within two days. quicker than I expected, cheers",
    "laptop arrived damaged and a replacement was on my doorstep the next morning. respect",
    "my router broke on friday and the engineer fixed it saturday morning. great service",
])
def test_thanks_for_a_fixed_failure_is_praise(text):
    t = tags(text)
    assert (t.sentiment, t.intent) == ("positive", "advocacy"), t.cues
    assert cue_with(t, "problem resolved: ")  # naming the words that say so


def test_a_failure_without_its_fix_is_still_a_complaint():
    t = tags("my parcel went missing last week and nobody has called me back")
    assert (t.sentiment, t.intent) == ("negative", "complaint")


@pytest.mark.parametrize("text", [
    "setup took five minutes. would recommend",
    "been with this bank three years and would definitely recommend them",
    "easy returns and fast delivery, highly recommend",
    "recommend this broadband to anyone working from home",
])
def test_recommending_is_advocacy(text):
    t = tags(text)
    assert (t.sentiment, t.intent) == ("positive", "advocacy"), t.cues
    assert "recommend" in cue_with(t, "praise: ")


@pytest.mark.parametrize("text", [
    "would not recommend this phone plan to anyone",
    "I wouldn't recommend their delivery service",
])
def test_refusing_to_recommend_is_a_complaint(text):
    t = tags(text)
    assert (t.sentiment, t.intent) == ("negative", "complaint"), t.cues


# Harm, fire, a hacked account, a legal threat or money taken without consent: a complaint, and urgent, however
# calmly worded and even when asked as a question.
@pytest.mark.parametrize(("text", "words"), [
    ("my charger burst into flames on the kitchen table last night", "burst into flames"),
    ("the heater caught fire in my son's bedroom", "caught fire"),
    ("the scooter's brake failed and my daughter was hurt", "was hurt"),
    ("someone hacked my account and changed the email address", "hacked"),
    ("my account was compromised, what do I do now?", "compromised"),
    ("there is a £240 charge on my statement that I never authorised", "never authorised"),
    ("unauthorized transaction on my card from your online store", "unauthorized"),
    ("I have passed this on to my solicitor", "solicitor"),
    ("you will be hearing from my attorney", "attorney"),
])
def test_harm_security_legal_and_unauthorised_charges_are_urgent_complaints(text, words):
    t = tags(text)
    assert (t.sentiment, t.intent) == ("negative", "complaint"), t.cues
    assert cue_with(t, "serious: ") == f"serious: {words}"
    assert words in priority.urgency_cues(text)


@pytest.mark.parametrize("text", [
    "it wouldn't hurt to add a dark mode",
    "the fire tablet is on sale this week",
    "what if the battery overheats on a long flight, is that covered?",
])
def test_harm_words_in_other_senses_are_not_serious(text):
    t = tags(text)
    assert not any(c.startswith("serious: ") for c in t.cues), t.cues


@pytest.mark.parametrize("text", [
    "going round in circles with the virtual assistant. i want a human",
    "just put me through to a real person please",
    "can I speak to an actual human being?",
])
def test_asking_for_a_person_is_a_complaint(text):
    t = tags(text)
    assert (t.sentiment, t.intent) == ("negative", "complaint"), t.cues
    assert cue_with(t, "wants a person: ")


@pytest.mark.parametrize("text", [
    "how do I turn off the autoplay on videos",
    "how can I export my playlists to a new phone without losing them?",
    "how do i report a lost card",
    "is there a way to move my booking to a later date?",
    "how do I silence the alerts without turning off delivery updates?",
    "how can I stop the app from using mobile data when wifi is down?",
    "how do I get a refund for a cancelled order?",
])
def test_a_how_to_is_a_question(text):
    assert tags(text).intent == "question", tags(text).cues


def test_a_how_tos_conditions_are_no_frustration():
    t = tags("how do I back up my photos without paying for the bigger plan?")
    assert (t.sentiment, t.intent) == ("neutral", "question"), t.cues


@pytest.mark.parametrize("text", [
    "sorry if this is a dumb question but is the family plan worth the extra £8?",
    "silly question, does the premium tier include offline downloads",
])
def test_modesty_about_a_question_is_not_a_complaint(text):
    t = tags(text)
    assert (t.sentiment, t.intent) == ("neutral", "question"), t.cues
    assert cue_with(t, "idiom: ")


def test_a_tune_stuck_in_your_head_is_no_failure():
    t = tags("that jingle from your advert has been stuck in my head all day")
    assert t.sentiment != "negative" and t.intent != "complaint", t.cues


@pytest.mark.parametrize(("text", "words"), [
    ("'unlimited' data my foot. throttled after 2GB again", "my foot"),
    ("'seamless upgrade' my foot, half my files are gone", "my foot"),
    ("the 'express' delivery took nine days", "'express'"),
    ("so-called 'premium support' left me on hold for an hour", "'premium support'"),
    ("“fastest broadband in town” and the connection keeps dropping", "fastest broadband"),
])
def test_ironic_quotes_and_my_foot_turn_praise_round(text, words):
    t = tags(text)
    assert (t.sentiment, t.intent) == ("negative", "complaint"), t.cues
    assert words in cue_with(t, "irony: ")


@pytest.mark.parametrize("text", [
    "I dropped the speaker on my foot. still works though!",
    "my mum calls it the 'best bakery in town' and she is right",
])
def test_literal_feet_and_sincere_quotes_are_not_irony(text):
    t = tags(text)
    assert not any(c.startswith("irony: ") for c in t.cues), t.cues
    assert t.sentiment != "negative", t.cues


# --- after a person corrects a tag, the item says what they said ---------------------------------------------

def test_a_corrected_sentiment_shows_on_the_chip_and_in_the_priority_reasons(db, client, login):
    from sqlalchemy import select

    from tests.conftest import _csrf
    from tests.factories import queued_mention
    from triage.models import Mention

    m = queued_mention(db, "@northwind my parcel is late again and nobody answers the phone")
    assert m.sentiment == "negative" and m.polarity < 0
    assert "negativity" in {r["factor"] for r in m.priority_reasons}
    login("agent")
    token = _csrf(client.get(f"/mentions/{m.id}").get_data(as_text=True))
    response = client.post(f"/mentions/{m.id}/relabel", data={"sentiment": "positive", "intent": "advocacy",
                                                              "csrf_token": token})
    assert response.status_code == 302
    db.expire_all()
    after = db.scalar(select(Mention).where(Mention.id == m.id))
    assert (after.sentiment, after.intent) == ("positive", "advocacy") and after.polarity > 0
    assert "negativity" not in {r["factor"] for r in after.priority_reasons}
    page = client.get(f"/mentions/{m.id}").get_data(as_text=True)
    assert f"positive · {after.polarity:+.2f}" in page
    assert "negative tone" not in page
