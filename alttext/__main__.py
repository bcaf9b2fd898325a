"""``python -m alttext`` runs the CLI."""

from alttext.cli import main

# Guarded so that importing the module (runpy, tooling, a worker process re-creating its
# parent's main module as ``__mp_main__``) never runs a command by accident.
if __name__ == "__main__":
    main()
