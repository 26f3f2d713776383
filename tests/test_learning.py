"""Learning from the team: training on labels, falling back to the rules, the model store, `triage train`,
`triage classify --zero-shot/--model`, the retrain job, the model page, and corrections in the web app changing
how new posts are tagged."""
from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from tests.conftest import _csrf, record
from triage.cli import main
from triage.core.vocabulary import INTENTS, SENTIMENTS
from triage.intake import ingest
from triage.models import Label, Mention, ModelVersion, User
from triage.tagging.classifier import classify, classify_many
from triage.tagging.learning import stacking
from triage.tagging.learning.examples import TASKS, Example
from triage.tagging.learning.features import rules_intent_given
from triage.tagging.learning.labels import import_labels, stored_examples
from triage.tagging.learning.model import FORMAT, LearnedModel
from triage.tagging.learning.overview import mixups
from triage.tagging.learning.stacking import Combiner
from triage.tagging.learning.store import activate, active_model, deactivate, models_dir
from triage.tagging.learning.training import fit
from triage.tagging.learning.versions import KEEP_PAYLOADS, follow_active, train
from triage.tagging.learning.words import NB_ALPHA, NB_CLIP, SVM_C, TOKEN_PATTERN, Texts, Vocabulary, WordModels
from workers import jobs

# An invented product whose failure ("blinking amber") no rule knows: only the team's labels can teach it.
PRODUCTS = ("zorbix hub", "zorbix mini", "zorbix pod", "zorbix dock", "zorbix base")
JARGON = ("my {p} is blinking amber", "{p} blinking amber since the update", "blinking amber on the {p} again")
PLAIN = ("the {p} ships in a grey box", "{p} firmware 2.1 is out today", "picked up a {p} at the mall")
PRAISE = ("the {p} is wonderful", "love my new {p}", "{p} works great, thank you")
ASKING = ("does the {p} work offline?", "where can I buy a {p}?", "how do I pair the {p}?")
NEW_POST = "my zorbix speaker is blinking amber"


def team_labels(per_template: int = len(PRODUCTS)) -> list[Example]:
    out = []
    for p in PRODUCTS[:per_template]:
        out += [Example(t.format(p=p), "negative", "complaint") for t in JARGON]
        out += [Example(t.format(p=p), "neutral", "other") for t in PLAIN]
        out += [Example(t.format(p=p), "positive", "advocacy") for t in PRAISE]
        out += [Example(t.format(p=p), "neutral", "question") for t in ASKING]
    return out


@pytest.fixture(autouse=True)
def no_model(settings):
    """Every test starts and ends with the rules: the model store lives in the session's instance folder."""
    deactivate(settings.instance_path)
    yield
    deactivate(settings.instance_path)
    shutil.rmtree(models_dir(settings.instance_path), ignore_errors=True)


def write_jsonl(path, records) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return str(path)


def ingest_texts(db, make_source, texts: list[str]) -> list[Mention]:
    records = [record(text=t) for t in texts]
    receipt = ingest.receive(db, make_source(), records)
    for delivery_id in receipt.delivery_ids:
        ingest.process_delivery(db, delivery_id)
    db.commit()
    by_id = {m.external_id: m for m in db.scalars(select(Mention).where(
        Mention.external_id.in_([r["id"] for r in records])))}
    return [by_id[r["id"]] for r in records]


# --- training --------------------------------------------------------------------------------------------------

def test_labels_teach_the_model_a_failure_the_rules_do_not_know():
    assert classify(NEW_POST, model=None).sentiment == "neutral"  # the rules have never heard of "blinking amber"
    result = fit(team_labels(), min_per_class=5)
    tags = classify(NEW_POST, model=result.model)
    assert (tags.sentiment, tags.intent) == ("negative", "complaint")
    assert tags.cues[0].startswith("learned model") and tags.polarity < 0
    # What the labels taught is shown as the reason: the pair rather than its two words, and no plain words.
    assert tags.cues[1] == "taught: \u201cblinking amber\u201d"
    assert classify("the zorbix hub is blinking amber again", model=result.model).cues[1].startswith(
        "taught: \u201cblinking amber\u201d")
    # Posts unlike the labels keep what the rules know.
    assert classify("my flight was cancelled and nobody helps", model=result.model).sentiment == "negative"
    assert classify("how do I reset my password?", model=result.model).intent == "question"


def test_the_model_learns_what_a_shared_link_means_though_the_words_never_see_it():
    # This team tags a bare "<product> user manual" as a request for it, and the same words with a link as sharing.
    docs = ("{p} user manual", "{p} setup guide", "{p} firmware notes")
    labels = team_labels()
    for p in PRODUCTS:
        for t in docs:
            text = t.format(p=p)
            labels += [Example(text, "neutral", "question"),
                       Example(f"{text} https://zorbix.example/{p.split()[1]}", "neutral", "other")]
    model = fit(labels, min_per_class=5).model
    assert classify("zorbix mini setup guide", model=model).intent == "question"
    assert classify("zorbix mini setup guide https://zorbix.example/guides/2", model=model).intent == "other"


@pytest.mark.parametrize("text", ["my order never arrived", "how do I pair the hub?", "love it, thanks!",
                                  "😀😀", "@zorbix 🙄", "the hub ships in a grey box"])
def test_the_intent_rules_told_a_sentiment_answer_as_if_asked_afresh(text):
    # The learned model reuses the rules' own intent when it agrees with their sentiment: that must change nothing,
    # posts without words included (their tags' confidence is capped after the rules run).
    from dataclasses import replace

    from triage.tagging.intent import classify_intent
    from triage.tagging.rules import analyse

    ev = analyse(text)
    for sentiment in SENTIMENTS:
        intent, confidence, _ = classify_intent(ev.text, replace(ev.sentiment, label=sentiment), ev.question)
        assert rules_intent_given(ev, sentiment) == (intent, confidence)


def test_the_word_models_score_as_scikit_learn_does():
    # Tagging keeps what scikit-learn fitted as arrays; its TF-IDF, SVM and naive Bayes must come out the same.
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.svm import LinearSVC

    labels = team_labels()
    words = [t.lower() for t in [e.text for e in labels] + ["blinking blinking amber!! ??", "", "nothing known"]]
    y = np.asarray([SENTIMENTS.index(e.sentiment) for e in labels])
    vocabulary = Vocabulary(words[: len(labels)])
    reference = CountVectorizer(token_pattern=TOKEN_PATTERN, ngram_range=(1, 2), lowercase=False,
                                min_df=1).fit(words[: len(labels)])
    assert vocabulary.index == reference.vocabulary_
    texts = Texts.of(vocabulary, words)
    assert (texts.counts != reference.transform(words)).nnz == 0
    assert texts.totals[-3:].tolist() == [13, 0, 3]  # 7 tokens ("!" and "?" each one) and 6 pairs; none; 2 and 1

    models = WordModels(texts[: len(labels)], y)
    tfidf = TfidfTransformer(sublinear_tf=True).fit(texts.counts[: len(labels)])
    assert np.allclose(models.tfidf(texts.counts).toarray(), tfidf.transform(texts.counts).toarray())
    # (Fitted on the same matrix: liblinear stops at a tolerance, so its solution moves with the last float bit.)
    svm = LinearSVC(C=SVM_C, class_weight="balanced", random_state=0).fit(
        models.tfidf(texts.counts[: len(labels)]), y)
    nb = MultinomialNB(alpha=NB_ALPHA).fit((texts.counts[: len(labels)] > 0).astype(float), y)
    log_p = nb.predict_log_proba((texts.counts > 0).astype(float))
    nb_columns = np.maximum(log_p - log_p.max(axis=1, keepdims=True), -NB_CLIP) / NB_CLIP
    coverage = models.columns(texts)[:, -1:]
    expected = np.hstack([svm.decision_function(models.tfidf(texts.counts)), nb_columns]) * coverage
    assert np.allclose(models.columns(texts)[:, :-1], expected, atol=1e-6)
    assert coverage[-2:].ravel().tolist() == [0.0, 0.0]  # no words, and words never seen: the rules decide


def test_tagging_with_a_saved_model_loads_neither_scikit_learn_nor_nltk(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "model.joblib"
    fit(team_labels(), min_per_class=5).model.save(path)
    script = (
        "import sys\n"
        "from triage.tagging.classifier import classify\n"
        "from triage.tagging.learning.model import LearnedModel\n"
        f"tags = classify({NEW_POST!r}, model=LearnedModel.load({str(path)!r}))\n"
        "print(tags.sentiment, tags.intent, *sorted(m for m in ('sklearn', 'nltk', 'joblib') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["negative", "complaint"]


@pytest.mark.parametrize("module", ["triage.learning", "triage.tagging.learning"])
def test_a_model_file_written_before_the_learning_modules_moved_still_loads(tmp_path, monkeypatch, module):
    # Pickles name classes by module: a file from an older triage says `triage.learning._Vocabulary` (or the
    # one-module `triage.tagging.learning`). Written here exactly so: the classes, for a moment, under those names.
    import pickle
    import sys
    import types

    model = fit(team_labels(), min_per_class=5).model
    classes = (Vocabulary, WordModels, Combiner)
    names = [(cls.__module__, cls.__qualname__) for cls in classes]
    old = types.ModuleType(module)
    monkeypatch.setitem(sys.modules, module, old)
    try:
        for cls in classes:
            setattr(old, f"_{cls.__name__}", cls)
            cls.__module__, cls.__qualname__ = module, f"_{cls.__name__}"
        data = model.dumps()
    finally:
        for cls, (where, name) in zip(classes, names, strict=True):
            cls.__module__, cls.__qualname__ = where, name
    monkeypatch.undo()
    assert module.encode() in data and b"_Vocabulary" in data and b"_Vocabulary" not in model.dumps()
    path = tmp_path / "model-1.joblib"
    path.write_bytes(data)
    assert pickle.dumps(LearnedModel.load(path).payload, protocol=pickle.HIGHEST_PROTOCOL) == model.dumps()
    assert classify_many([NEW_POST, "love my zorbix pod"], model=LearnedModel.load(path)) == classify_many(
        [NEW_POST, "love my zorbix pod"], model=model)


def test_not_english_keeps_the_rules_tags_under_a_learned_model():
    model = fit(team_labels(), min_per_class=5).model
    tags = classify("Hola, mi pedido no ha llegado todavía y nadie me responde", model=model)
    assert (tags.sentiment, tags.intent, tags.language) == ("neutral", "other", "es")
    assert not any(c.startswith("learned model") for c in tags.cues)


def test_a_task_below_the_minimum_falls_back_to_the_rules():
    labels = [Example(e.text, e.sentiment) for e in team_labels()]  # no intent labels at all
    result = fit(labels, min_per_class=5)
    assert result.model.learned("sentiment") and not result.model.learned("intent")
    assert result.scores["intent"]["learned"] is False
    assert "needs 5 labels per class" in result.scores["intent"]["reason"]
    tags = classify(NEW_POST, model=result.model)
    # Intent comes from the rules, told the learned sentiment: negative reads as a complaint.
    assert (tags.sentiment, tags.intent) == ("negative", "complaint")
    assert "learned model (sentiment)" in tags.cues


def test_no_model_below_the_minimum_in_every_task():
    result = fit(team_labels(per_template=1), min_per_class=5)  # 3 labels per class
    assert result.model is None
    assert result.counts["sentiment"] == {"negative": 3, "neutral": 6, "positive": 3}
    assert all(not result.scores[task]["learned"] for task in ("sentiment", "intent"))


def test_training_stores_cross_validated_scores_and_activates_the_newest_version(db, settings):
    import_labels(db, None, team_labels(), name="team.jsonl")
    db.commit()
    version, result = train(db, settings, min_per_class=5)
    stored = db.get(ModelVersion, version.id)
    assert stored.active and stored.label_count == len(team_labels())
    assert stored.counts["sentiment"] == {"negative": 15, "neutral": 30, "positive": 15}
    assert stored.counts["intent"] == {"complaint": 15, "question": 15, "advocacy": 15, "other": 15}
    for task in ("sentiment", "intent"):
        score = stored.scores[task]
        assert score["learned"] and 0.0 <= score["macro_f1"] <= 1.0 and score["folds"] == 5
        assert set(score["per_class"]) == set(TASKS[task])
    assert stored.scores["sentiment"]["macro_f1"] > 0.8  # the labels are consistent: CV finds that out
    assert (models_dir(settings.instance_path) / f"model-{version.id}.joblib").exists()
    assert classify(NEW_POST).cues[0] == f"learned model v{version.id} (sentiment, intent)"

    newer, _ = train(db, settings, min_per_class=5)
    assert newer.id > version.id
    assert [v.id for v in db.scalars(select(ModelVersion).where(ModelVersion.active.is_(True)))] == [newer.id]
    assert classify(NEW_POST).cues[0].startswith(f"learned model v{newer.id} ")  # reloaded without a restart


def test_too_few_labels_train_no_version(db, settings):
    import_labels(db, None, team_labels(per_template=1), name="team.jsonl")
    db.commit()
    version, result = train(db, settings, min_per_class=5)
    assert version is None and result.model is None
    assert db.scalar(select(func.count(ModelVersion.id))) == 0
    assert active_model() is None


def test_latest_correction_per_mention_wins(db, make_source, make_user):
    from triage.work import corrections

    [mention] = ingest_texts(db, make_source, ["the zorbix hub arrived"])
    agent = make_user("corrector")
    corrections.relabel(db, mention.id, agent, sentiment="negative")
    corrections.relabel(db, mention.id, agent, sentiment="positive", intent="advocacy")
    corrections.relabel(db, mention.id, agent, intent="other")
    db.commit()
    assert stored_examples(db) == [Example("the zorbix hub arrived", "positive", "other")]


def test_a_broken_model_file_leaves_tagging_to_the_rules(settings, tmp_path):
    broken = tmp_path / "broken.joblib"
    broken.write_bytes(b"not a model")
    activate(settings.instance_path, 9, broken)
    assert active_model() is None
    tags = classify(NEW_POST)
    assert tags.sentiment == "neutral" and not any(c.startswith("learned") for c in tags.cues)


def test_a_model_trained_on_older_features_is_refused_until_retrained(settings, tmp_path):
    model = fit(team_labels(), min_per_class=5).model
    model.payload["format"] = FORMAT - 1
    older = tmp_path / "older.joblib"
    model.save(older)
    with pytest.raises(ValueError, match="retrain"):
        LearnedModel.load(older)
    activate(settings.instance_path, 8, older)
    assert active_model() is None
    assert not any(c.startswith("learned") for c in classify(NEW_POST).cues)


# --- the command line ------------------------------------------------------------------------------------------

def test_triage_train_imports_the_file_trains_and_prints_scores(db, tmp_path):
    path = write_jsonl(tmp_path / "labels.jsonl", [{"text": e.text, "sentiment": e.sentiment, "intent": e.intent}
                                                   for e in team_labels()])
    result = CliRunner().invoke(main, ["train", "--input", path, "--min-per-class", "5"])
    assert result.exit_code == 0, result.output
    assert "60 labels imported" in result.output
    assert "sentiment: learned, cross-validated macro-F1" in result.output
    assert "learned model v" in result.output and "is active" in result.output
    assert db.scalar(select(func.count(Label.id)).where(Label.origin == "import")) == 60
    assert classify(NEW_POST).sentiment == "negative"


def test_triage_train_reads_a_csv_with_any_column_order_and_case(db, tmp_path):
    import csv

    path = tmp_path / "from the spreadsheet.csv"
    with path.open("w", newline="", encoding="utf-8-sig") as f:  # Excel writes a byte-order mark
        out = csv.writer(f)
        out.writerow(["Intent", "id", "Text", " Sentiment "])
        for i, e in enumerate(team_labels()):
            out.writerow([e.intent.title() if i % 2 else e.intent, i, e.text, "" if i % 3 == 0 else e.sentiment])
        out.writerow(["", "", "", ""])
        out.writerow(["question", "x", 'a "quoted", two-line\npost', ""])
    result = CliRunner().invoke(main, ["train", "--input", str(path), "--min-per-class", "5"])
    assert result.exit_code == 0, result.output
    assert "61 labels imported" in result.output
    stored = db.scalars(select(Label).order_by(Label.id)).all()
    assert [(s.text, s.sentiment, s.intent) for s in stored[:2]] == [
        (team_labels()[0].text, None, "complaint"), (team_labels()[1].text, "negative", "complaint")]
    assert (stored[-1].text, stored[-1].intent) == ('a "quoted", two-line\npost', "question")


@pytest.mark.parametrize(("rows", "message"), [
    ("text,mood\nfine,positive\n", 'line 1: a CSV needs a header with a "text" column and a "sentiment"'),
    ("text,sentiment\nfine,positive\nmeh,so-so\n", 'line 3: "sentiment" must be one of negative, neutral'),
    ("text,intent\n,question\n", 'line 2: "text" must be a non-empty string'),
    ("text,sentiment\nfine,\n", "line 2: no label"),
])
def test_triage_train_refuses_a_bad_csv_naming_the_line(db, tmp_path, rows, message):
    path = tmp_path / "labels.csv"
    path.write_text(rows, encoding="utf-8")
    result = CliRunner().invoke(main, ["train", "--input", str(path)])
    assert result.exit_code == 1
    assert message in result.output and "nothing was imported" in result.output
    assert db.scalar(select(func.count(Label.id))) == 0


@pytest.mark.parametrize(("lines", "message"), [
    (['{"text": "fine", "sentiment": "positive"}', "{oops"], "labels.jsonl: line 2: invalid JSON"),
    (['{"text": "fine", "sentiment": "great"}'], 'line 1: "sentiment" must be one of negative, neutral, positive'),
    (['{"text": "fine", "intent": "rant"}'], '"intent" must be one of complaint, question, advocacy, other'),
    (['{"sentiment": "positive"}'], 'line 1: missing "text" string'),
    (['{"text": "no label here"}'], "line 1: no label"),
    (['["a", "list"]'], "line 1: not a JSON object"),
    ([""], "no labelled records"),
])
def test_triage_train_refuses_bad_input_in_one_line_and_imports_nothing(db, tmp_path, lines, message):
    path = write_jsonl(tmp_path / "labels.jsonl", lines)
    result = CliRunner().invoke(main, ["train", "--input", path])
    assert result.exit_code == 1
    assert message in result.output and "nothing was imported" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert db.scalar(select(func.count(Label.id))) == 0


def test_triage_train_refuses_a_missing_file_and_undecodable_bytes(db, tmp_path):
    missing = CliRunner().invoke(main, ["train", "--input", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 1 and "nope.jsonl" in missing.output
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes(b'{"text": "caf\xe9", "sentiment": "positive"}\n')
    result = CliRunner().invoke(main, ["train", "--input", str(bad)])
    assert result.exit_code == 1 and "not UTF-8" in result.output


def test_triage_train_says_when_there_are_too_few_labels(db, tmp_path):
    path = write_jsonl(tmp_path / "few.jsonl", [{"text": "love it", "sentiment": "positive"}])
    result = CliRunner().invoke(main, ["train", "--input", path])
    assert result.exit_code == 1
    assert "no model trained" in result.output and "built-in rules" in result.output
    assert db.scalar(select(func.count(Label.id))) == 1  # the good labels are kept for later


def test_classify_uses_the_active_model_unless_zero_shot_or_another_file(db, settings, tmp_path):
    stdin = json.dumps({"id": 1, "text": NEW_POST}) + "\n"
    import_labels(db, None, team_labels(), name="team.jsonl")
    db.commit()
    version, _ = train(db, settings, min_per_class=5)

    active = json.loads(CliRunner().invoke(main, ["classify"], input=stdin).output)
    assert active["sentiment"] == "negative" and active["cues"][0].startswith(f"learned model v{version.id}")
    rules = json.loads(CliRunner().invoke(main, ["classify", "--zero-shot"], input=stdin).output)
    assert rules["sentiment"] == "neutral" and not any(c.startswith("learned") for c in rules["cues"])

    other = fit([Example(e.text, e.sentiment) for e in team_labels()], min_per_class=5).model
    other.save(tmp_path / "other.joblib")
    deactivate(settings.instance_path)
    picked = json.loads(CliRunner().invoke(main, ["classify", "--model", str(tmp_path / "other.joblib")],
                                           input=stdin).output)
    assert picked["cues"][0] == "learned model (sentiment)"

    junk = tmp_path / "junk.joblib"
    junk.write_text("hello")
    refused = CliRunner().invoke(main, ["classify", "--model", str(junk)], input=stdin)
    assert refused.exit_code == 1 and "not a triage model file" in refused.output
    both = CliRunner().invoke(main, ["classify", "--zero-shot", "--model", str(junk)], input=stdin)
    assert both.exit_code == 2


def test_classify_batches_keep_order_and_errors_in_place(db, settings):
    import_labels(db, None, team_labels(), name="team.jsonl")
    db.commit()
    train(db, settings, min_per_class=5)
    lines = [json.dumps({"id": i, "text": NEW_POST if i % 2 else "love my new zorbix lamp"}) for i in range(7)]
    lines.insert(3, "{broken")
    result = CliRunner().invoke(main, ["classify"], input="\n".join(lines) + "\n")
    records = [json.loads(line) for line in result.output.splitlines()]
    assert [r["id"] for r in records] == [0, 1, 2, None, 3, 4, 5, 6]
    assert [r.get("sentiment") for r in records if "error" not in r] == [
        "positive", "negative", "positive", "negative", "positive", "negative", "positive"]


# --- the job ---------------------------------------------------------------------------------------------------

def test_scheduled_retrain_runs_only_when_labels_came_in(db, monkeypatch):
    monkeypatch.setenv("TRIAGE_MIN_LABELS_PER_CLASS", "5")
    assert jobs.retrain() == {"trained": False, "reason": "no new labels since the active model"}
    import_labels(db, None, team_labels(), name="team.jsonl")
    db.commit()
    first = jobs.retrain()
    assert first["trained"] and first["scores"]["sentiment"]["learned"]
    assert jobs.retrain()["trained"] is False  # nothing new since
    assert jobs.retrain(force=True)["version"] > first["version"]  # the button retrains anyway


def test_scheduled_retrain_replaces_a_model_this_version_cannot_read(db, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("TRIAGE_MIN_LABELS_PER_CLASS", "5")
    import_labels(db, None, team_labels(), name="team.jsonl")
    db.commit()
    first = jobs.retrain()
    model = fit(team_labels(), min_per_class=5).model
    model.payload["format"] = FORMAT - 1  # as an older triage wrote it
    older = tmp_path / "older.joblib"
    model.save(older)
    activate(settings.instance_path, first["version"], older)
    assert active_model() is None  # the rules tag meanwhile
    again = jobs.retrain()
    assert again["trained"] and again["version"] > first["version"]
    assert active_model() is not None


def test_a_host_without_the_model_file_fetches_it_from_the_database(db, settings, tmp_path):
    # Host A trains; host B (another instance folder, the same database) has never seen the file.
    import_labels(db, None, team_labels(), name="team.jsonl")
    db.commit()
    version, _ = train(db, settings, min_per_class=5)
    other_host = tmp_path / "host-b"
    assert active_model(other_host) is None
    assert follow_active(db, other_host) == version.id
    model = active_model(other_host)
    assert model is not None and model.version == version.id
    assert classify(NEW_POST, model=model).sentiment == "negative"
    copy = models_dir(other_host) / f"model-{version.id}.joblib"
    written = copy.stat().st_mtime_ns
    assert follow_active(db, other_host) == version.id and copy.stat().st_mtime_ns == written  # kept


def test_only_the_newest_model_files_are_kept_in_the_database(db, settings):
    import_labels(db, None, team_labels(), name="team.jsonl")
    db.commit()
    versions = [train(db, settings, min_per_class=5)[0].id for _ in range(KEEP_PAYLOADS + 2)]
    db.expire_all()
    kept = db.scalars(select(ModelVersion.id).where(ModelVersion.payload.is_not(None)).order_by(ModelVersion.id))
    assert list(kept) == versions[-KEEP_PAYLOADS:]


def test_a_worker_on_a_new_host_tags_with_the_model_trained_elsewhere(db, settings, make_source, run_worker):
    import_labels(db, None, team_labels(), name="team.jsonl")
    db.commit()
    version, _ = train(db, settings, min_per_class=5)
    shutil.rmtree(models_dir(settings.instance_path))  # as on a host that has never trained
    source = make_source()
    receipt = ingest.receive(db, source, [record(text="zorbix pod blinking amber since the update")])
    db.commit()
    jobs.enqueue_deliveries(settings, receipt.delivery_ids)
    run_worker()
    db.expire_all()
    mention = db.scalar(select(Mention))
    assert mention.cues[0] == f"learned model v{version.id} (sentiment, intent)"
    assert (mention.sentiment, mention.intent) == ("negative", "complaint")


# --- the model page --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("role", "status"), [("agent", 403), ("supervisor", 403), ("lead", 200), ("admin", 200)])
def test_model_page_is_for_leads_and_admins(client, login, role, status):
    login(role)
    assert client.get("/model").status_code == status
    assert client.get("/model/status").status_code == status
    assert client.post("/model/retrain", data={}).status_code in ((400, 403) if status == 403 else (400,))
    nav = client.get("/queues").get_data(as_text=True)
    assert ('href="/model"' in nav) is (status == 200)


def test_model_page_needs_a_login(client):
    response = client.get("/model")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_model_page_without_a_model_explains_the_rules_are_in_charge(client, login):
    login("lead")
    page = client.get("/model").get_data(as_text=True)
    assert "No model yet: tagging uses the built-in rules." in page
    assert "import a labelled file below" in page and "Import labels" in page and "Retrain now" in page


def test_model_page_shows_version_date_labels_scores_and_waiting_labels(db, settings, client, login):
    import_labels(db, None, team_labels(), name="team.jsonl")
    db.commit()
    version, _ = train(db, settings, min_per_class=5)
    import_labels(db, None, team_labels(per_template=1), name="team.jsonl")  # 12 more since the model was trained
    db.commit()
    login("lead")
    page = client.get("/model").get_data(as_text=True)
    assert f"<b>v{version.id}</b>" in page and "trained" in page
    assert "<b>60</b><span>labelled texts learned from" in page
    assert "<b>12</b><span>new labels since" in page
    assert f"{version.scores['sentiment']['macro_f1']:.2f}" in page and "negative" in page
    assert "No model yet" not in page


def test_retrain_button_enqueues_the_job_and_the_page_follows_it(db, client, login, run_worker, monkeypatch):
    monkeypatch.setenv("TRIAGE_MIN_LABELS_PER_CLASS", "5")
    import_labels(db, None, team_labels(), name="team.jsonl")
    db.commit()
    login("lead")
    token = _csrf(client.get("/model").get_data(as_text=True))
    assert client.post("/model/retrain", data={}).status_code == 400  # no CSRF token
    response = client.post("/model/retrain", data={"csrf_token": token})
    assert response.status_code == 303
    assert client.get("/model/status").get_json()["job"]["state"] == "queued"
    client.post("/model/retrain", data={"csrf_token": token})  # a second click does not queue a second job
    run_worker()
    status = client.get("/model/status").get_json()
    version = db.scalar(select(ModelVersion.id).where(ModelVersion.active.is_(True)))
    assert status["job"]["state"] == "finished" and status["active_version"] == version
    assert status["job"]["message"] == f"Done: learned model v{version} is active."
    assert db.scalar(select(func.count(ModelVersion.id))) == 1
    assert f"<b>v{version}</b>" in client.get("/model").get_data(as_text=True)


# --- the whole loop --------------------------------------------------------------------------------------------

def test_corrections_in_the_web_app_change_how_new_similar_posts_are_tagged(
        db, settings, make_source, client, login, run_worker, monkeypatch):
    monkeypatch.setenv("TRIAGE_MIN_LABELS_PER_CLASS", "3")
    corrections = (
        [(JARGON[i % 3].format(p=PRODUCTS[i % 5]), "negative", "complaint") for i in range(10)]
        + [(t.format(p=p), "neutral", "other") for t, p in zip(PLAIN, PRODUCTS[1:4], strict=True)]
        + [(t.format(p=p), "positive", "advocacy") for t, p in zip(PRAISE, PRODUCTS[2:5], strict=True)]
    )
    mentions = ingest_texts(db, make_source, [text for text, _, _ in corrections] + [NEW_POST])
    before = mentions[-1]
    assert before.sentiment == "neutral" and before.intent == "other"  # what the rules made of it

    login("agent")
    for mention, (_, sentiment, intent) in zip(mentions, corrections, strict=False):
        token = _csrf(client.get(f"/mentions/{mention.id}").get_data(as_text=True))
        response = client.post(f"/mentions/{mention.id}/relabel",
                               data={"sentiment": sentiment, "intent": intent, "csrf_token": token})
        assert response.status_code == 302, response.get_data(as_text=True)[:300]
    assert db.scalar(select(func.count(Label.id)).where(Label.origin == "correction")) == len(corrections)

    jobs.enqueue_retrain(settings)
    run_worker()
    version = db.scalar(select(ModelVersion).where(ModelVersion.active.is_(True)))
    assert version is not None and version.scores["sentiment"]["learned"]
    assert not version.scores["intent"]["learned"]  # no question was corrected: intent stays with the rules

    # A new product, in words the labels mostly hold (a post made of words they never showed stays with the rules).
    [after] = ingest_texts(db, make_source, ["the zorbix lamp is blinking amber since the update"])
    assert (after.sentiment, after.intent) == ("negative", "complaint")
    assert after.cues[0] == f"learned model v{version.id} (sentiment)"
    assert after.queue.slug != before.queue.slug
    assert classify_many([after.text], model=None)[0].sentiment == "neutral"  # the rules alone still miss it


def test_leads_import_a_labelled_file_in_the_browser_audited_and_learned_at_once(
        db, client, login, run_worker, monkeypatch):
    import io

    from triage.models import Event, User

    monkeypatch.setenv("TRIAGE_MIN_LABELS_PER_CLASS", "5")
    body = "text,sentiment,intent\n" + "".join(f'"{e.text}",{e.sentiment},{e.intent}\n' for e in team_labels())
    login("lead")
    token = _csrf(client.get("/model").get_data(as_text=True))
    response = client.post("/model/labels", data={"csrf_token": token, "file": (io.BytesIO(body.encode()), "team.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 303
    page = client.get("/model").get_data(as_text=True)
    assert "team.csv: 60 labelled texts imported (60 sentiment, 60 intent); retraining on them now." in page
    lead = db.scalar(select(User).where(User.role == "lead"))
    assert db.scalar(select(func.count(Label.id)).where(Label.origin == "import", Label.user_id == lead.id)) == 60
    event = db.scalar(select(Event).where(Event.action == "imported labels"))
    assert (event.actor_id, event.mention_id, event.to_state, event.detail["labels"]) == (lead.id, None, "team.csv", 60)
    assert "imported labels" in client.get("/audit?action=imported+labels").get_data(as_text=True)

    run_worker()  # the retrain the import queued
    assert classify(NEW_POST).sentiment == "negative"
    page = client.get("/model").get_data(as_text=True)
    assert 'data-confusion="sentiment"' in page and 'data-confusion="intent"' in page


@pytest.mark.parametrize(("content", "name", "message"), [
    (b'{"text": "fine", "sentiment": "positive"}\n{"text": "meh", "sentiment": "so-so"}\n', "labels.jsonl",
     'labels.jsonl: line 2: "sentiment" must be one of negative, neutral, positive'),
    (b"text,sentiment\ncaf\xe9,positive\n", "latin1.csv", "latin1.csv: not UTF-8 text"),
    (b"", "empty.csv", "empty.csv: no labelled records"),
])
def test_a_bad_labelled_file_in_the_browser_is_refused_whole_naming_the_line(db, client, login, content, name,
                                                                              message):
    import html
    import io

    login("lead")
    token = _csrf(client.get("/model").get_data(as_text=True))
    client.post("/model/labels", data={"csrf_token": token, "file": (io.BytesIO(content), name)},
                content_type="multipart/form-data")
    page = html.unescape(client.get("/model").get_data(as_text=True))
    assert message in page and "Nothing was imported." in page
    assert db.scalar(select(func.count(Label.id))) == 0


def test_an_uploaded_files_name_is_shown_without_its_folders_and_cut_to_fit(db, client, login):
    import io

    from triage.models import Event

    login("lead")
    token = _csrf(client.get("/model").get_data(as_text=True))
    name = "/home/lee/" + "x" * 300 + ".csv"
    client.post("/model/labels", data={"csrf_token": token, "file": (io.BytesIO(b"text,sentiment\nfine,positive\n"),
                                                                     name)}, content_type="multipart/form-data")
    event = db.scalar(select(Event).where(Event.action == "imported labels"))
    assert event.to_state == "x" * 120


def test_agents_cannot_import_labels(db, client, login):
    import io

    login("agent")
    token = _csrf(client.get("/work").get_data(as_text=True))
    response = client.post("/model/labels", data={"csrf_token": token,
                                                  "file": (io.BytesIO(b"text,sentiment\nfine,positive\n"), "a.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 403
    assert db.scalar(select(func.count(Label.id))) == 0


def test_importing_labels_is_audited_from_the_console_and_the_web_and_refused_to_agents(db, client, login, make_user,
                                                                                        tmp_path):
    import io

    from triage.core.errors import Forbidden
    from triage.models import Event

    def imports() -> list[tuple[int | None, str | None, str | None, dict]]:
        db.expire_all()
        return [(e.actor_id, e.to_state, e.reason, e.detail) for e in db.scalars(
            select(Event).where(Event.action == "imported labels").order_by(Event.id))]

    # At the console (`triage train --input`): no user, the operator.
    path = write_jsonl(tmp_path / "console.jsonl", [{"text": "my hub is blinking amber", "sentiment": "negative"},
                                                    {"text": "where is the zorbix store?", "intent": "question"}])
    result = CliRunner().invoke(main, ["train", "--input", path])
    assert "2 labels imported" in result.output and result.exit_code == 1, result.output  # too few labels to learn
    [(actor, name, reason, detail)] = imports()
    assert (actor, name) == (None, path)
    assert reason == "2 labelled texts imported (1 sentiment, 1 intent) (by the operator at the console)"
    assert detail == {"by": "operator at the console", "labels": 2, "sentiment": 1, "intent": 1}

    # In the browser, by a lead.
    lead = login("lead")
    token = _csrf(client.get("/model").get_data(as_text=True))
    client.post("/model/labels", data={"csrf_token": token, "file": (io.BytesIO(b"text,intent\nhi there,other\n"),
                                                                     "lead.csv")}, content_type="multipart/form-data")
    lead_id = db.scalar(select(User.id).where(User.username == lead))
    assert imports()[1] == (lead_id, "lead.csv", "1 labelled texts imported (1 intent)",
                            {"by": lead, "labels": 1, "sentiment": 0, "intent": 1})
    assert db.scalar(select(func.count(Label.id)).where(Label.user_id == lead_id)) == 1

    # An agent is refused by the domain function itself, whoever calls it: nothing stored, nothing audited.
    agent = make_user("importer", "agent")
    with pytest.raises(Forbidden, match="an? agent cannot import labels"):
        import_labels(db, agent, [Example("my zorbix is fine", "positive")], name="agent.csv")
    db.rollback()
    assert len(imports()) == 2
    assert db.scalar(select(func.count(Label.id))) == 3


def test_what_the_model_mixes_up_is_counted_from_cross_validation():
    result = fit(team_labels(), min_per_class=5)
    confusion = result.scores["intent"]["confusion"]
    assert [sum(row) for row in confusion] == [result.counts["intent"][c] for c in INTENTS]
    hits = sum(confusion[i][i] for i in range(len(confusion)))
    assert hits / sum(map(sum, confusion)) == pytest.approx(result.scores["intent"]["accuracy"], abs=1e-4)
    mistakes = mixups(("a", "b"), [[8, 2], [5, 5]])
    assert [(m["label"], m["taken_for"], m["n"], m["share"]) for m in mistakes] == [
        ("b", "a", 5, 0.5), ("a", "b", 2, 0.2)]
    assert mixups(("a", "b"), None) == []


# --- posts unlike the labels: the rules stand ------------------------------------------------------------------

# Everyday posts in words no label holds; the rules read them as neutral.
UNFAMILIAR = ("the new store on main street opens friday", "our team meeting moved to thursday afternoon",
              "watching the football with my brother tonight", "the library has a new reading room",
              "my cousin visits from canada next month", "there is a farmers market by the station",
              "the train to leeds leaves at nine", "the museum opens a dinosaur wing in june")


def complaint_heavy_labels() -> list[Example]:
    """Four complaints for every other label, as one brand's corrections often come."""
    products = [f"zorbix {n}" for n in ("hub", "mini", "pod", "dock", "base", "max", "one", "go", "air", "pro", "lite",
                                        "duo", "flex", "edge", "core", "nano", "plus", "home", "view", "beam")]
    out = [Example(t.format(p=p), "negative") for p in products for t in JARGON]
    out += [Example(t.format(p=p), "neutral") for p in products[:5] for t in PLAIN]
    return out + [Example(t.format(p=p), "positive") for p in products[:5] for t in PRAISE]


@pytest.mark.parametrize("deferring", [True, False], ids=["as shipped", "without deferring to the rules"])
def test_a_mix_of_mostly_complaints_does_not_turn_unfamiliar_posts_negative(monkeypatch, deferring):
    # Each guard holds on its own: the intercept fitted without the label mix, and deferring to the rules on
    # posts made of words the labels never showed. (Before both, three of these eight came out negative.)
    if not deferring:
        monkeypatch.setattr(stacking, "DEFER_BELOW", 0.0)
        monkeypatch.setattr(stacking, "TRUST_ABOVE", 1e-9)
    model = fit(complaint_heavy_labels(), min_per_class=10).model
    assert model is not None and model.learned("sentiment")
    rules = [t.sentiment for t in classify_many(UNFAMILIAR, model=None)]
    assert rules == ["neutral"] * len(UNFAMILIAR)
    learned = classify_many(UNFAMILIAR, model=model)
    assert [t.sentiment for t in learned] == rules
    if deferring:  # and the tags say why
        assert all(any(c.startswith("unlike the labels (") for c in t.cues) for t in learned)
    # What the labels taught still counts on posts like them.
    assert classify("my zorbix speaker is blinking amber", model=model).sentiment == "negative"
