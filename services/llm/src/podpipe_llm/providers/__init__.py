"""Model providers behind one port (``LlmProvider``)."""
