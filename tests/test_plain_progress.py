"""Progress without a terminal: what train, tune, sweep and evolve print when their
stdout is a pipe (a log file, a cluster's job output), captured from fresh processes."""

import io
import json
import os
import re
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

from simbarl.train.progress import Progress, progress_mode, say
from simbarl.tune.trial import Pruner

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "steps": 400,
    "warmup_steps": 100,
    "eval_every": 200,
    "eval_episodes": 1,
    "log_every": 100,
    "batch_size": 16,
    "updates_per_step": 1,
    "analyze_every": 0,
    "agent.actor.width": 16,
    "agent.critic.width": 16,
    "agent.actor.num_blocks": 1,
    "agent.critic.num_blocks": 1,
}
SET = ["--set", *(f"{k}={v}" for k, v in TINY.items()), "--no-tensorboard"]
TIME = r"\[\d+:\d\d\]"


def simbarl(*args, cwd):
    """``python -m simbarl.cli ARGS`` with stdout and stderr to pipes (no terminal)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "simbarl.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.splitlines(), proc.stderr


def test_train_prints_a_line_per_log_and_evaluation_without_a_terminal(tmp_path):
    lines, err = simbarl("train", "--env", "Pendulum-v1", *SET, "--run-dir", "run", cwd=tmp_path)
    logs = [ln for ln in lines if re.fullmatch(TIME + r" env step \d+/400 \(\d+%\), .*", ln)]
    assert [re.search(r"step (\d+)/", ln).group(1) for ln in logs] == ["100", "200", "300", "400"]
    assert all(" env steps/s" in ln for ln in logs) and "ETA" in logs[0]
    assert "last eval return" in logs[2]  # after the evaluation at 200
    evals = [
        ln
        for ln in lines
        if re.fullmatch(TIME + r" env step \d+/400 \(\d+%\): eval return -?[\d.]+", ln)
    ]
    assert [re.search(r"step (\d+)/", ln).group(1) for ln in evals] == ["200", "400"]
    assert lines[-1].startswith("done: 400 env steps") and "\r" not in err  # no bar

    quiet, _ = simbarl(
        "train", "--env", "Pendulum-v1", *SET, "--run-dir", "run2", "--no-progress", cwd=tmp_path
    )
    assert len(quiet) == 1 and quiet[0].startswith("done: 400 env steps")


def test_tune_prints_each_trial_start_evaluations_and_end(tmp_path):
    space = tmp_path / "space.json"
    space.write_text(
        json.dumps({"params": [{"name": "agent.tau", "type": "float", "low": 0.005, "high": 0.05}]})
    )
    argv = [
        "tune",
        "--env",
        "Pendulum-v1",
        "--space",
        str(space),
        "--out",
        "study",
        "--trials",
        "1",
    ]
    lines, _ = simbarl(*argv, *SET, cwd=tmp_path)
    trial = [ln.split("] ", 1)[1] for ln in lines if re.match(r"\[\d\d:\d\d:\d\d\] trial 0 ", ln)]
    assert re.fullmatch(r"trial 0 started: agent.tau=[\d.]+ \(study/trials/0\)", trial[0])
    assert re.fullmatch(
        r"trial 0 eval at env step 200/400: return -?[\d.]+, objective -?[\d.]+", trial[1]
    )
    assert trial[2].startswith("trial 0 eval at env step 400/400")
    assert re.fullmatch(r"trial 0 finished: objective -?[\d.]+", trial[3]) and len(trial) == 4
    assert any(ln.startswith("the trials of this command took ") for ln in lines)


def test_a_pruned_trial_says_so():
    said = []
    trial = types.SimpleNamespace(number=7, report=lambda v, s: None, should_prune=lambda: True)
    spec = types.SimpleNamespace(objective="final", last_k=3)
    pruner = Pruner(trial, spec, [], budget=1000)
    import simbarl.tune.trial as trial_module

    old, trial_module.say = trial_module.say, said.append
    try:
        assert pruner.on_eval(200, -3.5) is True
    finally:
        trial_module.say = old
    assert said == [
        "trial 7 eval at env step 200/1,000: return -3.50, objective -3.50",
        "trial 7 pruned at env step 200",
    ]


def test_sweep_prints_each_run_start_and_end(tmp_path):
    argv = ["sweep", "--tasks", "Pendulum-v1", "--seeds", "2", "--workers", "1", "--out", "sw"]
    lines, err = simbarl(*argv, *SET, "--config", "small=simbav2-small", cwd=tmp_path)
    runs = [ln.split("] ", 1)[1] for ln in lines if re.match(r"\[ *\d+:\d\d\] ", ln)]
    # a run starts as soon as the one before it ends, maybe before that end is printed
    started = [r for r in runs if r.startswith("started")]
    assert started == [
        "started     Pendulum-v1 small seed 0 (run 1 of 2 to train)",
        "started     Pendulum-v1 small seed 1 (run 2 of 2 to train)",
    ]
    ended = [re.sub(r"\(\d+:\d\d; ", "(T; ", r) for r in runs if not r.startswith("started")]
    assert ended == [
        "done        Pendulum-v1 small seed 0 (T; 1 of 2 ended)",
        "done        Pendulum-v1 small seed 1 (T; 2 of 2 ended)",
    ]
    assert "\r" not in err  # no bar without a terminal


def test_evolve_prints_a_line_per_generation(tmp_path):
    argv = ["evolve", "--population", "2", "--generations", "2", "--evo-steps", "200"]
    argv += ["--fitness-episodes", "1", "--mutation-probs", "none=1", "--env", "Pendulum-v1"]
    lines, err = simbarl(*argv, *SET, "--run-dir", "ev", cwd=tmp_path)
    gens = [
        ln
        for ln in lines
        if re.fullmatch(TIME + r" generation \d/2: best fitness -?[\d.]+, .*", ln)
    ]
    assert [ln.split("generation ")[1][:3] for ln in gens] == ["1/2", "2/2"]
    assert lines[-1].startswith("done: 2 generations") and "\r" not in err


class _Pipe(io.StringIO):
    def write(self, text):
        time.sleep(0)  # lets another thread in between writes, as a pipe's write does
        return super().write(text)


def test_lines_said_from_several_threads_stay_whole(monkeypatch):
    # a sweep's workers end runs on their own threads; print() wrote a line's text and
    # its newline apart, and a CI log showed "...to train)[   0:05] done ..." run together
    pipe = _Pipe()
    monkeypatch.setattr(sys, "stdout", pipe)
    saved = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [
            threading.Thread(target=lambda i=i: [say(f"thread {i} line {j}") for j in range(100)])
            for i in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(saved)
    lines = pipe.getvalue().split("\n")
    assert lines.pop() == ""
    assert sorted(lines) == sorted(f"thread {i} line {j}" for i in range(4) for j in range(100))


def test_progress_modes():
    assert progress_mode("plain") == "plain" and progress_mode(False) == "off"
    assert progress_mode("auto") == "plain"  # pytest captures stdout: not a terminal
    p = Progress(1000, 0, "off")
    p.advance(500)
    p.set_eval(1.0)
    p.logged()
    p.close()


def test_the_eta_follows_the_last_logged_rate_not_the_warm_ups(capsys):
    """The warm-up's random steps run many times faster than learning ones: an ETA from
    the average since the start promised too early an end."""
    progress = Progress(30_000, mode="plain")
    progress._start -= 10.0  # 10,000 fast warm-up steps took 10 s ...
    progress.advance(10_000)
    progress.set_rates(100.0, 100.0)  # ... learning runs at 100 env steps/s
    progress.logged()
    line = capsys.readouterr().out.strip()
    assert line.endswith("100 env steps/s, ETA 3:20"), line  # 20,000 steps at 100/s
