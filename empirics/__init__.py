"""Real steering of Llama-architecture models, measured against the theory."""
