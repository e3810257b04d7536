"""The default dataset: every Bach chorale bundled with music21, prepared with both cores."""

from __future__ import annotations

from pianoroll.prepare import prepare


def test_all_chorales_give_enough_phrases(compose_prepare):
    cfg = compose_prepare(["data=bach_chorales"])
    dataset = prepare(cfg.data, workers=2, progress=False)
    summary = dataset.summary
    phrases = dataset.phrases_at(slice(None))
    assert phrases.shape[1:] == (4, 16, 84, 4)
    assert phrases.dtype == bool
    assert summary["songs_used"] >= 250
    assert len(dataset) >= 1000
    # Every skipped chorale is in another meter or has parts that map to no voice.
    assert set(summary["songs_skipped"]) <= {"other time signature", "parts not mappable"}
    assert summary["songs_read"] == summary["songs_used"] + sum(summary["songs_skipped"].values())
    # Soprano sounds above bass on average: parts were mapped to the right tracks.
    pitches = phrases.any(axis=(1, 2)).argmax(axis=1)  # lowest sounding pitch per track
    assert (pitches[:, 0] > pitches[:, 3]).mean() > 0.95
    # Phrases start on downbeats: with 4 steps per beat, notes begin on the beat far more often
    # at step 0 of a bar than at a sixteenth after it.
    onsets = phrases[:, :, 1:] & ~phrases[:, :, :-1]
    assert onsets[:, :, 3].sum() > 5 * onsets[:, :, 0].sum()
