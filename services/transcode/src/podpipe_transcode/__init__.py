"""podpipe transcode service."""
