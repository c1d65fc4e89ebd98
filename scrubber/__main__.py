from scrubber.cli import entry

entry()
