"""The `xbar` command line, the demo in short mode, and atomic result files."""

import json
import os
import shutil
import subprocess

import jax
import pytest

from xbar._cli import main
from xbar._io import write_json_atomic


def test_devices_list_and_show(capsys):
    assert main(["devices", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("rram_hfox", "pcm_gst", "stt_mtj", "fg_flash"):
        assert name in out
    assert main(["devices", "show", "pcm_gst"]) == 0
    out = capsys.readouterr().out
    assert "g_max" in out and "drift_t0" in out and "Nandakumar" in out


def test_devices_show_unknown_name_is_one_line_exit_2(capsys):
    assert main(["devices", "show", "no_such_card"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no_such_card" in err and "rram_hfox" in err


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["demo", "--epochs", "0"], "--epochs: expected a positive integer, got 0"),
        (["demo", "--chips", "many"], "--chips: expected a positive integer, got 'many'"),
        (["demo", "--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["teleport"], "invalid choice: 'teleport'"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, argv, match):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1


def test_console_script_is_installed():
    exe = shutil.which("xbar")
    if exe is None:
        pytest.skip("the xbar console script is not on PATH (package not installed)")
    out = subprocess.run([exe, "devices", "list"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "stt_mtj" in out.stdout


def test_output_into_a_closed_pipe_is_not_an_error():
    """`xbar devices show NAME | head` closes the pipe early: exit 0, no traceback."""
    import sys

    p = subprocess.Popen(
        [sys.executable, "-m", "xbar", "devices", "show", "pcm_hermes14"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    p.stdout.close()  # the reader is gone before anything is written
    err = p.stderr.read()
    assert p.wait(timeout=120) == 0, err
    assert b"Traceback" not in err


def test_demo_quick_writes_json_and_plot(tmp_path, capsys):
    js, png = tmp_path / "out" / "demo.json", tmp_path / "demo.png"
    assert main(["demo", "--quick", "--no-progress", "--json", str(js), "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "RRAM HfOx (1 s)" in out and "PCM GST (1 day)" in out
    result = json.loads(js.read_text())
    assert result["dataset"] == "digits"
    assert 0.0 <= result["ideal_acc"] <= 1.0
    assert set(result["hardware"]) == {"rram_hfox", "pcm_gst", "stt_mtj", "fg_flash"}
    for entry in result["hardware"].values():
        assert 0.0 <= entry["acc"] <= 1.0 and len(entry["by_time"]["1"]["acc_per_chip"]) == 2
    assert "acc_1day" in result["hardware"]["pcm_gst"]
    assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_train_writes_a_summary_and_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--out", str(out), "--device", "rram_hfox", "--epochs", "1", "--hidden", "16",
            "--steps", "4", "--chips", "1", "--train-samples", "256", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["sizes"] == [64, 16, 10] and len(summary["history"]["loss"]) == 1
    assert 0.0 <= summary["test_accuracy_chips"]["mean"] <= 1.0
    assert (out / "checkpoint.npz").exists()
    capsys.readouterr()
    # the same command again would overwrite the run: refused, one line, exit 2
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "pass --resume" in err and err.count("\n") == 1
    # resumed, the finished checkpoint gives the same weights and so the same figures
    assert main(argv + ["--resume"]) == 0
    again = json.loads((out / "summary.json").read_text())
    assert again["history"] == summary["history"]
    assert again["test_accuracy_chips"] == summary["test_accuracy_chips"]


@pytest.mark.slow  # 20 s; the STDP checkpoint and resume are tested in test_learn_diehl_cook
def test_train_stdp_mode_writes_a_summary_and_resumes(tmp_path, capsys):
    out = tmp_path / "stdp"
    # ideal weights (device weights and their checkpoints: tests/test_learn_diehl_cook.py)
    argv = ["train", "--mode", "stdp", "--out", str(out), "--neurons", "10", "--train-samples", "150",
            "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert 0.0 <= summary["test_accuracy"] <= 1.0 and summary["presentations"] >= 150
    assert sum(summary["neuron_classes"]) == 10 and "write_pulses" not in summary
    assert "STDP" in capsys.readouterr().out
    assert main(argv) == 2  # refuses to overwrite
    assert "pass --resume" in capsys.readouterr().err
    assert main(argv + ["--resume"]) == 0  # the finished checkpoint: same state, same figures
    again = json.loads((out / "summary.json").read_text())
    assert again["test_accuracy"] == summary["test_accuracy"] and again["presentations"] == summary["presentations"]
    capsys.readouterr()
    other = [a if a != "10" else "12" for a in argv]  # another network: its checkpoint does not fit
    assert main(other + ["--resume"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xbar train: error: --resume: checkpoint: expected one written with these settings")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--data", "mnist"], "--mnist: expected the folder with the MNIST IDX files"),
        (["--device", "no_such_card"], "--device:"),
        (["--fresh-chips"], "--fresh-chips: expected a --device"),
        (["--mode", "stdp", "--device", "rram_hfox", "--fresh-chips"], "--fresh-chips: expected --mode surrogate"),
        (["--mode", "stdp", "--device", "pcm_gst"], "--device: expected a bidirectional cell for STDP"),
    ],
)
def test_train_bad_input_exits_2_with_one_line(tmp_path, capsys, extra, match):
    assert main(["train", "--out", str(tmp_path / "o"), "--no-progress"] + extra) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1
    assert not (tmp_path / "o" / "summary.json").exists()


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--lr", "-1"], "--lr: expected a positive number, got -1.0"),
        (["--epochs", "0"], "--epochs: expected a positive"),
    ],
)
def test_train_bad_numbers_exit_2_with_one_line(tmp_path, capsys, extra, match):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--out", str(tmp_path / "o")] + extra)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1


def test_atomic_json_keeps_the_old_file_on_failure(tmp_path):
    path = tmp_path / "r.json"
    write_json_atomic(path, {"a": 1})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"a": object()})  # not serializable
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    with pytest.raises(ValueError, match="path: expected a file name, got the directory"):
        write_json_atomic(tmp_path, {"a": 1})


def test_bench_measures_the_circuit_and_rejects_unknown_parts(tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert main(["bench", "--parts", "circuit", "--size", "24", "--json", str(path)]) == 0
    res = json.loads(path.read_text())
    assert res["env"]["backend"] == jax.default_backend()
    assert res["circuit"]["n"] == 24 and res["circuit"]["max_rel_err"] < 1e-4 and res["circuit"]["speedup"] > 0
    assert main(["bench", "--parts", "train,nope"]) == 2
    assert "--parts" in capsys.readouterr().err


def test_bench_training_steps_run_and_name_unknown_variants():
    from xbar._bench import round_robin, surrogate_step

    fns = {name: surrogate_step(name, sizes=(16, 8, 4), num_steps=3, batch=4)[0] for name in ("plain", "hw-adc")}
    res = round_robin(fns, runs=2, warmup=1)
    assert res["plain"]["ratio"] == 1.0 and res["hw-adc"]["median_s"] > 0
    with pytest.raises(ValueError, match="name: expected one of"):
        surrogate_step("hw-quantum")
