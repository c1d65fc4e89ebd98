"""Importers that turn published rule files into the scrubber's table formats."""
