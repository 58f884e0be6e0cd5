"""OpenArena (ioquake3) specifics: ABI tables, game data, decoding, launching."""
