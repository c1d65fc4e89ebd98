"""One writer per output, all fed the same stream of scrubbed claims and envelope ends."""
