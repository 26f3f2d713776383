"""triage: mention triage and response workflow for brand social-media teams."""
