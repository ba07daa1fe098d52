"""podpipe transcribe service."""
