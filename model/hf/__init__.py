"""The `transformers` backend: Qwen2.5-Omni (or a Qwen2-VL-class model) from a local directory."""
