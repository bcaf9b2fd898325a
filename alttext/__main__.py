"""``python -m alttext`` runs the CLI."""

from alttext.cli import main

main()
