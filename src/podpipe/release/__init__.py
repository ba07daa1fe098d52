"""Release day: a show's channel data, one release per episode (draft → approved → scheduled →
published → unpublished) and the show's Podcasting 2.0 feed, regenerated from the published
releases.

``shows`` and ``model`` and ``feed`` are pure; ``store`` holds the ports and their S3 adapter;
``operations`` is the ONE place the release operations live (the CLI and, later, the studio
only map their arguments onto it); ``scheduling`` fires scheduled releases (EventBridge
Scheduler on AWS, a small loop on a laptop); ``serve`` serves the public prefix locally.
"""
