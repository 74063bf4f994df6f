"""The `remote` backend: an OpenAI Realtime (WebSocket) endpoint such as vLLM-Omni."""
