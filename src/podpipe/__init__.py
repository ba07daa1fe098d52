"""podpipe: shared core (events, runtime, storage, settings) and the CLI."""
