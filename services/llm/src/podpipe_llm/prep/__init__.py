"""Before the recording: the week's news picked, read and briefed — ``podpipe prep``.

Lives in the llm service's package because the brief is LLM work and services never import
each other: it reuses the prompt runner (rate limiter, backoff, JSON validation with the
problems fed back), the providers (Bedrock, OpenAI-compatible, the extractive stand-in) and
the settings, with a budget of its own (``PODPIPE_PREP_REQUESTS_PER_MINUTE``). Feeds and
articles are fetched through a small HTTP port; everything that cannot be read is reported in
the brief and never stops the rest.
"""
