"""The gateway: signaling, calls, media in and out, turn taking, events, metrics, CLI.

The only package that imports aiortc and FastAPI.
"""
