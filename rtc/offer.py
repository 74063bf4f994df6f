"""The one place an SDP offer is checked, before the WebRTC stack sees it.

aiortc trusts the structure of what it is given: an offer whose BUNDLE group names a
missing `mid`, a media section without a direction, or a section without its own DTLS
parameters can leave it half set up (or raise from deep inside). Such an offer is
refused here with a precise 400 instead. This is also where the number of media sections
is bounded, since each one can cost an ICE agent and its sockets.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiortc import sdp

from rtc.errors import BadRequest

MAX_MEDIA_SECTIONS = 4
"""One audio, one video and one data channel are used; a little room beyond that."""
_KINDS = ("audio", "video", "application")


@dataclass(frozen=True)
class Offer:
    sdp: str
    kinds: frozenset[str]
    """The media it offers: "audio", "video" (and "application" for the data channel)."""


def parse_offer(text: str) -> Offer:
    """An offer aiortc can safely take, with audio or video; BadRequest (400) otherwise."""
    if not text.lstrip().startswith("v=0"):
        raise BadRequest("the offer is not SDP (it must start with v=0)", code="invalid_sdp")
    kinds = check_offer_structure(text)
    if not kinds & {"audio", "video"}:
        raise BadRequest("the offer has neither an audio nor a video m-line", code="no_media")
    return Offer(text, kinds)


def _invalid(message: str) -> BadRequest:
    return BadRequest(f"invalid SDP offer: {message}", code="invalid_sdp")


def check_offer_structure(offer: str) -> frozenset[str]:
    """The kinds of media in `offer`; BadRequest (invalid_sdp, too_many_media) unless aiortc
    can safely take it."""
    try:
        description = sdp.SessionDescription.parse(offer)
    except Exception as exc:  # the parser raises many types on junk
        raise _invalid(f"cannot parse it ({exc or type(exc).__name__})") from None
    sections = description.media
    if len(sections) > MAX_MEDIA_SECTIONS:
        raise BadRequest(
            f"the offer has {len(sections)} media sections; at most {MAX_MEDIA_SECTIONS} "
            "are accepted (one audio, one video and the data channel are used)",
            code="too_many_media",
        )
    mids: list[str] = []
    for index, media in enumerate(sections):
        where = f"m-line {index} ({media.kind})"
        if media.kind not in _KINDS:
            raise _invalid(f"{where}: unsupported kind; use audio, video or application")
        mid = media.rtp.muxId
        if not mid:
            raise _invalid(f"{where} has no a=mid")
        if mid in mids:
            raise _invalid(f"{where} repeats a=mid:{mid}")
        mids.append(mid)
        if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
            raise _invalid(f"{where} has no ICE credentials (a=ice-ufrag, a=ice-pwd)")
        if media.dtls is None or not media.dtls.fingerprints:
            raise _invalid(f"{where} has no DTLS fingerprint (a=fingerprint)")
        if media.dtls.role is None:
            raise _invalid(f"{where} has no usable DTLS role (a=setup)")
        if media.kind != "application" and media.direction not in sdp.DIRECTIONS:
            raise _invalid(f"{where} has no direction (a=sendrecv, a=sendonly, ...)")
        if media.kind == "application" and (
            not media.profile.endswith("SCTP") or media.sctp_port is None
        ):
            raise _invalid(f"{where} is not an SCTP data channel section with a=sctp-port")
    for group in description.group:
        if group.semantic == "BUNDLE":
            missing = [str(item) for item in group.items if str(item) not in mids]
            if missing:
                raise _invalid(f"a=group:BUNDLE names no such mid: {', '.join(missing)}")
    return frozenset(media.kind for media in sections)
