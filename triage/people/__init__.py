"""People: team members and API tokens (accounts), teams, and customers linked across networks."""
