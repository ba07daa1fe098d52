"""podpipe notify service."""
