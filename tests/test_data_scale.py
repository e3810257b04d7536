"""The data-scale benchmark runs end to end at tiny sizes (``--quick``); no figure is timed."""

import json

from benchmarks.data_scale import main


def test_quick_benchmark_reports_every_figure(tmp_path, capsys):
    out = tmp_path / "data_scale.json"
    main(["--quick", "--workers", "1", "--out", str(out)])
    results = json.loads(out.read_text())
    assert results["train"]["peak_mib"] > 0 and results["train_model_only"]["peak_mib"] > 0
    assert set(results["prepare"]) == {"6", "12"}
    assert all(p["phrases"] > 0 for p in results["prepare"].values())
    assert results["summary"]["packed_mib"] > 0
    assert "prepare 12 files" in capsys.readouterr().out
