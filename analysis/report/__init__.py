"""Reports from the one JSON structure: JSON, Markdown, HTML, CSV."""
