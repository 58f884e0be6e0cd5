"""The link between the daemon and libgametap_q3 inside a game process."""
