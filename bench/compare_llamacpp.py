"""Side-by-side throughput of `sov bench` and llama.cpp (llama-cpp-python) on the same GGUF.

    build/venv-llamacpp/bin/python bench/compare_llamacpp.py --sov build/release/sov \
        [-m FILE.gguf ...] [-p 512] [-n 128] [-d 0] [-r 5] [-t THREADS] [--out-dir papers]

Both engines run alternately, one repetition at a time (round k: `sov bench -r 1`, then one llama.cpp
repetition of every test), so slow drifts of clock speed or background load hit both alike. llama.cpp side:
prefill = `Llama.eval` of p random tokens on a cleared context (after d untimed depth tokens), decode = n
single-token `eval` calls; n_threads and n_threads_batch both set, mmap on, logits of the last token only.
Token ids: uniform random from fixed seeds (each engine its own generator; in a dense model the ids do not
change the work done).

Without -m every GGUF found is compared: a two-layer Q4_K_M model built from tests/fixtures/kquant_style
(llama.cpp needs a tokenizer and at least one sliding layer, which the one-layer fixture lacks), the Gemma 3
270M GGUF, and ~/.cache/sovereign/models/*.gguf. One papers/bench_<model>.md per model, with the machine
description and the exact command.
"""

import argparse
import glob
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time

import numpy as np

import llama_cpp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> list[str]:
    cpu, flags = "unknown", []
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and cpu == "unknown":
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = line.split(":", 1)[1].split()
    simd = [x for x in flags if x.startswith(("avx", "fma", "f16c", "amx", "sse4", "bmi2"))]
    mem = "unknown"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    dirty = sh(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"])
    commit = sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]) + (" (+ local changes)" if dirty else "")
    return [
        f"* CPU: {cpu}; {os.cpu_count()} logical cores visible",
        f"* SIMD flags: {' '.join(sorted(simd))}",
        f"* memory: {mem}",
        f"* kernel: {platform.system()} {platform.release()}",
        f"* compiler: {sh(['c++', '--version']).splitlines()[0]}",
        f"* Python {platform.python_version()}, llama-cpp-python {llama_cpp.__version__}, numpy {np.__version__}",
        f"* llama.cpp system info: {llama_cpp.llama_print_system_info().decode().strip()}",
        f"* sov: commit {commit}",
    ]


def make_fixture(sov: str, work: str) -> str:
    """Two-layer [sliding, full] model with kquant_style's shapes, a tokenizer, -> Q4_K_M GGUF."""
    from safetensors.numpy import load_file, save_file

    src = os.path.join(ROOT, "tests", "fixtures", "kquant_style")
    d = os.path.join(work, "kquant_two_layer")
    out = d + ".Q4_K_M.gguf"
    if os.path.exists(out):
        return out
    os.makedirs(d, exist_ok=True)
    cfg = json.load(open(os.path.join(src, "config.json")))
    cfg["num_hidden_layers"] = 2
    cfg["layer_types"] = ["sliding_attention", "full_attention"]
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    rng = np.random.default_rng(7)
    tensors = {}
    for k, v in load_file(os.path.join(src, "model.safetensors")).items():
        tensors[k] = v
        if k.startswith("model.layers.0."):
            v1 = v if v.ndim != 2 else (rng.standard_normal(v.shape) / np.sqrt(v.shape[1])).astype(np.float32)
            tensors[k.replace("layers.0.", "layers.1.")] = v1
    save_file(tensors, os.path.join(d, "model.safetensors"))
    vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, "a": 4, "b": 5, "ab": 6}  # one merge: a b
    for i in range(len(vocab), cfg["vocab_size"]):
        vocab[f"tok{i}"] = i
    added = [{"id": i, "content": c, "special": True} for c, i in vocab.items() if i < 4]
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        json.dump({"model": {"type": "BPE", "byte_fallback": True, "vocab": vocab, "merges": ["a b"]},
                   "added_tokens": added}, f)
    subprocess.run([sov, "quantize", d, out, "--type", "Q4_K_M", "--quiet"], check=True)
    return out


def sov_round(sov: str, model: str, a, seed: int) -> list[dict]:
    cmd = [sov, "bench", "-m", model, "-p", a.p, "-n", a.n, "-d", a.d, "-r", "1", "-t", str(a.threads),
           "-o", "json", "--seed", str(seed)]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


class LlamaSide:
    def __init__(self, model: str, a):
        p = max(int(x) for x in a.p.split(","))
        n = max(int(x) for x in a.n.split(","))
        d = max(int(x) for x in a.d.split(","))
        self.llm = llama_cpp.Llama(model_path=model, n_ctx=d + max(p, n) + 8, n_batch=512, n_ubatch=512,
                                   n_threads=a.threads, n_threads_batch=a.threads, use_mmap=True,
                                   logits_all=False, verbose=False)
        self.vocab = self.llm.n_vocab()

    def run(self, p: int, n: int, d: int, rng) -> float:
        tok = lambda k: [int(x) for x in rng.integers(0, self.vocab, size=k)]
        self.llm.reset()  # n_tokens = 0: the next eval clears the KV cache from position 0
        if d:
            self.llm.eval(tok(d))
        if p:
            prompt = tok(p)
            t0 = time.perf_counter()
            self.llm.eval(prompt)
            return p / (time.perf_counter() - t0)
        gen = tok(n)
        t0 = time.perf_counter()
        for t in gen:
            self.llm.eval([t])
        return n / (time.perf_counter() - t0)


def fmt(v: list[float]) -> str:
    return f"{statistics.mean(v):.2f} ± {statistics.stdev(v) if len(v) > 1 else 0.0:.2f}"


def compare(sov: str, model: str, a, out_dir: str, command: str) -> str:
    tests = [(int(p), 0, int(d)) for d in a.d.split(",") for p in a.p.split(",") if int(p) > 0]
    tests += [(0, int(n), int(d)) for d in a.d.split(",") for n in a.n.split(",") if int(n) > 0]
    tests.sort(key=lambda t: (t[2], t[1] > 0))
    load_before = os.getloadavg()
    side = LlamaSide(model, a)
    for p, n, d in tests:  # llama.cpp warm-up (sov bench warms up inside each call)
        side.run(p, n, d, np.random.default_rng(0))
    ours: dict = {t: [] for t in tests}
    theirs: dict = {t: [] for t in tests}
    extra: dict = {t: [] for t in tests}
    info = {}
    for k in range(a.r):
        for rec in sov_round(sov, model, a, seed=1000 + k):
            t = (rec["n_prompt"], rec["n_gen"], rec["n_depth"])
            ours[t].append(rec["avg_ts"])
            extra[t].append(rec)
            info = rec
        rng = np.random.default_rng(1000 + k)
        for t in tests:
            theirs[t].append(side.run(*t, rng))
    load_after = os.getloadavg()
    name = os.path.basename(model).removesuffix(".gguf")
    lines = [
        f"# sov vs llama.cpp: {name}",
        "",
        f"Model: `{os.path.basename(model)}` ({info['model_type']}, {info['model_size'] / 2**20:.1f} MiB of "
        f"weights, {info['model_n_params'] / 1e6:.2f} M parameters). {a.threads} threads for both engines, "
        f"{a.r} alternating rounds; t/s = mean ± sample stddev over rounds.",
        "",
        "Regenerate (this file is the command's output, unchanged):",
        "",
        "```",
        command,
        "```",
        "",
        "| test | sov t/s | llama.cpp t/s | sov / llama.cpp | sov weight GB/s | DRAM probe GB/s | sov roofline |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for t in tests:
        p, n, d = t
        label = (f"pp{p}" if p else f"tg{n}") + (f" @ d{d}" if d else "")
        recs = extra[t]
        gb = [r["gbps"] for r in recs if r["gbps"] is not None]
        rf = [r["roofline_frac"] for r in recs if r["roofline_frac"] is not None]
        dram = statistics.mean(r["dram_gbps"] for r in recs)
        ratio = statistics.mean(ours[t]) / statistics.mean(theirs[t])
        gbps = f"{statistics.mean(gb):.2f}" if gb else "-"
        roof = f"{100 * statistics.mean(rf):.1f}%" if rf else "-"
        lines.append(f"| {label} | {fmt(ours[t])} | {fmt(theirs[t])} | {ratio:.2f}× | {gbps} | {dram:.2f} | {roof} |")
    lines += [
        "",
        f"sov weight bytes read per decode token: {info['bytes_per_token'] / 2**20:.2f} MiB (matrices in full, embedding rows "
        "gathered); roofline = DRAM probe GB/s / those bytes.",
        "",
        "## Machine",
        "",
        *machine(),
        f"* load average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in load_before)}; after: "
        f"{', '.join(f'{x:.2f}' for x in load_after)}. A load above the core count means other processes "
        "shared the cores during the run: both engines lose time, llama.cpp's OpenMP barriers (which spin "
        "for their peers) usually more than sov's oneTBB tasks, so treat ratios from such a run as "
        "indicative only.",
        "",
    ]
    path = os.path.join(out_dir, f"bench_{name}{a.tag}.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sov", default=os.path.join(ROOT, "build", "release", "sov"))
    ap.add_argument("-m", "--model", action="append", default=[])
    ap.add_argument("-p", default="512")
    ap.add_argument("-n", default="128")
    ap.add_argument("-d", default="0")
    ap.add_argument("-r", type=int, default=5)
    ap.add_argument("-t", "--threads", type=int, default=os.cpu_count())
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "papers"))
    ap.add_argument("--tag", default="", help="appended to the output file name, e.g. _t1")
    ap.add_argument("--work", default=os.path.join(ROOT, "build", "bench-compare"))
    a = ap.parse_args()
    if a.r < 2:
        ap.error("-r must be >= 2 (a stddev needs two rounds)")
    command = "build/venv-llamacpp/bin/python bench/compare_llamacpp.py " + " ".join(
        shlex.quote(x) for x in sys.argv[1:])
    models = a.model
    if not models:
        os.makedirs(a.work, exist_ok=True)
        models = [make_fixture(a.sov, a.work)]
        cache = os.path.expanduser("~/.cache/sovereign")
        models += [m for m in [os.path.join(cache, "gemma-3-270m-q4_k_m.gguf")] if os.path.exists(m)]
        models += sorted(glob.glob(os.path.join(cache, "models", "*.gguf")))
    for m in models:
        print(f"compare: {m}", flush=True)
        try:
            print(f"compare: wrote {compare(a.sov, m, a, a.out_dir, command)}", flush=True)
        except (subprocess.CalledProcessError, ValueError, RuntimeError) as e:
            err = getattr(e, "stderr", "") or ""
            print(f"compare: {m} failed: {e} {err.strip()}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
