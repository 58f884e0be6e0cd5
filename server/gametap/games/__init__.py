"""Games other than OpenArena (which is gametap.q3), each a package that implements the game
boundary (gametap.core.game) and is named in gametap.core.game.GAMES."""
