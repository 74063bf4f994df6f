"""Inference threads that yield the CPU to the media.

Every call's audio is paced in real time (the event loop, the codec threads);
inference only has to finish soon. On a busy server the kernel must run the
media first and the models a little later, never the other way round: a late
answer is a slower answer, a late audio frame is a gap heard in every call.

Linux schedules each thread on its own, so each inference thread raises its own
nice value as it starts. Threads that a library starts from it (onnxruntime,
CTranslate2 and OpenCV pools) inherit that value, which is why the models are
also loaded on these threads. On an idle machine nice changes nothing.
"""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

#: Added to the nice value of inference threads: a third of a media thread's share of a
#: contended core (CFS weights 335 vs 1024), all of an idle one. Not lower: other
#: programs on a shared machine would starve the answers.
INFERENCE_NICE = 5


def lower_priority(increment: int = INFERENCE_NICE) -> None:
    """Make the calling thread (only it) yield to normal-priority threads."""
    if sys.platform != "linux":  # elsewhere the call would renice the whole process
        return
    tid = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + increment))
    except OSError:  # a sandbox may forbid it; the server still works, only less smoothly
        pass


def inference_executor(workers: int, name: str) -> ThreadPoolExecutor:
    """A thread pool whose threads run below the media's priority."""
    return ThreadPoolExecutor(
        max_workers=workers, thread_name_prefix=name, initializer=lower_priority
    )


#: Held while Whisper or the end-of-turn model computes: they take turns on the CPU. Side by
#: side on two cores, Smart Turn's scorings of a pause (one thread, ~50 ms each) stalled
#: Whisper's two threads, and the words every answer waits for came 70-100 ms later
#: (163 ms alone, 236-261 ms beside them, same clips); one after the other, the words come
#: first and the voice's score ~50 ms after them. Also CTranslate2's rule: one caller at a
#: time per model.
speech_models = threading.Lock()
