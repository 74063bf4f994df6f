"""A Python WebRTC client for omnilive, used by `omnilive call`, the tests and the benchmarks."""

from clients.python.client import CallClient, ReceivedAudio, ScriptedAudioTrack, Utterance

__all__ = ["CallClient", "ReceivedAudio", "ScriptedAudioTrack", "Utterance"]
