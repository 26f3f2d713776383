"""Managing the team and how work flows, one blueprint per idea: `people` (users and teams, admins), `replies`
(saved replies), `routing` (queues, routing rules, trying a text) and `sources` (feeds and their settings), the last
three for leads and admins with supervisors reading along. `forms` holds what they share: the login gate, the role
check and the way a refused change re-renders its form.

Each view hands the form's values, as typed, to the audited domain function (`teams`, `saved_replies`,
`routing.settings`, `source_settings`, `accounts`), which checks the role again, validates and refuses with a message
the page shows as written.
"""
