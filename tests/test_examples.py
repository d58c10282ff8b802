"""The examples run as a newcomer runs them: the inference experiment's quick mode, end to end,
against the real kvcache-server and redis-server it starts itself."""
import json
import subprocess

from conftest import ROOT


def test_inference_experiment_quick(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        ["/usr/bin/python3", str(ROOT / "examples" / "inference_experiment.py"), "--quick",
         "--tables", "synthetic", "--synthetic-rows", "20000", "--data-dir", str(tmp_path),
         "--out-dir", str(out)],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "model output identical in all configurations: yes" in proc.stdout
    assert "SKIPPED" not in proc.stdout, proc.stdout  # every configuration really ran
    results = json.loads((out / "results.json").read_text())
    assert results["model_output_identical"] is True
    per_config = results["tables"]["synthetic"]["results"]
    assert len(per_config) == 7, per_config.keys()
    for name, r in per_config.items():
        assert r["rows"] > 0 and r["rows_per_s"] > 0, name
        if name != "files":  # every cache served some rows from memory
            assert 0 < r["hit_ratio"] <= 1, (name, r["hit_ratio"])
    assert (out / "inference_experiment.png").stat().st_size > 10_000
