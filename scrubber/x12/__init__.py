"""X12 reading: delimiters, segments, envelopes and 837P claim units."""
