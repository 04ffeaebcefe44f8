"""MkDocs hook: the pages whose content comes from code and result files.

A page holds a marker line ``<!-- generated: NAME -->``; at build time this hook
replaces it with the markdown ``GENERATORS[NAME]()`` returns. So the
configuration reference is read from the config dataclasses' field docstrings
and every benchmark table from its committed result file, with the machine and
date of the measurement: nothing is copied by hand, nothing can drift, and
``mkdocs build`` regenerates all of it after a new benchmark run. Figures drawn
from the same files are written into the site at build time; committed figures
under ``benchmarks/results`` are published beside the pages.

Run ``python docs/_hooks/generate.py NAME`` to print one generated block.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
MARKER = re.compile(r"^<!-- generated: ([\w-]+) -->$", re.MULTILINE)
FIGURE_DIR = "figures"  # site folder of the figures drawn at build time
# committed figures published with the site, at results/<path>
COMMITTED_FIGURES = (
    "headline.svg",
    "mini_suite/curves.svg",
    "mini_suite/aggregates.svg",
    "tune_cartpole/study/report/optimization_history.svg",
)


# ---------------------------------------------------------------- provenance


def provenance(path: Path, machine: str | None = None) -> str:
    """One line naming a result file, where it was measured and when it was committed."""
    rel = path.relative_to(ROOT)
    try:
        date = subprocess.run(
            ["git", "log", "-1", "--format=%cs", "--", str(rel)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        date = ""
    when = f"committed {date}" if date else "not committed yet"
    where = f"; {machine}" if machine else ""
    return f"*Source: `{rel}` ({when}{where}).*"


def cpu_machine(meta: dict) -> str:
    parts = [meta.get("machine", "?"), meta.get("device") or meta.get("backend", "")]
    if meta.get("cpu_count") or meta.get("cpus"):
        parts.append(f"{meta.get('cpu_count') or meta['cpus']} cores")
    if meta.get("jax"):
        parts.append(f"JAX {meta['jax']}")
    if meta.get("date_utc") or meta.get("date"):
        parts.append(f"measured {(meta.get('date_utc') or meta['date'])[:10]}")
    return "machine: " + " ".join(str(p) for p in parts if p)


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _load(name: str) -> tuple[dict, Path]:
    path = RESULTS / name
    return json.loads(path.read_text()), path


# ------------------------------------------------------ configuration reference


def _field_docs(source: str) -> dict[str, dict[str, str]]:
    """``{class: {field: docstring}}`` from attribute docstrings in ``source``."""
    docs: dict[str, dict[str, str]] = {}
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef):
            continue
        fields = docs.setdefault(node.name, {})
        body = node.body
        for stmt, nxt in zip(body, body[1:] + [None], strict=True):
            doc = (
                nxt.value.value
                if isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                else None
            )
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                fields[stmt.target.id] = " ".join((doc or "").split())
    return docs


def _format_value(v: object) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return repr(v) if isinstance(v, str) else str(v)


PLACEHOLDER = re.compile(r"[^\s`]*<\w+>[^\s`]*?(?=[.,;:)]*(\s|$))")


def _doc_markdown(doc: str) -> str:
    """A field docstring as table-cell markdown: placeholders such as
    ``runs/<env>/<preset>-seed<seed>`` in code spans (bare, the browser reads
    ``<env>`` as an HTML tag and shows nothing), any other ``<`` escaped, ``|`` escaped."""
    parts = re.split(r"(`+[^`]*`+)", doc)  # code spans stay as they are
    for i in range(0, len(parts), 2):
        text = PLACEHOLDER.sub(lambda m: f"`{m.group(0)}`", parts[i])
        pieces = re.split(r"(`[^`]*`)", text)
        pieces[::2] = [p.replace("<", "&lt;").replace(">", "&gt;") for p in pieces[::2]]
        parts[i] = "".join(pieces)
    return "".join(parts).replace("|", "\\|")


def _type_name(t: object) -> str:
    name = getattr(t, "__name__", None) if isinstance(t, type) else None
    text = name or str(t).replace("typing.", "")
    return re.sub(r"Literal\[(.*)\]", r"one of \1", text).replace(" | ", " or ")


def config_reference() -> str:
    """Every ``simbarl train`` flag with its type, default and docstring, from config/schema.py."""
    import typing

    from simbarl import config
    from simbarl.config import schema

    docs = _field_docs(Path(schema.__file__).read_text())
    sections = []

    def walk(obj, prefix: str, title: str) -> None:
        cls = type(obj)
        hints = typing.get_type_hints(cls)
        rows, nested = [], []
        for f in dataclasses.fields(cls):
            value = getattr(obj, f.name)
            name = prefix + f.name
            if dataclasses.is_dataclass(value):
                nested.append((value, name + ".", name))
                continue
            flag = "--" + name.replace("_", "-")
            doc = _doc_markdown(docs.get(cls.__name__, {}).get(f.name, ""))
            kind = _type_name(hints[f.name]).replace("|", "or")
            rows.append([f"`{flag}`", f"`{kind}`", f"`{_format_value(value)}`", doc])
        sections.append(f"### {title}\n\n" + table(["flag", "type", "default", "meaning"], rows))
        for sub, sub_prefix, sub_title in nested:
            walk(sub, sub_prefix, f"`{sub_title}` ({type(sub).__name__})")

    walk(config.TrainConfig(), "", "Run (TrainConfig)")
    return "\n\n".join(sections)


def _flat(cfg, prefix: str = "") -> dict[str, str]:
    out = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if dataclasses.is_dataclass(v):
            out.update(_flat(v, prefix + f.name + "."))
        else:
            out[prefix + f.name] = _format_value(v)
    return out


def presets_reference() -> str:
    """What each preset changes from the ``TrainConfig`` defaults, and the fields it
    sets per suite (``presets.SUITE_VALUES``)."""
    from simbarl import config
    from simbarl.config.presets import SUITE_VALUES
    from simbarl.offline.trainer import OFFLINE_PRESETS

    base = _flat(config.TrainConfig())
    rows = []
    for name, cfg in {**config.PRESETS, **OFFLINE_PRESETS}.items():
        values = _flat(cfg)
        changed = [f"`{k}={v}`" for k, v in values.items() if base.get(k) != v and k != "preset"]
        for suite, fields in SUITE_VALUES.get(name, {}).items():
            where = "other suites" if suite == "*" else suite
            changed += [f"`{k}={_format_value(v)}` ({where})" for k, v in fields.items()]
        rows.append([f"`{name}`", ", ".join(changed) or "the defaults of the reference below"])
    for alias, name in config.PRESET_ALIASES.items():
        rows.append([f"`{alias}`", f"an earlier name of `{name}`"])
    return table(["preset", "fields it sets (the others keep their defaults)"], rows)


# ----------------------------------------------------------------- results


def results_throughput() -> str:
    blocks = []
    for name, title in (
        ("throughput_cpu_full.json", "Full size (`simbav2`), one jitted update"),
        ("throughput_cpu_full_mujoco.json", "Full size (`simbav2`) on MuJoCo, two critics"),
    ):
        data, path = _load(name)
        rows = [
            [
                f"`{r['env']}` ({r['num_critics']})",
                f"`{r['algo']}`",
                f"{r['gflop_per_update']:.2f}",
                f"**{r['updates_per_s']:.2f}**",
                f"{r['matmul_gflops']:.1f}",
                f"{r['fraction_of_matmul_limit']:.2f}",
            ]
            for r in data["results"]
        ]
        head = ["task (critics)", "algo", "GFLOP / update", "updates/s"]
        head += ["float32 matmul GFLOP/s, same run", "fraction of matmul limit"]
        blocks.append(
            f"**{title}**\n\n{table(head, rows)}\n\n{provenance(path, cpu_machine(data['meta']))}"
        )
    blocks.append(_loop_block("throughput_cpu_small.json", "Whole loop"))
    blocks.append(_loop_block("throughput_gpu.json", "On a GPU, the update and the whole loop"))
    return "\n\n".join(blocks)


def _loop_block(name: str, title: str) -> str:
    """A ``throughput.py`` result with ``--loop-steps``: each config's update alone and the
    whole host loop (env step, jitted call, replay)."""
    data, path = _load(name)
    rows = [
        [
            f"`{r['preset']}` `{r['algo']}` ({r['num_critics']})",
            f"{r['batch_size']} / {r['updates_per_step']}",
            f"{r['gflop_per_update']:.2f}",
            f"{r['updates_per_s']:,.1f}",
            f"**{r['agent_steps_per_s']:,.1f}**",
            f"{r['loop_updates_per_s'] / r['updates_per_s']:.0%}",
        ]
        for r in data["results"]
    ]
    head = ["preset, algo (critics)", "batch / updates per env step", "GFLOP / update"]
    head += ["updates/s (update alone)", "agent steps/s (whole loop)"]
    head += ["loop updates/s as share of the update alone"]
    env = data["results"][0]["env"]
    return f"**{title}**, `{env}`\n\n{table(head, rows)}\n\n" + provenance(
        path, cpu_machine(data["meta"])
    )


def results_throughput_flashsac() -> str:
    """``throughput.py`` with ``flashsac`` beside ``simbav2-small``, update and loop."""
    return _loop_block("throughput_cpu_flashsac.json", "FlashSAC and SimbaV2 (small)")


def _published(task: str, step: int, system: str = "simbaV2_utd2") -> str:
    from simbarl.reference import published_curve

    name = task.removeprefix("dmc:")
    curve = published_curve(name.replace("-v5", "-v4"), system=system, metric="avg_return")
    if step not in curve:
        return ""
    mean, std = curve[step][:2]
    note = " (`-v4`)" if name.endswith("-v5") else ""
    return f"{mean:,.1f} ± {std:,.1f}{note}"


def results_sac_family() -> str:
    data, path = _load("learning/curves.json")
    blocks = []
    for task, algos in data["tasks"].items():
        rows = []
        for algo in ("sac", "td3", "ddpg", "tqc"):
            if algo not in algos:
                continue
            curve = algos[algo]["curve"]
            by_step = {c["env_step"]: c for c in curve}
            cells = []
            for step in (50_000, 100_000):
                c = by_step.get(step)
                cells.append(f"{c['mean']:,.1f} ± {c['std']:,.1f}" if c else "")
            rows.append([f"`{algo}`", algos[algo]["curve"][-1]["n"], *cells])
        rows.append(["published SimbaV2-SAC, full size", 10, _published(task, 50_000),
                     _published(task, 100_000)])  # fmt: skip
        head = ["algo", "seeds", "return at 50k (mean ± std)", "return at 100k"]
        blocks.append(f"**`{task}`**\n\n{table(head, rows)}")
    blocks.append(
        f"`{data['preset']}` networks for every algorithm, {data['steps']:,} env steps, "
        "std over seeds (population). "
        + provenance(path, "machine: the project's 2-core x86_64 CPU, no GPU")
    )
    return "\n\n".join(blocks)


def results_mini_suite() -> str:
    path = RESULTS / "mini_suite" / "scores.json"
    data = json.loads(path.read_text())
    rows = [
        [
            f"`{t['task']}`",
            t["seeds"],
            f"{t['mean']:.1f} ± {t['std']:.1f}",
            f"{t['normalized']:.3f}",
            f"{t['published']:.1f}" if t["published"] is not None else "",
        ]
        for t in data["tasks"]
    ]
    head = ["task", "seeds", "return at 100k (mean ± std)", "normalized", "published SimbaV2"]
    out = [table(head, rows)]
    names = {"mean": "mean", "median": "median", "iqm": "IQM", "optimality_gap": "optimality gap"}
    for agg in data.get("aggregates", []):
        rows = []
        for key, name in names.items():
            a = agg[key]
            rows.append([name, f"{a['value']:.3f}", f"[{a['ci_low']:.3f}, {a['ci_high']:.3f}]"])
        head = [f"{agg['group']}: {agg['tasks']} tasks x {agg['runs']} seeds", "value", "95% CI"]
        out.append(table(head, rows))
    out.append(provenance(path, "machine: the project's 2-core x86_64 CPU, no GPU"))
    return "\n\n".join(out)


def results_offline() -> str:
    data, path = _load("offline/offline.json")
    rows = [
        [
            r["dataset"],
            f"{r['transitions']:,}",
            f"{r['behaviour_return']:,.0f}",
            f"{r['updates']:,}",
            f"**{r['offline_return']:,.0f}** ({r['offline_best']:,.0f})",
            f"**{r['normalized_score']:.1f}** ({r['behaviour_normalized']:.1f})",
        ]
        for r in data["rows"]
    ]
    head = ["dataset", "transitions", "behaviour return", "updates"]
    head += ["offline return (best eval)", "D4RL normalized (behaviour)"]
    intro = (
        f"`{data['env']}`: `simbav2-small` trained online for {data['online_steps']:,} env "
        f"steps (final evaluation {data['online_final_return']:,.0f}) made the datasets; "
        "`simbav2-bc-small` trained offline on each."
    )
    return "\n\n".join(
        [intro, table(head, rows), provenance(path, "machine: the project's 2-core CPU")]
    )


def results_device_loop() -> str:
    data, path = _load("device_loop_cpu.json")
    rows = [
        [
            f"`{r['env']}`",
            f"{r['num_envs']:,}",
            str(r["action_repeat"]),
            f"{r['env_steps_per_s']:,.0f}",
            f"{r['updates_per_s']:.1f}",
            f"{r['wall_s_with_compile']:.0f} s",
        ]
        for r in data["throughput"]
    ]
    head = ["task", "N envs", "action repeat", "env steps/s (training)", "updates/s"]
    head.append("wall clock incl. compile")
    return (
        f"`{data['preset']}`, UTD {data['throughput'][0]['updates_per_step']} per iteration\n\n"
        + table(head, rows)
        + "\n\n"
        + provenance(path, cpu_machine(data))
    )


def _twins(data: dict) -> dict:
    """``device_learning_cpu.json``'s twins, ``{task: [{seed, device, host}, ...]}``."""
    return {t: v for t, v in data.get("twins", {}).items() if isinstance(v, list) and v}


def results_device_learning() -> str:
    """``device_learning_cpu.json``: time to threshold as a user runs it, and the
    device loop against the host loop per update on the DMC twin."""
    path = RESULTS / "device_learning_cpu.json"
    if not path.is_file():
        return "*No device-loop learning results committed yet.*"
    data = json.loads(path.read_text())
    blocks = []
    solve = data.get("solve", [])
    if solve:
        first = solve[0]
        rows = [
            [
                str(r["seed"]),
                f"{'reached' if r['solved'] else 'not reached'} at {r['env_steps']:,}",
                f"{r['updates']:,}",
                f"{max(v for *_, v in r['curve']):.0f}",
                f"{r['wall_s_with_compile'] / 60:.1f} min",
            ]
            for r in solve
        ]
        head = ["seed", f"{first['threshold']:g} (env steps)", "updates", "best", "wall clock"]
        blocks.append(
            f"`simbarl train --env {first['env']} --stop-at-return {first['threshold']:g}` "
            f"with nothing else set ({first['num_envs']} envs, action repeat "
            f"{first['action_repeat']}, {first['updates_per_step']} updates per vector step, "
            f"batch {first['batch_size']}); the wall clock includes compilation.\n\n"
            + table(head, rows)
        )
    twins = _twins(data)
    if twins:
        rows = []
        for pairs in twins.values():
            for loop in ("device", "host"):
                runs = [p[loop] for p in pairs]
                last = [r["curve"][-1][2] for r in runs]
                best = [max(v for *_, v in r["curve"]) for r in runs]
                rows.append(
                    [f"`{runs[0]['env']}`", loop, str(runs[0]["action_repeat"]),
                     f"{runs[0]['curve'][-1][1]:,}",
                     " / ".join(f"{v:.0f}" for v in last), f"{statistics.mean(last):.0f}",
                     " / ".join(f"{v:.0f}" for v in best)]
                )  # fmt: skip
        seeds = sorted({p["seed"] for pairs in twins.values() for p in pairs})
        head = ["task", "loop", "action repeat", "updates", "last evaluation per seed", "mean",
                "best per seed"]  # fmt: skip
        r = next(iter(twins.values()))[0]["device"]
        ant = (
            ", and `brax:ant` beside Gymnasium's `Ant-v4` (another model of the same robot)"
            if "brax:ant" in twins
            else ""
        )
        blocks.append(
            f"Each `mjx:` task beside its DeepMind Control original in the host loop{ant}, one "
            f"config for both ({r['num_envs']} envs, the device task's action repeat, "
            f"{r['updates_per_step']} updates per vector step, batch "
            f"{r['batch_size']}, actor {r['actor']}, critic {r['critic']}), seeds "
            f"{', '.join(map(str, seeds))}:\n\n" + table(head, rows)
        )
    return "\n\n".join(blocks) + "\n\n" + provenance(path, cpu_machine(data))


def results_flashsac_parallel_cpu() -> str:
    """``flashsac-parallel`` in the device loop on the CPU: its evaluations
    (``benchmarks/results/flashsac_parallel_cpu``, a ``simbarl train`` run directory,
    with ``machine.json`` beside it)."""
    run = RESULTS / "flashsac_parallel_cpu"
    cfg = json.loads((run / "config.json").read_text())
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line]
    evals = [r for r in rows if "eval/return" in r and r["eval/return"] == r["eval/return"]]
    updates = {r["env_step"]: r["perf/updates"] for r in rows if "perf/updates" in r}
    body = [
        [f"{r['env_step']:,}", f"{updates[r['env_step']]:,}" if r["env_step"] in updates else "",
         f"{r['eval/return']:.1f}"]
        for r in evals
    ]  # fmt: skip
    machine = cpu_machine(json.loads((run / "machine.json").read_text()))
    return (
        f"`simbarl train --preset flashsac-parallel --env {cfg['env']}` with "
        f"{cfg['num_envs']:,} envs, batch {cfg['batch_size']:,}, "
        f"{cfg['updates_per_step']} updates per vector step and {cfg['warmup_steps']:,} "
        f"random steps, evaluated over {cfg['eval_episodes']} episodes:\n\n"
        + table(["env steps", "updates", "return"], body)
        + "\n\n"
        + provenance(run / "metrics.jsonl", machine)
    )


def results_device_sharding() -> str:
    data, path = _load("device_sharding_cpu.json")
    rows = [
        [
            f"`{s['env']}`",
            f"{s['num_envs']:,}",
            d,
            f"{rate:,.0f}",
            f"{s['vs_one_device'][d]:.2f}x",
        ]
        for s in data["summary"]
        for d, rate in s["env_steps_per_s"].items()
    ]
    head = ["task", "N envs", "devices", "env steps/s (training, median)", "vs one device"]
    first = data["runs"][0]
    repeats = 1 + max(r["repeat"] for r in data["runs"])
    intro = (
        f"`{data['preset']}`, batch {first['batch_size']}, UTD {first['updates_per_step']} "
        f"per iteration, {first['env_steps']:,} env steps a measurement, {repeats} "
        f"measurements per device count, alternated; {data['note']}."
    )
    return "\n\n".join([intro, table(head, rows), provenance(path, cpu_machine(data))])


def results_vmap_seeds() -> str:
    data, path = _load("vmap_seeds_cpu.json")
    rows = [
        [
            f"{data['seeds']} vmapped seeds, one process",
            f"{data['vmapped_env_steps_per_s']:.1f}",
            f"{data['vmapped_wall_s']:.0f} s",
        ],
        [
            f"{data['seeds']} separate processes",
            f"{data['separate_env_steps_per_s']:.1f}",
            f"{data['separate_wall_s']:.0f} s",
        ],
    ]
    head = ["how", "env steps/s (sum over seeds)", "wall clock"]
    return (
        f"`{data['preset']}` on `{data['env']}`, {data['steps_per_seed']:,} env steps a seed: "
        f"speed-up {data['speedup']:.2f}x.\n\n{table(head, rows)}\n\n"
        + provenance(path, cpu_machine(data))
    )


def results_evolve_vmap() -> str:
    """Population step time, vmapped groups against one call per member, on the CPU and,
    where measured, on a GPU."""
    blocks = []
    for name, title in (
        ("evolve_vmap_cpu.json", "On the CPU"),
        ("evolve_vmap_gpu.json", "On a GPU"),
    ):
        if not (RESULTS / name).is_file():
            continue
        data, path = _load(name)
        rows = []
        for r in data["rows"]:
            how = (
                "vmapped (one call)"
                if r["vmap"]
                else f"one call per member ({r['calls_per_step']})"
            )
            cost = r["cost_vs_members_x_one"]
            rows.append(
                [
                    r["members"],
                    how if r["members"] > 1 else "alone",
                    f"{r['ms_per_population_step']:.1f}",
                    f"{r['ms_per_member_step']:.1f}",
                    "" if cost is None else f"{cost:.2f}",
                ]
            )
        head = ["members", "how", "ms per population step", "ms per member", "of members x one"]
        meta = data["meta"]
        machine = (
            f"machine: {meta['cpus']}-core {meta['cpu']}, {meta['device']}, JAX {meta['jax']}, "
            f"`{data['preset']}` "
            f"on `{data['env']}` (UTD {data['updates_per_step']}, batch {data['batch_size']}), "
            f"{data['steps_timed']} population steps timed, measured {meta['date']}"
        )
        blocks.append(f"**{title}**\n\n{table(head, rows)}\n\n{provenance(path, machine)}")
    return "\n\n".join(blocks)


def results_population_device() -> str:
    """A device population's step (``simbarl evolve`` on an ``mjx:`` task) against one
    member's, on the CPU and, where measured, on a GPU."""
    blocks = []
    for name, title in (
        ("population_device_cpu.json", "On the CPU"),
        ("population_device_gpu.json", "On a GPU"),
    ):
        if not (RESULTS / name).is_file():
            continue
        data, path = _load(name)
        rows = [
            [r["population"], r["groups"], f"{r['ms_per_population_step']:.1f}",
             f"{r['env_steps_per_s']:,.0f}", f"{r['cost_vs_one_member']:.2f}"]
            for r in data["results"]
        ]  # fmt: skip
        head = ["members", "groups", "ms per population step", "env steps/s", "of one member"]
        machine = (
            f"machine: {data['cpu_count']}-core {data['machine']}, {data['device']}, JAX "
            f"{data['jax']}, `{data['preset']}` on `{data['env']}` "
            f"({data['num_envs_per_member']} envs per member, UTD {data['updates_per_step']}, "
            f"batch {data['batch_size']}), measured {data['date']}"
        )
        blocks.append(f"**{title}**\n\n{table(head, rows)}\n\n{provenance(path, machine)}")
    return "\n\n".join(blocks) or "*No device population timings committed yet.*"


def results_evolve() -> str:
    """``benchmarks/evolve.sh``: per task, each arm's best and mean final return, env steps
    and wall clock, and the figure of the best return against the arm's env steps."""
    path = RESULTS / "evolve" / "evolve.json"
    if not path.is_file():
        return "No result yet: `bash benchmarks/evolve.sh` writes it. " + provenance(path)
    data = json.loads(path.read_text())
    head = ["task", "arm", "best final return", "mean final return", "env steps", "wall clock"]
    rows, measured = [], []
    for task, entry in data["tasks"].items():
        arms, meta = entry["arms"], entry["meta"]
        for i, (arm, a) in enumerate(arms.items()):
            wall = f"{a['wall_clock_s'] / 60:,.0f} min" if a.get("wall_clock_s") else ""
            rows.append([
                "" if i else f"`{task}`", arm, f"{a['best']:,.1f}", f"{a['mean']:,.1f}",
                f"{a['env_steps']:,}", wall,
            ])  # fmt: skip
        budget = ""
        if "evolve" in arms:
            e = arms["evolve"]
            per = e["env_steps"] // (e["members"] * e["generations"])
            budget = f"{e['members']} members x {e['generations']} generations x {per:,} steps, "
        measured.append(
            f"`{task}`: {budget}{meta['cpus']}-core {meta['machine']}, measured {meta['date']}"
        )
    return (
        f"{table(head, rows)}\n\n"
        f"![Best return against the env steps each arm had spent](../{FIGURE_DIR}/evolve.svg)\n\n"
        "Final return: `evolve`, each surviving member's fitness (the mean of its "
        "deterministic episodes) in the last generation; `independent`, each run's last "
        "evaluation; `tune`, each trial's last evaluation (a pruned trial's at its pruning). "
        "The figure counts every member's, run's or trial's env steps. "
        + provenance(path, "machine and budget: " + "; ".join(measured))
    )


def results_humanoid_bench_speed() -> str:
    data, path = _load("humanoid_bench_speed_cpu.json")
    meta = data["meta"]
    rows = [
        [
            f"`{r['env']}`",
            f"{r['env_steps_per_s']:.0f}",
            f"{r['env_steps_per_cpu_s']:.0f}",
            r["episodes_ended"],
        ]
        for r in data["results"]
    ]
    head = ["task", "env steps/s", "env steps per CPU second", "episodes ended"]
    rates = [r["env_steps_per_s"] for r in data["results"]]
    machine = (
        f"machine: {meta['cores']}-core {meta['cpu']}, mujoco {meta['mujoco']}, "
        f"measured {meta['date']}; {meta['note']}"
    )
    return (
        f"{table(head, rows)}\n\nMedian over the {len(rates)} tasks: "
        f"{statistics.median(rates):.0f} env steps/s.\n\n" + provenance(path, machine)
    )


def results_peers_sbx() -> str:
    """simbarl against SBX in one run: updates/s per side, best and median rounds."""
    data, path = _load("peers/sbx_cpu.json")
    meta = data["meta"]
    titles = {"simbav2": "`simbav2` vs SBX `SimbaPolicy`", "mlp": "`sac-mlp` vs SBX `MlpPolicy`"}
    rows = []
    for case, c in data["cases"].items():
        sides = [k[: -len("_best")] for k in c if k.endswith("_best") and "_over_" not in k]
        for side in sides:
            first = c["rounds"][side][0]
            size = f"{first['critic_params'] / 1e6:.2f}M" if "critic_params" in first else ""
            ratio = "" if side == "sbx" else f"**{c[f'{side}_over_sbx_best']:.2f}x**"
            median_ratio = "" if side == "sbx" else f"{c[f'{side}_over_sbx_median']:.2f}x"
            rows.append(
                [
                    titles.get(case, case),
                    f"`{side}`",
                    size,
                    f"{c[f'{side}_best']:.2f}",
                    f"{c[f'{side}_median']:.2f}",
                    ratio,
                    median_ratio,
                ]
            )
    head = ["case", "side", "critic parameters (2 critics)", "updates/s, best round"]
    head += ["median round", "of SBX, best", "of SBX, median"]
    secs = meta["seconds_per_measurement"]
    machine = (
        f"machine: {meta['cpus']}-core {meta['cpu']}, `{meta['env']}`, batch "
        f"{meta['batch_size']}, {meta['critics']} critics, one gradient step per call with its "
        f"replay draw, {meta['rounds']} interleaved rounds of {secs:.0f} s per side, "
        f"measured {meta['date_utc']} UTC"
    )
    return table(head, rows) + "\n\n" + provenance(path, machine)


def results_peers_flashsac() -> str:
    """simbarl ``--preset flashsac`` against the official FlashSAC code, whole loop, in
    one run per file (``benchmarks/peers/flashsac_throughput.py``): the official code
    eager and with its ``torch.compile``."""
    rows, sources = [], []
    for name in ("peers/flashsac_cpu.json", "peers/flashsac_cpu_compile.json"):
        data, path = _load(name)
        meta = data["meta"]
        official = "eager" if meta["official_compile"] == "off" else "`torch.compile`"
        for side, label in (("simbarl", "simbarl `flashsac`"), ("official", "official")):
            first = data["rounds"][side][0]
            version = f"JAX {first['jax']}" if side == "simbarl" else f"torch {first['torch']}"
            ratio = (
                f"**{data['ratio_updates_per_s_best']:.2f}x** / "
                f"{data['ratio_updates_per_s_median']:.2f}x"
                if side == "simbarl"
                else ""
            )
            rows.append(
                [
                    official,
                    f"{label} ({version})",
                    f"{data[f'{side}_updates_per_s_best']:.2f}",
                    f"{data[f'{side}_updates_per_s_median']:.2f}",
                    f"{data[f'{side}_env_steps_per_s_median']:.2f}",
                    ratio,
                ]
            )
        sources.append(
            provenance(
                path,
                f"machine: {meta['cpus']}-core {meta['cpu']}, `{meta['env']}`, batch "
                f"{meta['batch_size']}, {meta['updates_per_env_step']} update per env step, "
                f"{meta['widths']}, {meta['rounds']} alternating rounds of "
                f"{meta['window_env_steps']} timed env steps per side, measured "
                f"{meta['date_utc']} UTC",
            )
        )
    head = ["official code", "side", "updates/s, best round", "median round"]
    head += ["env steps/s, median", "simbarl over official, best / median"]
    return table(head, rows) + "\n\n" + "\n\n".join(sources)


def _machines(entry: dict) -> list[str]:
    """The machines (and torch versions, where recorded) of a curves.json entry's runs."""
    found = set()
    for r in entry.get("runs", {}).values():
        if "machine" in r:
            found.add(r["machine"] + (f", torch {r['torch']}" if r.get("torch") else ""))
    return sorted(found)


def _flashsac_full_files() -> list[str]:
    """The ``learning.py`` outputs of full-size ``flashsac`` runs (CPU, then GPU) present."""
    names = ("flashsac_full/curves.json", "gpu/flashsac_full/curves.json")
    return [n for n in names if (RESULTS / n).is_file()]


def _finished_seeds(data: dict) -> bool:
    """Whether a curves file holds at least one finished ``flashsac`` seed."""
    return any(e.get("flashsac", {}).get("per_seed") for e in data["tasks"].values())


def results_flashsac_small() -> str:
    """simbarl's ``flashsac-small`` (critic 128, actor 64), and the official FlashSAC code
    at the same widths on the same machine where its runs have finished, with the
    published full-size FlashSAC and SimbaV2: return at 20k/50k/100k per task (mean ±
    std over finished seeds), from ``flashsac_small/curves.json`` (learning.py) and
    ``peers/flashsac_learning_cpu.json`` (``benchmarks/peers/flashsac_learning.py``); and
    ``flashsac`` at the published size on the published protocol where a run has finished
    (``flashsac_full/curves.json``, ``gpu/flashsac_full/curves.json``)."""
    ours, ours_path = _load("flashsac_small/curves.json")
    arms = [(f"simbarl `{ours['preset']}`", ours, ours_path)]
    full = [(d, p) for d, p in map(_load, _flashsac_full_files()) if _finished_seeds(d)]
    for data, path in full:
        arms.append(("simbarl `flashsac`, full size, 1M budget", data, path))
    peer = None
    if (RESULTS / "peers" / "flashsac_learning_cpu.json").is_file():
        peer, peer_path = _load("peers/flashsac_learning_cpu.json")
        if _finished_seeds(peer):
            arms.append(("official FlashSAC, same widths", peer, peer_path))
        else:
            peer = None
    steps = (20_000, 50_000, 100_000)
    head = ["task", "code", "seeds"] + [f"return at {s // 1000}k" for s in steps]
    head.append("training wall clock, per seed")
    rows, machines = [], {path: set() for _, _, path in arms}
    for task in sorted({t for _, data, _ in arms for t in data["tasks"]}):
        for label, data, path in arms:
            entry = data["tasks"].get(task, {}).get("flashsac")
            if not entry or not entry["curve"]:
                continue
            by_step = {c["env_step"]: c for c in entry["curve"]}
            cells = [
                f"{by_step[s]['mean']:,.1f} ± {by_step[s]['std']:,.1f}" if s in by_step else ""
                for s in steps
            ]
            by_seed = sorted(entry.get("runs", {}).items(), key=lambda kv: int(kv[0]))
            runs = [r for k, r in by_seed if k in entry["per_seed"]]
            walls = [f"{r['train_seconds'] / 60:.0f}" for r in runs if "train_seconds" in r]
            wall = f"{', '.join(walls)} min" if walls else "not recorded"
            machines[path].update(_machines(entry))
            rows.append([f"`{task}`", label, len(entry["per_seed"]), *cells, wall])
        for system, name, seeds in (("flashsac", "FlashSAC", 5), ("simbaV2_utd2", "SimbaV2", 10)):
            published = [_published(task, s, system) for s in steps]
            if any(published):
                rows.append([f"`{task}`", f"published {name}, full size", seeds, *published, ""])
    from simbarl.config import preset

    counts = [f"{preset(ours['preset']).eval_episodes} (`{ours['preset']}`)"]
    notes = ""
    if full:
        counts.append(f"{preset('flashsac').eval_episodes} (`flashsac`)")
        notes += (
            "The full-size rows follow the published protocol: the learning-rate schedule "
            "spans a 1M-step budget and the run is read at 100k. "
        )
    if peer is not None:
        widths = peer["meta"]["widths"]
        counts.append(f"{peer['eval_episodes']} (official)")
        notes += (
            f"The official code ran at critic {widths['critic_hidden_dim']} / actor "
            f"{widths['actor_hidden_dim']} (`{peer['preset']}`), its other settings those "
            "of `scripts/run_mujoco.sh`. "
        )
    return (
        f"{table(head, rows)}\n\nMean ± std over seeds (population), {ours['steps']:,} env "
        f"steps, evaluation episodes per point: {', '.join(counts)}. The wall clock leaves "
        "evaluation out and moves with the load of the machine, shared with other jobs; the "
        f"speed comparison is the table of alternating rounds above. {notes}"
        + " ".join(
            provenance(p, "machine: " + ("; ".join(sorted(m)) or "not recorded"))
            for p, m in machines.items()
        )
    )


def results_update_profile() -> str:
    """Where the full-size update's time goes, one and two critics, float32 and bfloat16."""
    rows, sources = [], []
    for name in ("profile_update_cpu.json", "profile_update_cpu_bf16.json"):
        if not (RESULTS / name).exists():
            continue
        data, path = _load(name)
        for r in data["results"]:
            dtype = "bfloat16" if any("bfloat16" in o for o in r["overrides"]) else "float32"
            g = r["op_ms_per_update"]
            rows.append(
                [
                    r["critics"],
                    dtype,
                    f"{r['matmul_gflop_per_update']:.1f} / {r['xla_cost_flops'] / 1e9:.1f}",
                    f"{r['xla_cost_bytes_accessed'] / 1e9:.2f}",
                    f"{r['ms_per_update']:.0f}",
                    f"**{r['updates_per_s']:.2f}**",
                    f"{r['fraction_of_matmul_limit']:.2f}",
                    f"{g['matmul']:.0f}",
                    f"{g['parameter-sized']:.0f}",
                    f"{g['activation-sized']:.0f}",
                    f"{g['other']:.0f}",
                ]
            )
        meta = data["meta"]
        machine = (
            f"{meta['cpus']}-core {meta.get('cpu', 'CPU')}, JAX {meta['jax']}, `{meta['env']}`, "
            "float32 matmul "
            f"{meta['matmul_gflops']:.0f} GFLOP/s in the same run, measured {meta['date_utc']} UTC"
        )
        sources.append(provenance(path, machine))
    head = ["critics", "matmul dtype", "GFLOP: layer count / XLA's", "GB read+written (XLA)"]
    head += ["ms / update", "updates/s"]
    head += ["fraction of float32 matmul limit", "op ms: matmul", "parameter-sized"]
    head += ["activation-sized", "other"]
    return table(head, rows) + "\n\n" + "\n\n".join(sources)


def _arm_rows(tasks, arms: list[tuple[str, dict]], steps: tuple[int, ...]) -> list[list]:
    """Learning-curve rows of ``sac`` per task and arm (``(label, curves.json)``): seeds,
    mean ± std at ``steps``, and the mean over the evaluations."""
    rows = []
    for task in tasks:
        for label, data in arms:
            algo = data["tasks"].get(task, {}).get("sac")
            if algo is None:
                continue
            by_step = {c["env_step"]: c for c in algo["curve"]}
            cells = [
                f"{by_step[s]['mean']:,.1f} ± {by_step[s]['std']:,.1f}" if s in by_step else ""
                for s in steps
            ]
            mean_curve = statistics.mean(c["mean"] for c in algo["curve"])
            rows.append([f"`{task}`", label, algo["curve"][-1]["n"], *cells, f"{mean_curve:,.1f}"])
    return rows


def _arm_head(arm: str, steps: tuple[int, ...]) -> list[str]:
    head = ["task", arm, "seeds"] + [f"return at {s // 1000}k" for s in steps]
    return head + ["mean over the evaluations"]


def results_bf16_learning() -> str:
    """SAC learning with bfloat16 matmuls against the float32 curves, task by task."""
    data16, path16 = _load("learning_bf16/curves.json")
    data32, path32 = _load("learning/curves.json")
    steps = (20_000, 50_000, 100_000)
    rows = _arm_rows(data16["tasks"], [("float32", data32), ("bfloat16", data16)], steps)
    return (
        f"{table(_arm_head('matmul dtype', steps), rows)}\n\n`sac`, `{data16['preset']}`, "
        f"{data16['steps']:,} env steps, std over seeds (population). "
        + provenance(path16, "machine: the project's 2-core x86_64 CPU, no GPU")
        + " "
        + provenance(path32)
    )


def results_overlap_learning() -> str:
    """The host loop with and without ``--overlap``, task by task."""
    if not (RESULTS / "overlap" / "on" / "curves.json").is_file():
        return "*No overlap learning check committed yet.*"
    on, path_on = _load("overlap/on/curves.json")
    off, path_off = _load("overlap/off/curves.json")
    every = on["steps"] // 3
    steps = (every, 2 * every, on["steps"])
    rows = _arm_rows(off["tasks"], [("off", off), ("on", on)], steps)
    return (
        f"{table(_arm_head('--overlap', steps), rows)}\n\n`sac`, `{on['preset']}`, "
        f"{on['steps']:,} env steps, std over seeds (population). "
        + provenance(path_off)
        + " "
        + provenance(path_on)
    )


def results_recency_speed() -> str:
    """Uniform (A) against recency-weighted (B) replay: draw alone and whole loop."""
    draw, draw_path = _load("recency_speed_cpu_draw.json")
    loop, loop_path = _load("recency_speed_cpu.json")
    d, lp = draw["results"][0], loop["results"][0]
    med = statistics.median
    b_label = ", ".join(d["B_overrides"])
    a_rate, b_rate = med(d["A_draw_draws_per_s"]), med(d["B_draw_draws_per_s"])
    a_share, b_share = d["A_draw_time_over_update_time"], d["B_draw_time_over_update_time"]
    a_loop, b_loop = med(lp["A_loop_agent_steps_per_s"]), med(lp["B_loop_agent_steps_per_s"])
    rows = [
        [
            f"draw alone, samples of {d['updates_per_step']} x {d['batch_size']} per s "
            f"({d['rounds']} rounds)",
            f"{a_rate:,.0f}",
            f"{b_rate:,.0f}",
            f"{d['draw_ratio_B_over_A_median']:.2f} ({d['draw_ratio_B_over_A_best']:.2f})",
        ],
        [
            "draw time / time of the updates it feeds",
            f"{a_share:.2%}",
            f"{b_share:.2%}",
            f"+{b_share - a_share:.2%}",
        ],
        [
            f"whole host loop, agent steps per s ({lp['rounds']} rounds)",
            f"{a_loop:.2f}",
            f"{b_loop:.2f}",
            f"{lp['loop_ratio_B_over_A_median']:.2f} ({lp['loop_ratio_B_over_A_best']:.2f})",
        ],
    ]
    head = [f"`{d['preset']}`, {d['algo']}, {d['env']}", "uniform (A)", f"`{b_label}` (B)"]
    head.append("B / A")
    return "\n\n".join(
        [
            table(head, rows),
            provenance(draw_path, f"{draw['meta']['cpu_model']}, {draw['meta']['note']}"),
            provenance(loop_path, f"{loop['meta']['cpu_model']}, {loop['meta']['note']}"),
        ]
    )


def results_recency() -> str:
    """``benchmarks/recency_table.py``: return per evaluation, uniform against recency-weighted."""
    data, path = _load("recency_replay/recency_replay.json")
    plan, settings = data["plan"], data["settings"]
    order = {name: i for i, name in enumerate(plan["settings"])}
    settings = sorted(settings, key=lambda s: (s["task"], order.get(s["setting"], len(order))))
    steps = sorted({int(k) for s in settings for k in s["curve"]})
    rows = []
    for s in settings:
        decay = s["recency_decay_steps"]
        flag = f"`{decay}`" if decay else "0 (uniform)"
        curve = [s["curve"].get(str(k)) for k in steps]
        pub = s["published"]
        rows.append(
            [f"`{s['task']}`", flag, len(s["seeds"])]
            + [f"{c['mean']:.0f} ± {c['std']:.0f}" if c else "" for c in curve]
            + [f"{statistics.fmean(c['mean'] for c in curve if c):.0f}"]
            + [
                f"{pub['mean']:.1f} ± {pub['std']:.1f}" if pub else "",
                f"{s['train_seconds']['mean'] / 60:.0f}",
            ]
        )
    head = ["task", "`--replay.recency-decay-steps`", "seeds"]
    head += [f"return at {k // 1000}k" for k in steps] + ["mean over the evaluations"]
    head += [f"published SimbaV2 at {steps[-1] // 1000}k", "min per run"]
    done = {(s["task"], s["setting"], seed) for s in settings for seed in s["seeds"]}
    planned = [
        (t, n, seed) for t in plan["tasks"] for n in plan["settings"] for seed in plan["seeds"]
    ]
    missing = [p for p in planned if p not in done]
    status = f"{len(planned) - len(missing)} runs"
    if missing:
        tasks = sorted({t for t, _, _ in missing})
        status += f"; fewer seeds than the other rows on {', '.join(f'`{t}`' for t in tasks)}"
    machines = ", ".join(data["meta"]["machines"])
    return (
        f"{table(head, rows)}\n\n{status}. Mean ± std over seeds (population); minutes per run "
        "are training wall clock, two runs at a time; a run that shared the CPU with other "
        "jobs took longer. "
        + provenance(path, f"machine: {machines}, {data['meta']['cpu_count']} cores, no GPU")
    )


# The protocol guide's table: task, widths (critic / actor) and the benchmarks/learning.py
# output the row is read from; a row whose output holds no run at 100k is left out.
PROTOCOL_ROWS = (
    ("HalfCheetah-v4", "128 / 64", "learning/curves.json"),
    ("dmc:walker-walk", "512 / 128", "full-size/curves.json"),
    ("dmc:walker-walk", "256 / 64", "width/w256/curves.json"),
    ("dmc:walker-walk", "128 / 32", "width/w128/curves.json"),
    ("dmc:walker-walk", "128 / 64", "width/small-budget1m/curves.json"),
    ("dmc:finger-spin", "512 / 128", "full-size/curves.json"),
)


def results_protocol() -> str:
    """Return at 100k on the published protocol, by width, from ``learning.py`` curves."""
    head = ["task", "width (critic / actor)", "seeds", "return at 100k (per seed)"]
    head += ["published SimbaV2, full size", "training wall clock per run"]
    rows, sources = [], {}  # sources: result file -> the machines its rows ran on
    for task, width, name in PROTOCOL_ROWS:
        path = RESULTS / name
        data = json.loads(path.read_text()) if path.is_file() else {}
        sac = data.get("tasks", {}).get(task, {}).get("sac")
        end = data.get("steps")
        curves = (sac or {}).get("per_seed", {}).values()
        values = [r for r in (dict(map(tuple, c)).get(end) for c in curves) if r is not None]
        if not values:
            continue
        runs = sac.get("runs", {}).values()
        machines = sorted({r["machine"] for r in runs if "machine" in r})
        sources.setdefault(path, set()).update(machines)
        walls = [r["train_seconds"] for r in runs if "train_seconds" in r]
        per_seed = ", ".join(f"{v:,.0f}" for v in values)
        mean = f"{statistics.fmean(values):,.1f} ± {statistics.pstdev(values):,.1f}"
        cell = f"{mean} ({per_seed})" if len(values) > 1 else per_seed
        wall = f"{statistics.fmean(walls) / 60:.0f} min" if walls else "not recorded"
        rows.append([
            f"`{task}`", f"{width} (`{data['preset']}`)", len(values), cell,
            _published(task, 100_000), ", ".join([wall, *machines]),
        ])  # fmt: skip
    mini = json.loads((RESULTS / "mini_suite" / "scores.json").read_text())
    for t in mini["tasks"]:
        if t["task"] == "dmc:walker-walk":
            rows.append([
                "`dmc:walker-walk`, for reference", "128 / 64 (`simbav2-small`, 100k budget)",
                t["seeds"], f"{t['mean']:,.1f} ± {t['std']:,.1f}", _published(t["task"], 100_000),
                "",
            ])  # fmt: skip
    lines = [provenance(p, f"machine: {', '.join(sorted(m)) or 'not recorded'}")
             for p, m in sources.items()]  # fmt: skip
    lines.append(provenance(RESULTS / "mini_suite" / "scores.json", "machine: 2-core CPU, no GPU"))
    return (
        f"{table(head, rows)}\n\nMean ± std over seeds (population). The wall clock is the "
        "training time logged by the runs (pieces added up), on the machine named beside it; "
        "the CPU runs shared a 2-core CPU two at a time unless the guide says otherwise. "
        + " ".join(lines)
    )


def _learning_rate_at(task: str, budget: int, env_step: int) -> float:
    """``simbav2-small``'s learning rate at ``env_step`` of a ``budget``-step run on
    ``task``: the agent's own schedule at the updates made by then."""
    from simbarl.agents.common import lr_schedule
    from simbarl.config import preset
    from simbarl.runs import run_dir as rd
    from simbarl.runs.learner import iterations_for, updates_after, warmup_iterations

    cfg, _ = rd.resolve(dataclasses.replace(preset("simbav2-small"), env=task, steps=budget))
    a = cfg.agent
    schedule = lr_schedule(
        a.learning_rate,
        a.learning_rate_end,
        updates_after(cfg, iterations_for(cfg)),
        a.learning_rate_decay,
    )
    iterations = env_step // (cfg.num_envs * cfg.action_repeat)
    done = updates_after(cfg, iterations) if iterations > warmup_iterations(cfg) else 0
    return float(schedule(done))


def _avg_returns(path: Path) -> dict[str, dict[int, dict[int, float]]]:
    """A sweep's ``results.csv`` as task -> env step -> seed -> average return."""
    from simbarl.sweep.results import read_csv

    out: dict[str, dict[int, dict[int, float]]] = {}
    for r in read_csv(path):
        if r["metric"] == "avg_return":
            by_step = out.setdefault(r["task"], {})
            by_step.setdefault(int(r["env_step"]), {})[int(r["seed"])] = float(r["value"])
    return out


def results_schedule() -> str:
    """``simbav2-small`` at every evaluation, per task: the mini suite's 100k budget
    against the published 1M budget read at 100k (same preset, tasks and seeds).
    Walker-walk's 1M-budget runs come from the width study, the other tasks' from
    ``benchmarks/mini_suite.sh`` with ``BUDGET=1000000`` where it has been run."""
    short_path = RESULTS / "mini_suite" / "results.csv"
    short = _avg_returns(short_path)
    walker, walker_path = _load("width/small-budget1m/curves.json")
    long: dict[str, dict[int, dict[int, float]]] = {}
    for seed, curve in walker["tasks"]["dmc:walker-walk"]["sac"]["per_seed"].items():
        for step, value in curve:
            long.setdefault("dmc:walker-walk", {}).setdefault(int(step), {})[int(seed)] = value
    sources = [short_path, walker_path]
    suite_path = RESULTS / "mini_suite_1m" / "results.csv"
    if suite_path.is_file():
        sources.append(suite_path)
        long.update(_avg_returns(suite_path))

    def cell(by_seed: dict[int, float], seeds: list[int]) -> str:
        values = [by_seed[s] for s in seeds if s in by_seed]
        if len(values) < len(seeds):
            return ""
        each = ", ".join(f"{v:,.0f}" for v in values)
        return f"{statistics.fmean(values):,.0f} ± {statistics.pstdev(values):,.0f} ({each})"

    head = ["task", "env steps", "learning rate, 100k budget", "100k budget (mini suite)"]
    head += ["learning rate, 1M budget", "1M budget, read at 100k"]
    rows = []
    for task in sorted(long, key=lambda t: (t != "dmc:walker-walk", t)):
        seeds = sorted({s for by_seed in long[task].values() for s in by_seed})
        for i, step in enumerate(sorted(set(short.get(task, {})) & set(long[task]))):
            rows.append([
                "" if i else f"`{task}`", f"{step:,}",
                f"{_learning_rate_at(task, 100_000, step):.1e}", cell(short[task][step], seeds),
                f"{_learning_rate_at(task, 1_000_000, step):.1e}", cell(long[task][step], seeds),
            ])  # fmt: skip
    return (
        f"{table(head, rows)}\n\n`simbav2-small` (critic 128, actor 64), the same seeds "
        "in both columns: mean ± std over seeds (population), then each seed. The learning "
        "rate decays linearly from 1e-4 to 5e-5 over the updates of the budget after the "
        "warm-up. "
        + " ".join(provenance(p) for p in sources[:-1])
        + " "
        + provenance(sources[-1], "machine: the project's 2-core x86_64 CPU, no GPU")
    )


def results_h1_stand() -> str:
    """``benchmarks/h1_stand.sh``: ``simbav2-small`` on ``h1-stand-v0`` per seed at every
    evaluation, beside the published curve, and each run's training wall clock."""
    from simbarl.runs.metrics import read_metrics, training_seconds
    from simbarl.sweep.runner import end_step

    base = RESULTS / "h1_stand"
    path = base / "results.csv"
    sweep = json.loads((base / "sweep.json").read_text())
    until = max(end_step(r["config"]) for r in sweep["runs"])
    budget = max(r["config"]["steps"] for r in sweep["runs"])
    returns = _avg_returns(path)["h1-stand-v0"]
    seeds = sorted({s for by_seed in returns.values() for s in by_seed})
    head = ["env steps", *(f"seed {s}" for s in seeds), "mean ± std", "published SimbaV2"]
    rows = []
    for step, by_seed in sorted(returns.items()):
        values = list(by_seed.values())
        mean = statistics.fmean(values)
        spread = f"{mean:,.1f} ± {statistics.pstdev(values):,.1f}" if len(values) > 1 else ""
        cells = [f"{by_seed[s]:,.1f}" if s in by_seed else "" for s in seeds]
        rows.append([f"{step:,}", *cells, spread, _published("h1-stand-v0", step)])
    walls = []
    for run in sorted(sweep["runs"], key=lambda r: r["seed"]):
        metrics = read_metrics(ROOT / run["run_dir"])
        if metrics:
            seconds = training_seconds(metrics, end_step(run["config"]))
            walls.append(f"seed {run['seed']}: {seconds / 60:.0f} min")
    return (
        f"{table(head, rows)}\n\n`simbav2-small` with a {budget:,}-step budget (the "
        f"published schedule) read at {until:,} env steps (action repeat 2), an "
        "evaluation of 10 episodes every 50k; mean ± std over seeds (population). "
        "Published: SimbaV2 (full size, UTD 2), mean ± std over its seeds. Training wall "
        f"clock per run, two at a time: {', '.join(walls) or 'not recorded'}. "
        + provenance(path, "machine: the project's 2-core x86_64 CPU, no GPU")
    )


DYNAMICS_NORMS = (
    ("feature norm (sum over layers)", "feature_norm/total"),
    ("parameter norm", "param_norm/total"),
    ("gradient norm", "grad_norm/total"),
    ("effective LR", "elr/total"),
    ("optimizer step", "step/total"),
)


def results_dynamics() -> str:
    """``benchmarks/dynamics.sh``: first and last value of each norm, CV of the ELR, overhead."""
    data, path = _load("dynamics/dynamics.json")
    configs, meta = data["configs"], data["meta"]
    presets = [p for p in configs if isinstance(configs[p], dict)]
    rows = []
    for net in ("critic", "actor"):
        for title, m in DYNAMICS_NORMS:
            rows.append(
                [f"{net}: {title}, first → last"]
                + [
                    f"{configs[p][f'{net}/{m}/first']:.4g} → {configs[p][f'{net}/{m}/last']:.4g}"
                    for p in presets
                ]
            )
        for title, m in (("effective LR", "elr/total"), ("optimizer step", "step/total")):
            rows.append(
                [f"{net}: {title}, coefficient of variation over the second half"]
                + [f"{configs[p][f'{net}/{m}/cv_second_half']:.3f}" for p in presets]
            )
    rows.append(
        ["evaluation return at the end (mean ± std over seeds)"]
        + [
            f"{configs[p]['final_return']:.1f} ± {configs[p]['final_return_std']:.1f}"
            for p in presets
        ]
    )
    rows.append(
        ["probe overhead: probe seconds / run wall clock"]
        + [
            f"{configs[p]['overhead_pct']:.2f}% ({configs[p]['probe_calls']:.0f} probes, "
            f"{configs[p]['probe_s']:.0f} s of {configs[p]['wall_s']:.0f} s)"
            for p in presets
        ]
    )
    head = ["mean over seeds"] + [f"`{p}` ({configs[p]['seeds']:.0f} seeds)" for p in presets]
    machine = (
        f"{cpu_machine(meta)}, no GPU, {meta['jobs']} runs at a time on one XLA thread each, "
        f"measured {meta['date']}"
    )
    return (
        f"{table(head, rows)}\n\n`{meta['env']}`, {meta['steps']:,} env steps, critic width 128, "
        f"actor width 64. {provenance(path, machine)}"
    )


def results_dynamics_overhead() -> str:
    """``benchmarks/dynamics_overhead.sh``: the same run with the probe on and off."""
    data, path = _load("dynamics_overhead/overhead.json")
    meta = data["meta"]
    rows = [
        [
            f"`{data['preset']}` on `{data['env']}`, {data['steps']:,} env steps",
            f"{data['wall_on_s']:.0f} s",
            f"{data['wall_off_s']:.0f} s",
            f"{data['wall_ratio_on_over_off']:.3f}",
            f"{data['probe_calls']} probes, {data['probe_s']:.1f} s "
            f"({100 * data['probe_share_of_wall']:.2f}% of the run; compiling "
            f"{data['probe_first_s']:.1f} s)",
        ]
    ]
    head = [
        "run",
        f"probe every {data['analyze_every']:,}",
        "probe off",
        "wall on / off",
        "the probe's own time",
    ]
    machine = (
        f"{cpu_machine(meta)}, no GPU, both runs at once on one XLA thread each, "
        f"measured {meta['date']}"
    )
    return f"{table(head, rows)}\n\n{provenance(path, machine)}"


TUNE_SHORT = {  # search-space names in the table's header
    "agent.learning_rate": "lr",
    "agent.critic.width": "critic width",
    "agent.critic.num_blocks": "critic blocks",
    "agent.actor.width": "actor width",
    "updates_per_step": "UTD",
    "batch_size": "batch",
    "agent.tau": "tau",
    "agent.discount": "discount",
    "agent.target_entropy_scale": "entropy scale",
    "agent.g_max": "G_max",
}


def _returns(runs: list[dict]) -> str:
    finals = [r["final"] for r in runs if r.get("final") is not None]
    if not finals:
        return "not run"
    mean = sum(finals) / len(finals)
    std = (sum((f - mean) ** 2 for f in finals) / len(finals)) ** 0.5
    seeds = ", ".join(str(r["seed"]) for r in runs)
    each = ", ".join(f"{f:.0f}" for f in finals)
    return f"{mean:.0f} ± {std:.0f} (seeds {seeds}: {each})"


def results_tune() -> str:
    """``benchmarks/tune_cartpole.sh``: the study, its top trials and the confirmation runs."""
    data, path = _load("tune_cartpole/tune_cartpole.json")
    meta, counts = data["meta"], data["counts"]
    walls = [w for w in (data["wall_interrupted_s"], data["wall_resumed_s"]) if w]
    finished = sum(n for state, n in counts.items() if state != "interrupted")
    best = data["best"]
    confirm = data["confirm"]
    rows = [
        ["study", f"`{data['preset']}` on `{data['env']}`: {finished} trials of "
                  f"{data['steps']:,} env steps, {data['sampler']} sampler, {data['pruner']} "
                  f"pruner, {data['objective']} return"],
        ["wall clock", f"{sum(walls) / 60:.0f} min: " + " + ".join(
            f"{w / 60:.0f}" for w in walls) + " min (interrupted, then the same command again)"],
        ["trials by state", ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))],
        ["pruned at env step", ", ".join(f"{s:,}" for s in data["pruned_at"]) or "none"],
        ["env steps trained", f"{data['env_steps_trained']:,} of "
                              f"{finished * data['steps']:,} without pruning"],
        ["best trial", "none finished" if best is None else
                       f"trial {best['number']}: {best['value']:.0f}"],
        ["best config, other seeds", _returns(confirm.get("best", []))],
        ["default config", _returns(confirm.get("default", []))],
    ]  # fmt: skip
    if data.get("resume_line"):
        found = data["resume_line"].split(": ", 1)[-1].split(";")[0]
        rows.insert(2, ["the second session found", found])
    done = [t for t in data["trials"] if t["state"] == "complete"]
    done.sort(key=lambda t: t["value"], reverse=True)
    names = [n for n in TUNE_SHORT if any(n in t["params"] for t in done)]
    top = table(
        ["trial", "return"] + [TUNE_SHORT[n] for n in names],
        [
            [t["number"], f"{t['value']:.0f}"]
            + [f"{v:.3g}" if isinstance(v, float) else str(v)
               for v in (t["params"][n] for n in names)]
            for t in done[:5]
        ],
    )  # fmt: skip
    machine = (
        f"{cpu_machine(meta)}, no GPU, {data['workers']} workers on one XLA thread "
        f"each, measured {meta['date']}"
    )
    return (
        f"{table(['', ''], rows)}\n\nThe five best finished trials:\n\n{top}\n\n"
        f"{provenance(path, machine)}"
    )


def figure_sac_family(out: Path) -> list[Path]:
    """Learning curves of ``learning/curves.json`` against the published SimbaV2 curve."""
    from simbarl.analysis import plots

    data = json.loads((RESULTS / "learning" / "curves.json").read_text())
    panel = {t: t.removeprefix("dmc:").replace("-v5", "-v4") for t in data["tasks"]}
    versions: dict[str, set] = {}  # a published -v4 panel -> the MuJoCo versions we ran
    for task, name in panel.items():
        if name.endswith("-v4"):
            versions.setdefault(name, set()).add(task[-3:])
    rows = []
    for task, algos in data["tasks"].items():
        both = len(versions.get(panel[task], ())) > 1  # then the -v4 runs are labelled so
        for algo, entry in algos.items():
            system = f"{algo} (-v4)" if both and task.endswith("-v4") else algo
            for seed, curve in entry["per_seed"].items():
                rows += [
                    {"system": system, "task": panel[task], "metric": "avg_return",
                     "env_step": s, "value": v, "seed": int(seed)}
                    for s, v in curve
                ]  # fmt: skip
    fig = plots.learning_curves(rows, cols=2)
    for ax in fig.axes:  # the published MuJoCo curves are on -v4; ours on -v4 and/or -v5
        ran = versions.get(ax.get_title())
        if ran:
            ours = " and ".join(sorted(ran, reverse=True))
            title = f"{ax.get_title().removesuffix('-v4')}: ours {ours}, published -v4"
            ax.set_title(title, fontsize=10)
    return [Path(p) for p in plots.save(fig, str(out / "sac_family"), formats=("svg",))]


def figure_dynamics(out: Path) -> list[Path]:
    """The training-dynamics figure of the committed ``benchmarks/dynamics.sh`` runs."""
    from simbarl.analysis import dynamics, plots

    data = json.loads((RESULTS / "dynamics" / "dynamics.json").read_text())
    runs = [str(RESULTS / "dynamics" / name) for name in data["meta"]["runs"]]
    plotted = dynamics.series(dynamics.collect(runs))
    return [Path(p) for p in plots.save(dynamics.figure(plotted), str(out / "dynamics"), ("svg",))]


def figure_evolve(out: Path) -> list[Path]:
    """``evolve.json``'s curves: each arm's best return against the env steps it spent."""
    from simbarl.analysis import plots

    path = RESULTS / "evolve" / "evolve.json"
    if not path.is_file():
        return []
    rows = [
        {"system": arm, "task": task, "metric": "avg_return", "env_step": s, "value": v, "seed": 0}
        for task, entry in json.loads(path.read_text())["tasks"].items()
        for arm, a in entry["arms"].items()
        for s, v in a.get("curve", [])
    ]
    fig = plots.learning_curves(rows, published=(), cols=2)
    for ax in fig.axes:
        ax.set_xlabel("env steps of the whole arm")
        ax.set_ylabel("best return")
    return [Path(p) for p in plots.save(fig, str(out / "evolve"), formats=("svg",))]


def figure_device_learning(out: Path) -> list[Path]:
    """``device_learning_cpu.json``'s twins: return against updates, device and host loop."""
    from simbarl.analysis import plots

    path = RESULTS / "device_learning_cpu.json"
    twins = _twins(json.loads(path.read_text())) if path.is_file() else {}
    if not twins:
        return []
    rows = [
        {"system": f"{loop} loop", "task": f"{task} / {pair['host']['env']}",
         "metric": "avg_return", "env_step": updates, "value": value, "seed": pair["seed"]}
        for task, pairs in twins.items()
        for pair in pairs
        for loop in ("device", "host")
        for _, updates, value in pair[loop]["curve"]
    ]  # fmt: skip
    fig = plots.learning_curves(rows, published=(), cols=2)
    for ax in fig.axes:
        ax.set_xlabel("updates")
    return [Path(p) for p in plots.save(fig, str(out / "device_learning"), formats=("svg",))]


def figure_flashsac_small(out: Path) -> list[Path]:
    """simbarl's ``flashsac-small`` and the official code at the same widths, per seed,
    with the published full-size FlashSAC and SimbaV2 points."""
    from simbarl.analysis import plots

    files = {
        "simbarl flashsac-small": RESULTS / "flashsac_small" / "curves.json",
        "official FlashSAC, same widths": RESULTS / "peers" / "flashsac_learning_cpu.json",
        **{
            "simbarl flashsac, full size" + (" (GPU)" if n.startswith("gpu/") else ""): RESULTS / n
            for n in _flashsac_full_files()
        },
    }
    files = {side: path for side, path in files.items() if path.is_file()}
    rows = [
        {"system": side, "task": task, "metric": "avg_return", "env_step": s, "value": v,
         "seed": int(seed)}
        for side, path in files.items()
        for task, algos in json.loads(path.read_text())["tasks"].items()
        for seed, curve in algos.get("flashsac", {}).get("per_seed", {}).items()
        for s, v in curve
    ]  # fmt: skip
    if not rows:
        return []
    fig = plots.learning_curves(rows, published=("flashsac", "simbaV2_utd2"), cols=2)
    return [Path(p) for p in plots.save(fig, str(out / "flashsac_small"), formats=("svg",))]


def layers_block() -> str:
    """The package layers, bottom-up in ``simbarl/layers.py``, drawn top-down."""
    from simbarl.layers import layer_block

    return layer_block()


# ---------------------------------------------------------------- fault cases

# The fault cases of docs/guides/run-safety.md: each test is parametrized over a
# module-level list of (id, what happens, what is left, ...) tuples, read here
# with ``ast`` (the tests are not imported). (test file, list, heading)
FAULT_TABLES = (
    ("test_full_disk.py", "CASES", "A full disk"),
    ("test_stop_signals.py", "CASES", "Ctrl-C and SIGTERM at any moment"),
    ("test_crafted_checkpoints.py", "CASES", "A crafted or edited checkpoint.npz"),
    ("test_run_safety.py", "CONFIG_EDITS", "A hand-edited config.json"),
    ("test_sweep_safety.py", "LOCKED_RUNS", "A sweep meets a run another process holds"),
    ("test_sweep_safety.py", "BAD_OUTS", "simbarl sweep --out that cannot be written"),
)


def _fault_cases(path: Path, name: str) -> list[tuple[str, str, str]]:
    """The ``(id, what happens, what is left)`` of each tuple in list ``name`` of ``path``."""
    for node in ast.parse(path.read_text()).body:
        targets = getattr(node, "targets", [])
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in targets] == [name]:
            rows = []
            for case in node.value.elts:
                first = case.elts[:3]
                if not all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in first):
                    raise ValueError(f"{path.name} {name}: a case does not start with 3 strings")
                rows.append(tuple(e.value for e in first))
            return rows
    raise ValueError(f"{path.name} has no list {name} of fault cases")


def fault_cases() -> str:
    """One table per fault the tests provoke: what happens, what it leaves behind."""
    blocks = []
    for file, name, heading in FAULT_TABLES:
        cell = lambda text: text.replace("|", "\\|")
        rows = [
            [f"`{case}`", cell(what), cell(left)]
            for case, what, left in _fault_cases(ROOT / "tests" / file, name)
        ]
        source = f"*Each row is a case of `tests/{file}` (`{name}`).*"
        body = table(["case", "what happens", "what is left"], rows)
        blocks.append(f"**{heading}**\n\n{body}\n\n{source}")
    return "\n\n".join(blocks)


GENERATORS = {
    "layers": layers_block,
    "config-reference": config_reference,
    "presets": presets_reference,
    "results-throughput": results_throughput,
    "results-sac-family": results_sac_family,
    "results-mini-suite": results_mini_suite,
    "results-offline": results_offline,
    "results-device-loop": results_device_loop,
    "results-device-learning": results_device_learning,
    "results-population-device": results_population_device,
    "results-overlap-learning": results_overlap_learning,
    "results-flashsac-parallel-cpu": results_flashsac_parallel_cpu,
    "results-vmap-seeds": results_vmap_seeds,
    "results-device-sharding": results_device_sharding,
    "results-evolve-vmap": results_evolve_vmap,
    "results-evolve": results_evolve,
    "results-humanoid-bench-speed": results_humanoid_bench_speed,
    "results-recency-speed": results_recency_speed,
    "results-recency": results_recency,
    "results-protocol": results_protocol,
    "results-schedule": results_schedule,
    "results-h1-stand": results_h1_stand,
    "results-peers-sbx": results_peers_sbx,
    "results-peers-flashsac": results_peers_flashsac,
    "results-throughput-flashsac": results_throughput_flashsac,
    "results-flashsac-small": results_flashsac_small,
    "results-update-profile": results_update_profile,
    "results-bf16-learning": results_bf16_learning,
    "results-dynamics": results_dynamics,
    "results-dynamics-overhead": results_dynamics_overhead,
    "results-tune": results_tune,
    "fault-cases": fault_cases,
}
FIGURES = (
    figure_sac_family,
    figure_dynamics,
    figure_evolve,
    figure_device_learning,
    figure_flashsac_small,
)


# ------------------------------------------------------------- MkDocs events

_figure_dir: Path | None = None


def on_files(files, config):
    """Publish the committed result figures and the figures drawn from result files."""
    global _figure_dir
    from mkdocs.structure.files import File

    for rel in COMMITTED_FIGURES:
        src = Path("results") / rel
        files.append(File(str(src), str(RESULTS.parent), config["site_dir"], False))
    _figure_dir = Path(tempfile.mkdtemp(prefix="simbarl-figures-")) / FIGURE_DIR
    _figure_dir.mkdir(parents=True)
    for draw in FIGURES:
        for path in draw(_figure_dir):
            rel = Path(FIGURE_DIR) / path.name
            files.append(File(str(rel), str(_figure_dir.parent), config["site_dir"], False))
    return files


def on_page_markdown(markdown, page, config, files):
    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise KeyError(f"{page.file.src_path}: unknown generated block {name!r}")
        return GENERATORS[name]()

    return MARKER.sub(replace, markdown)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    for arg in sys.argv[1:] or list(GENERATORS):
        print(GENERATORS[arg](), end="\n\n")
