"""Multimodal fusion: encoders, projectors into the LLM width, the input bridge, alignment training, bundles."""
