"""Tags: sentiment and intent rules, the learned model and its store, and tagging stored mentions."""
