"""Standards as data (checklists/standards/) and the pure scoring engine."""
