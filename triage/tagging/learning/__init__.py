"""Learning from the team: train sentiment and intent models from labels, keep them, and tag with the newest.

Labels are people's corrections (stored by `workflow.relabel`) and imported labelled files. Per task, two
word models (a linear SVM on TF-IDF of words and word pairs, naive Bayes on their presence) give their
verdicts, and a logistic regression combines those with the rules' own evidence (polarity, failures named,
gratitude, questions, the rules' tags and, for intent, the learned sentiment) and with the post's form (a link, a
reply, a retweet, its length). The rules' evidence carries the model on posts unlike anything it learned from; the
words let it pick up how this brand's customers write. Two guards keep what one brand's labels taught from making
other posts worse: the combiner's intercept is fitted without the labels' class mix (CLASS_BALANCE), and on a post
whose words and word pairs the labels mostly never showed the model defers to the rules (DEFER_BELOW).
A task with fewer than `min_per_class` labels in any class is not learned: the rules keep tagging it.

Models live in `<instance>/models/`; `active.json` there names the active one, so tagging finds a new model
with one `stat` per batch and never asks the database.

The modules, from the labels to what leads see:
- `examples`: a labelled text (`Example`), the tasks and their classes, reading labelled files (JSON Lines, CSV)
- `features`: the rules' evidence and a post's form as numbers; the rules' verdict as where a model starts
- `words`: the vocabulary of words and word pairs, and the two word models
- `stacking`: the combiner of the word models' verdicts with the rules' evidence, and deferring to the rules
- `model`: a trained model (`LearnedModel`): tagging with it, its file
- `training`: fitting a model on examples, cross-validated (`fit`)
- `labels`: labels in the database: importing a labelled file (audited), the examples they make
- `store`: this host's model files and the pointer naming the active one (`active_model`, `activate`)
- `versions`: model versions in the database: training on the stored labels (`train`), following the active one
- `overview`: what leads see on the model page

These modules build on the rules (`triage.tagging.rules`) and never import the front door (`triage.tagging.classifier`).
"""
