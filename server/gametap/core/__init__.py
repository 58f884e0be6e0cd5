"""The core every tier uses: errors, ids, limits, access tokens, TLS, logs, metrics, settings,
the game boundary (game.py) and ELF build-ids."""
