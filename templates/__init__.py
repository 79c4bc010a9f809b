"""Jinja2 templates of bulksync's reports, shipped inside the package as bulksync.templates."""
