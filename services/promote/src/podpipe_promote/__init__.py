"""podpipe promote: the week's drip feed of clips and posts for a published episode."""
