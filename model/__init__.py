"""The shared omni model: the interface every backend implements, and the backends."""

from model.base import Capabilities, OmniModel, OmniSession
from model.errors import ModelError, ModelLoadError, UnsupportedError
from model.types import FaceEmotion, SpeechChunk, TextLine, Transcript

__all__ = [
    "Capabilities",
    "FaceEmotion",
    "ModelError",
    "ModelLoadError",
    "OmniModel",
    "OmniSession",
    "SpeechChunk",
    "TextLine",
    "Transcript",
    "UnsupportedError",
]
