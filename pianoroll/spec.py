"""The phrase specification: shape, resolution, pitch offset and track metadata.

See the package docstring of :mod:`pianoroll` for the tensor contract.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

__all__ = ["LPD5_TRACKS", "PhraseSpec", "Track"]


@dataclasses.dataclass(frozen=True)
class Track:
    """One track (instrument family) of a multitrack pianoroll.

    Attributes:
        name: Track name, e.g. ``"Piano"``.
        program: General MIDI program number, 0-127 (ignored for drums).
        is_drum: Whether the track is played on the drum channel (MIDI channel 10).
        monophonic: Whether the track is a voice that plays one note at a time (see
            :mod:`pianoroll.voices`): its phrases carry where each note starts, and models
            generate it as one category (a pitch or a rest) per step.
    """

    name: str
    program: int = 0
    is_drum: bool = False
    monophonic: bool = False

    def __post_init__(self) -> None:
        if not 0 <= int(self.program) <= 127:
            raise ValueError(f"track {self.name!r}: program {self.program} is not in 0..127")


#: The five LPD-5 tracks of the MuseGAN paper, in the dataset's order.
LPD5_TRACKS = (
    Track("Drums", 0, True),
    Track("Piano", 0, False),
    Track("Guitar", 24, False),
    Track("Bass", 32, False),
    Track("Strings", 48, False),
)


@dataclasses.dataclass(frozen=True)
class PhraseSpec:
    """Shape and meaning of one phrase ``(bars, steps, pitches, tracks)``.

    Attributes:
        n_bars: Bars per phrase.
        steps_per_beat: Time steps per beat (a quarter note unless ``beat_unit`` says otherwise).
        beats_per_bar: Beats per bar, the time signature's numerator (4 for 4/4, 6 for 6/8).
        n_pitches: Number of consecutive MIDI pitches on the pitch axis.
        lowest_pitch: MIDI pitch of pitch index 0.
        tracks: Track metadata, one entry per track channel.
        beat_unit: The note value of a beat, the time signature's denominator (4: a quarter
            note, 8: an eighth); a bar lasts ``beats_per_bar * 4 / beat_unit`` quarter notes.
    """

    n_bars: int = 4
    steps_per_beat: int = 4
    beats_per_bar: int = 4
    n_pitches: int = 84
    lowest_pitch: int = 24
    tracks: tuple[Track, ...] = (
        Track("Soprano", 52),
        Track("Alto", 52),
        Track("Tenor", 52),
        Track("Bass", 52),
    )
    beat_unit: int = 4

    def __post_init__(self) -> None:
        tracks = tuple(t if isinstance(t, Track) else Track(**t) for t in self.tracks)
        object.__setattr__(self, "tracks", tracks)
        for name in ("n_bars", "steps_per_beat", "beats_per_bar", "n_pitches"):
            if int(getattr(self, name)) < 1:
                raise ValueError(
                    f"phrase spec: {name} must be at least 1, got {getattr(self, name)}"
                )
        if not tracks:
            raise ValueError("phrase spec: at least one track is needed")
        if self.beat_unit not in (1, 2, 4, 8, 16, 32):
            raise ValueError(
                f"phrase spec: beat_unit {self.beat_unit} is not a power of 2 up to 32"
            )
        if (self.steps_per_beat * self.beat_unit) % 4:
            raise ValueError(
                f"phrase spec: {self.steps_per_beat} steps per 1/{self.beat_unit} note is not a"
                " whole number of steps per quarter note"
            )
        if self.lowest_pitch < 0 or self.lowest_pitch + self.n_pitches > 128:
            raise ValueError(
                f"phrase spec: pitches {self.lowest_pitch}..{self.lowest_pitch + self.n_pitches - 1}"
                " are outside MIDI 0..127"
            )

    @property
    def steps_per_bar(self) -> int:
        """Time steps per bar."""
        return self.steps_per_beat * self.beats_per_bar

    @property
    def steps_per_quarter(self) -> int:
        """Time steps per quarter note (the unit of MIDI tempo and of pypianoroll resolution)."""
        return self.steps_per_beat * self.beat_unit // 4

    @property
    def bar_quarters(self) -> Fraction:
        """Quarter notes per bar (4 for 4/4, 3 for 3/4 and 6/8)."""
        return Fraction(self.beats_per_bar * 4, self.beat_unit)

    @property
    def time_signature(self) -> str:
        """The bar as a time signature, ``"4/4"``."""
        return f"{self.beats_per_bar}/{self.beat_unit}"

    @property
    def n_tracks(self) -> int:
        """Number of tracks."""
        return len(self.tracks)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """Phrase shape ``(bars, steps, pitches, tracks)``."""
        return (self.n_bars, self.steps_per_bar, self.n_pitches, self.n_tracks)

    @property
    def voices(self) -> tuple[int, ...]:
        """Indices of the monophonic tracks, in track order."""
        return tuple(k for k, t in enumerate(self.tracks) if t.monophonic)

    @property
    def n_channels(self) -> int:
        """Channels of a model tensor: one per track, then one onset channel per voice."""
        return self.n_tracks + len(self.voices)

    @property
    def channel_shape(self) -> tuple[int, int, int, int]:
        """Shape of a model tensor ``(bars, steps, pitches, channels)``: the tracks' rolls, then
        the onset roll of each voice (see :mod:`pianoroll.voices`)."""
        return (*self.shape[:3], self.n_channels)

    def track_channels(self, track: int) -> tuple[int, ...]:
        """The model-tensor channels of track ``track``: its roll, and its onsets if a voice."""
        if track in self.voices:
            return (track, self.n_tracks + self.voices.index(track))
        return (track,)

    @property
    def track_names(self) -> tuple[str, ...]:
        """Track names in channel order."""
        return tuple(t.name for t in self.tracks)

    @property
    def drum_mask(self) -> tuple[bool, ...]:
        """Per track, whether it is a drum track."""
        return tuple(t.is_drum for t in self.tracks)

    def track_index(self, name: str) -> int:
        """Index of the track called ``name`` (case-insensitive).

        Raises:
            KeyError: no track has that name; the message lists the names there are.
        """
        for i, track in enumerate(self.tracks):
            if track.name.lower() == name.lower():
                return i
        raise KeyError(f"no track named {name!r}; the tracks are {', '.join(self.track_names)}")

    def free_rolls(self) -> PhraseSpec:
        """The same spec with every track a free roll (no monophonic voice)."""
        tracks = tuple(dataclasses.replace(t, monophonic=False) for t in self.tracks)
        return dataclasses.replace(self, tracks=tracks)

    def with_bars(self, n_bars: int) -> PhraseSpec:
        """The same spec with another number of bars per phrase."""
        return dataclasses.replace(self, n_bars=n_bars)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dictionary (inverse of :meth:`from_dict`)."""
        out = dataclasses.asdict(self)
        out["tracks"] = [dataclasses.asdict(t) for t in self.tracks]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PhraseSpec:
        """Build a spec from :meth:`to_dict` output or a Hydra config node."""
        data = dict(data)
        data["tracks"] = tuple(Track(**dict(t)) for t in data.get("tracks", ()))
        return cls(**data)

    @classmethod
    def from_tracks(cls, tracks: Sequence[Track], **kwargs: Any) -> PhraseSpec:
        """Build a spec from a sequence of tracks and keyword sizes."""
        return cls(tracks=tuple(tracks), **kwargs)
