"""Every report and format of a fit: text, Markdown, LaTeX, JSON, CSV (one renderer each)."""
