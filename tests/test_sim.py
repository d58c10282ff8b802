"""kvcache-sim against libCacheSim's published miss ratios on the real traces, and its
command-line interface."""
import csv
import io
import subprocess

import pytest

TRACE_FILES = {
    "cloudphysics": "cloudphysics.oracleGeneral.bin",
    "lirs_gli": "lirs_gli.txt",
    "lirs_loop": "lirs_loop.txt",
    "lirs_multi2": "lirs_multi2.txt",
    "lirs_ps": "lirs_ps.txt",
    "lirs_sprite": "lirs_sprite.txt",
}
OUR_NAMES = {"twoq": "twoq"}  # libCacheSim's names are ours too
POLICIES = ["lru", "fifo", "lfu", "sieve", "s3fifo", "wtinylfu", "arc", "lirs", "twoq"]


def run_sim(bin_dir, *args):
    out = subprocess.run([str(bin_dir / "kvcache-sim"), *args], capture_output=True, text=True,
                         timeout=600)
    return out


def reference(traces):
    ref = {}
    with open(traces / "reference_miss_ratios.csv") as f:
        for row in csv.DictReader(f):
            ref[(row["trace"], row["policy"], int(row["cache_size_objects"]))] = float(
                row["miss_ratio"])
    return ref


@pytest.fixture(scope="module")
def simulated(bin_dir, traces):
    ref = reference(traces)
    rows = {}
    for trace, fname in TRACE_FILES.items():
        sizes = sorted({size for (t, _, size) in ref if t == trace})
        out = run_sim(bin_dir, "--trace", str(traces / fname), "--policy", ",".join(POLICIES),
                      "--size", ",".join(map(str, sizes)))
        assert out.returncode == 0, out.stderr
        for row in csv.DictReader(io.StringIO(out.stdout)):
            rows[(row["trace"], row["policy"], int(row["cache_size_objects"]))] = row
    return ref, rows


@pytest.mark.parametrize("policy", POLICIES)
def test_miss_ratios_match_libcachesim(simulated, policy):
    ref, rows = simulated
    tolerance = 0.002 if policy in ("lru", "fifo") else 0.01
    checked = 0
    for (trace, pol, size), expected in ref.items():
        if pol != policy:
            continue
        got = float(rows[(trace, pol, size)]["miss_ratio"])
        if expected == 1.0 and got < 1.0:
            # libCacheSim stores nothing here (a queue or window rounds to zero objects);
            # kvcache keeps every queue at least one object long and must do better.
            continue
        assert abs(got - expected) <= tolerance, (
            f"{trace} {policy} size {size}: kvcache {got:.4f}, libCacheSim {expected:.4f}")
        checked += 1
    assert checked >= 18


def test_csv_header_and_request_counts(bin_dir, traces):
    out = run_sim(bin_dir, "--trace", str(traces / "lirs_gli.txt"), "--policy", "lru,default",
                  "--size", "0.05,100")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "trace,policy,cache_size_objects,requests,miss_ratio"
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["policy"] for r in rows] == ["lru", "lru", "default", "default"]
    assert {r["requests"] for r in rows} == {"6015"}
    # 5% of lirs_gli's 2527 distinct objects, rounded down, then an absolute count.
    assert [r["cache_size_objects"] for r in rows[:2]] == ["126", "100"]


def test_oracle_general_and_txt_give_the_same_result(bin_dir, traces):
    a = run_sim(bin_dir, "--trace", str(traces / "cloudphysics.oracleGeneral.bin"), "--policy",
                "s3fifo", "--size", "0.1")
    b = run_sim(bin_dir, "--trace", str(traces / "cloudphysics.txt"), "--format", "txt",
                "--policy", "s3fifo", "--size", "0.1")
    assert a.returncode == 0 and b.returncode == 0
    ra = list(csv.DictReader(io.StringIO(a.stdout)))[0]
    rb = list(csv.DictReader(io.StringIO(b.stdout)))[0]
    assert ra["cache_size_objects"] == rb["cache_size_objects"]
    assert ra["requests"] == rb["requests"] == "113872"
    # txt ids are renumbered by first appearance; only hash-based details could differ.
    assert abs(float(ra["miss_ratio"]) - float(rb["miss_ratio"])) < 0.002


def test_bad_input_is_refused_clearly(bin_dir, traces, tmp_path):
    out = run_sim(bin_dir, "--trace", str(traces / "lirs_gli.txt"), "--policy", "nosuch",
                  "--size", "10")
    assert out.returncode != 0 and "unknown policy 'nosuch'" in out.stderr
    out = run_sim(bin_dir, "--trace", str(tmp_path / "missing.txt"), "--policy", "lru",
                  "--size", "10")
    assert out.returncode != 0 and "cannot open" in out.stderr
    bad = tmp_path / "bad.txt"
    bad.write_text("1\n2\nthree\n")
    out = run_sim(bin_dir, "--trace", str(bad), "--policy", "lru", "--size", "10")
    assert out.returncode != 0 and "bad.txt:3: not an object id" in out.stderr
    trunc = tmp_path / "t.oracleGeneral.bin"
    trunc.write_bytes(b"\0" * 30)
    out = run_sim(bin_dir, "--trace", str(trunc), "--policy", "lru", "--size", "10")
    assert out.returncode != 0 and "not a multiple of 24 bytes" in out.stderr
    out = run_sim(bin_dir, "--trace", str(traces / "lirs_gli.txt"), "--policy", "lru",
                  "--size", "-3")
    assert out.returncode != 0


def test_plot_draws_a_png(bin_dir, traces, tmp_path):
    png = tmp_path / "mr.png"
    out = run_sim(bin_dir, "--trace", str(traces / "lirs_ps.txt"), "--policy", "lru,s3fifo",
                  "--size", "0.05,0.1,0.2", "--plot", str(png))
    assert out.returncode == 0, out.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
