"""``python -m kiosk`` runs the CLI."""

from kiosk.cli import main

main()
