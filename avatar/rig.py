"""The avatar rig: parameters that drive a frame, idle life and expressions per turn state.

:class:`RigParams` is everything the renderer needs for one frame.
:class:`AvatarAnimator` produces it as a pure function of time (and the seed):
natural blinks at random intervals, breathing, a slow head sway and gaze
drift, an expression per turn state (attract, greeting, listening, thinking,
speaking) blended over a short transition, and the mouth from a
:class:`~avatar.visemes.MouthShape`.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass, fields, replace

from avatar.pack import AvatarPack
from avatar.visemes import MouthShape

STATES = ("idle", "greeting", "listening", "thinking", "speaking")


@dataclass(frozen=True)
class RigParams:
    """One frame's pose. Mouth values as in :class:`MouthShape`; angles in degrees."""

    jaw: float = 0.0
    lip_width: float = 0.0
    lip_round: float = 0.0
    lip_press: float = 0.0
    teeth_lip: float = 0.0
    tongue: float = 0.0
    smile: float = 0.2
    blink: float = 0.0  # 0 open .. 1 closed
    brow_raise: float = 0.0  # -1 lowered .. 1 raised
    brow_furrow: float = 0.0  # 0 .. 1 inner brows together (thinking)
    brow_tilt: float = 0.0  # -1 .. 1 asymmetric (one brow higher: curiosity)
    head_tilt: float = 0.0  # degrees, roll
    head_nod: float = 0.0  # degrees, pitch (positive: down)
    head_turn: float = 0.0  # -1 .. 1 yaw
    breathing: float = 0.0  # 0 .. 1 chest expansion
    gaze_x: float = 0.0  # -1 .. 1
    gaze_y: float = 0.0  # -1 .. 1 (negative: up)

    def with_mouth(self, mouth: MouthShape, *, weight: float = 1.0) -> RigParams:
        """This pose with the mouth of ``mouth`` (``weight`` blends from the current mouth)."""
        w = weight
        return replace(
            self,
            jaw=(1 - w) * self.jaw + w * mouth.jaw,
            lip_width=(1 - w) * self.lip_width + w * mouth.width,
            lip_round=(1 - w) * self.lip_round + w * mouth.round,
            lip_press=(1 - w) * self.lip_press + w * mouth.press,
            teeth_lip=(1 - w) * self.teeth_lip + w * mouth.teeth_lip,
            tongue=(1 - w) * self.tongue + w * mouth.tongue,
        )

    def clamped(self, pack: AvatarPack) -> RigParams:
        """Within the ranges the pack's manifest allows."""
        r = pack.rig
        return replace(
            self,
            jaw=_clip(self.jaw, *r["jaw_open"]),
            lip_width=_clip(self.lip_width, *r["lip_width"]),
            lip_round=_clip(self.lip_round, *r["lip_round"]),
            lip_press=_clip(self.lip_press, *r["lip_press"]),
            teeth_lip=_clip(self.teeth_lip, 0.0, 1.0),
            tongue=_clip(self.tongue, 0.0, 1.0),
            smile=_clip(self.smile, *r["smile"]),
            blink=_clip(self.blink, *r["blink"]),
            brow_raise=_clip(self.brow_raise, *r["brow_raise"]),
            brow_furrow=_clip(self.brow_furrow, 0.0, 1.0),
            brow_tilt=_clip(self.brow_tilt, -1.0, 1.0),
            head_tilt=_clip(self.head_tilt, *r["head_tilt_deg"]),
            head_nod=_clip(self.head_nod, *r["head_nod_deg"]),
            head_turn=_clip(self.head_turn, *r["head_turn"]),
            breathing=_clip(self.breathing, *r["breathing"]),
            gaze_x=_clip(self.gaze_x, -1.0, 1.0),
            gaze_y=_clip(self.gaze_y, -1.0, 1.0),
        )


def _clip(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


@dataclass(frozen=True)
class Expression:
    """The non-mouth part of a pose that a turn state asks for."""

    smile: float = 0.2
    brow_raise: float = 0.0
    brow_furrow: float = 0.0
    brow_tilt: float = 0.0
    head_tilt: float = 0.0
    head_nod: float = 0.0
    head_turn: float = 0.0
    gaze_x: float = 0.0
    gaze_y: float = 0.0
    jaw: float = 0.0
    lip_width: float = 0.0
    lip_round: float = 0.0


EXPRESSIONS: dict[str, Expression] = {
    "idle": Expression(smile=0.35, brow_raise=0.05),
    "greeting": Expression(smile=0.95, brow_raise=0.55, head_tilt=3.0, head_nod=-1.0, jaw=0.12, lip_width=0.3),
    "listening": Expression(smile=0.3, brow_raise=0.3, brow_tilt=0.25, head_tilt=-3.5, head_nod=1.5),
    "thinking": Expression(
        smile=0.05,
        brow_furrow=0.6,
        brow_tilt=0.5,
        head_tilt=2.5,
        head_turn=0.18,
        gaze_x=0.55,
        gaze_y=-0.6,
        lip_round=0.25,
        lip_width=-0.2,
    ),
    "speaking": Expression(smile=0.3, brow_raise=0.12),
}
TRANSITION_S = 0.45


def _smoothstep(x: float) -> float:
    x = _clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


class AvatarAnimator:
    """Rig parameters as a deterministic function of time, turn state and mouth.

    ``set_state(state, t)`` starts a transition at ``t``; ``pose(t, mouth)``
    returns the frame's :class:`RigParams`. Two animators with the same pack
    and seed produce the same poses.
    """

    def __init__(self, pack: AvatarPack, *, seed: int = 0) -> None:
        self.pack = pack
        self.seed = seed
        rng = random.Random(seed)
        self._phases = [rng.uniform(0, 2 * math.pi) for _ in range(8)]
        self._blink_rng = random.Random(seed * 7919 + 1)
        self._blinks: list[float] = []
        self._blink_horizon = 0.0
        self._state = "idle"
        self._previous = EXPRESSIONS["idle"]
        self._changed_at = -1e9
        self._speech_energy = 0.0

    @property
    def state(self) -> str:
        return self._state

    def set_state(self, state: str, t: float) -> None:
        if state not in EXPRESSIONS:
            raise ValueError(f"unknown avatar state {state!r}; choose one of: {', '.join(STATES)}")
        if state == self._state:
            return
        self._previous = self._expression(t)
        self._state = state
        self._changed_at = t

    def _expression(self, t: float) -> Expression:
        target = EXPRESSIONS[self._state]
        k = _smoothstep((t - self._changed_at) / TRANSITION_S)
        if k >= 1.0:
            return target
        a, b = self._previous, target
        return Expression(*((1 - k) * getattr(a, f.name) + k * getattr(b, f.name) for f in fields(Expression)))

    def _extend_blinks(self, until: float) -> None:
        idle = self.pack.idle
        low, high = idle.blink_interval_s
        while self._blink_horizon <= until + 10.0:
            # intervals skewed towards the short end, like people (log-uniform)
            gap = math.exp(self._blink_rng.uniform(math.log(low), math.log(high)))
            self._blink_horizon += gap
            self._blinks.append(self._blink_horizon)
            if self._blink_rng.random() < idle.double_blink_chance:
                self._blink_horizon += idle.blink_duration_s * 1.6
                self._blinks.append(self._blink_horizon)

    def blink_amount(self, t: float) -> float:
        """0 open .. 1 closed: fast close, slower open."""
        if t < 0:
            return 0.0
        self._extend_blinks(t)
        dur = self.pack.idle.blink_duration_s
        i = bisect.bisect_right(self._blinks, t) - 1
        if i < 0:
            return 0.0
        dt = t - self._blinks[i]
        close = dur * 0.35
        if dt < close:
            return _smoothstep(dt / close)
        if dt < dur:
            return 1.0 - _smoothstep((dt - close) / (dur - close))
        return 0.0

    def pose(self, t: float, mouth: MouthShape | None = None) -> RigParams:
        """The frame at time ``t`` (seconds); ``mouth`` (from a viseme track) drives the lips while speaking."""
        idle = self.pack.idle
        p = self._phases
        expr = self._expression(t)
        sway = idle.head_sway_deg
        f = idle.head_sway_hz
        tilt = expr.head_tilt + sway * (
            0.7 * math.sin(2 * math.pi * f * t + p[0]) + 0.3 * math.sin(2 * math.pi * f * 2.3 * t + p[1])
        )
        nod = expr.head_nod + 0.6 * sway * math.sin(2 * math.pi * f * 1.3 * t + p[2])
        turn = expr.head_turn + 0.04 * math.sin(2 * math.pi * f * 0.7 * t + p[3])
        breath = 0.5 + 0.5 * math.sin(2 * math.pi * idle.breathing_rate_hz * t + p[4])
        wander = idle.gaze_wander
        gaze_x = expr.gaze_x + wander * 0.5 * math.sin(2 * math.pi * 0.07 * t + p[5]) ** 3
        gaze_y = expr.gaze_y + wander * 0.3 * math.sin(2 * math.pi * 0.05 * t + p[6]) ** 3
        brow = expr.brow_raise
        jaw, width, rnd = expr.jaw, expr.lip_width, expr.lip_round
        smile = expr.smile
        if mouth is not None:
            # speech: the mouth comes from the track; brows lift a little with open vowels (emphasis)
            brow += 0.15 * mouth.jaw
            nod += 1.2 * mouth.jaw
            smile = smile * (1.0 - 0.6 * abs(mouth.round))
        pose = RigParams(
            jaw=jaw,
            lip_width=width,
            lip_round=rnd,
            smile=smile,
            blink=self.blink_amount(t),
            brow_raise=brow,
            brow_furrow=expr.brow_furrow,
            brow_tilt=expr.brow_tilt,
            head_tilt=tilt,
            head_nod=nod,
            head_turn=turn,
            breathing=breath * idle.breathing_depth,
            gaze_x=gaze_x,
            gaze_y=gaze_y,
        )
        if mouth is not None:
            pose = pose.with_mouth(mouth)
        return pose.clamped(self.pack)
