"""podpipe on a laptop: `stack` (topology bootstrap, process supervisor, the pinned LocalStack),
`llm` (the local llama.cpp server) and `demo` (`make demo`). Never in a service image."""
