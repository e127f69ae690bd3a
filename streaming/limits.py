"""How much one participant may send: the chat's own rule and a token bucket per kind of message."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

CHAT_HISTORY = 200  # messages a late joiner is shown
CHAT_BURST, CHAT_BURST_SECONDS = 5, 5.0  # at most 5 messages in 5 s per participant

# What each participant may send, per kind of message: (burst, messages a second), a token
# bucket. Sized so that a page used as meant never meets it (the chat has its own, tighter
# rule); a flood beyond it is dropped, and its sender is warned once per flood. Raising and
# lowering the hand share one bucket, as do starting and stopping a recording; leaving and
# ending the class are not limited (they end the connection).
MESSAGE_RATES: Mapping[str, tuple[float, float]] = {
    "ping": (10, 2),
    "publish": (10, 1),
    "unpublish": (10, 1),
    "answer": (60, 20),
    "chat": (20, 2),
    "hand": (10, 1),
    "floor": (30, 5),
    "remove": (30, 5),
    "recording": (10, 1),
    "low_bandwidth": (10, 1),
    # A gallery page says what it shows on each page turn and each move of the stage (the
    # active speaker changes at most every ACTIVE_SPEAKER_HOLD seconds).
    "view": (20, 4),
    "set_mode": (10, 1),
    "media_state": (20, 4),  # a key held down on M repeats: the excess is dropped
    "mute": (30, 5),
    "question": (10, 1),  # asking, closing, showing the results
    "answer_question": (10, 1),  # one answer counts; a page's retries are refused, not dropped
    "breakout": (20, 2),  # opening, moving, adding time, broadcasting, closing
}
RATE_BUCKET_OF: Mapping[str, str] = {
    "raise_hand": "hand",
    "lower_hand": "hand",
    "grant_floor": "floor",
    "next_hand": "floor",
    "revoke_floor": "floor",
    "start_recording": "recording",
    "stop_recording": "recording",
    "ask_unmute": "mute",
    "ask": "question",
    "close_question": "question",
    "show_results": "question",
    "open_breakout": "breakout",
    "move_to_group": "breakout",
    "add_time": "breakout",
    "broadcast": "breakout",
    "close_breakout": "breakout",
}


@dataclass(slots=True)
class TokenBucket:
    burst: float
    rate: float  # tokens a second
    tokens: float
    at: float

    def refill(self, now: float) -> bool:
        """Add what accrued since the last look; True if the bucket is full."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        return self.tokens >= self.burst

    def take(self) -> bool:
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False
