#!/usr/bin/env python3
"""Runs the engine's exported ONNX graphs with ONNX Runtime's CUDA execution provider (or the CPU one)
and compares them with the outputs the engine's CPU run stored beside them.

On the machine with the repository:
  npm run make-random-sd                                   # .cache/sd15-random (SD-1.5 shapes)
  npm run bench -- --export .cache/sd15-onnx --model .cache/sd15-random
Copy .cache/sd15-onnx to the GPU host (onnxruntime-gpu and numpy; no Node), then:
  python3 scripts/onnx-cuda-check.py --dir sd15-onnx [--provider cuda|cpu] [--repeats 3] [--tolerance 1e-2]

Prints one JSON line: per graph (UNet with LoRA inputs, VAE decoder, LoRA training step) the
provider that ran it, session creation seconds, the first run and the median of the timed runs, and
per output the relative error ||gpu - cpu|| / ||cpu|| against the stored CPU outputs; exits non-zero
when a graph falls back to the CPU under --provider cuda or an error exceeds the tolerance.
(CUDA convolutions and matrix products may use TF32, hence the default tolerance of 1e-2.)
"""
import argparse
import json
import mmap
import os
import statistics
import sys
import time

import numpy as np


def read_safetensors(path):
    """float32 arrays by name (the bench writes F32 only)."""
    out = {}
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as raw:
        n = int.from_bytes(raw[:8], "little")
        header = json.loads(raw[8:8 + n])
        for name, info in header.items():
            if name == "__metadata__":
                continue
            if info["dtype"] != "F32":
                raise ValueError(f"{path}: {name} is {info['dtype']}, expected F32")
            start, end = info["data_offsets"]
            view = np.frombuffer(raw, dtype="<f4", count=(end - start) // 4, offset=8 + n + start)
            out[name] = view.reshape(info["shape"]).copy()
            del view
    return out


def rel_err(got, want):
    got, want = np.asarray(got, dtype=np.float64).ravel(), np.asarray(want, dtype=np.float64).ravel()
    return float(np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-30))


def check_graph(ort, directory, entry, providers, repeats):
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    t0 = time.perf_counter()
    # From the path, so ONNX Runtime finds the external data file beside the model.
    session = ort.InferenceSession(os.path.join(directory, entry["model"]), sess_options=opts, providers=providers)
    create_seconds = time.perf_counter() - t0
    feeds = read_safetensors(os.path.join(directory, entry["inputs"]))
    expected = read_safetensors(os.path.join(directory, entry["outputs"]))
    names = [o.name for o in session.get_outputs()]
    t0 = time.perf_counter()
    outputs = session.run(names, feeds)
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        session.run(names, feeds)
        times.append(time.perf_counter() - t0)
    errors = {name: rel_err(value, expected[name]) for name, value in zip(names, outputs)}
    finite = all(bool(np.isfinite(v).all()) for v in outputs)
    return {
        "provider": session.get_providers()[0],
        "createSeconds": round(create_seconds, 2),
        "firstRunSeconds": round(first, 4),
        "seconds": round(statistics.median(times), 4) if times else None,
        "cpuSecondsInExport": entry.get("cpuSeconds"),
        "maxRelErr": max(errors.values()),
        "worstOutput": max(errors, key=errors.get),
        "relErr": {k: float(f"{v:.3e}") for k, v in errors.items()} if len(errors) <= 8 else {"outputs": len(errors)},
        "finite": finite,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True, help="folder written by npm run bench -- --export")
    ap.add_argument("--provider", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tolerance", type=float, default=1e-2)
    ap.add_argument("--graphs", help="comma-separated subset of the manifest's graphs")
    args = ap.parse_args()
    try:
        import onnxruntime as ort  # after parsing, so --help works without it
    except ImportError:
        raise SystemExit("no onnxruntime module: pip install onnxruntime-gpu (CUDA) or onnxruntime (CPU)")

    with open(os.path.join(args.dir, "manifest.json")) as f:
        manifest = json.load(f)
    wanted = set(args.graphs.split(",")) if args.graphs else None
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if args.provider == "cuda" else ["CPUExecutionProvider"]
    if args.provider == "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
        raise SystemExit(f"this onnxruntime ({ort.__version__}) has no CUDAExecutionProvider: install onnxruntime-gpu")
    result = {"onnxruntime": ort.__version__, "provider": args.provider, "tolerance": args.tolerance, "graphs": {}}
    problems = []
    for entry in manifest["graphs"]:
        if wanted and entry["name"] not in wanted:
            continue
        print(f"{entry['name']}: {entry['description']}", file=sys.stderr, flush=True)
        r = check_graph(ort, args.dir, entry, providers, args.repeats)
        result["graphs"][entry["name"]] = r
        if args.provider == "cuda" and r["provider"] != "CUDAExecutionProvider":
            problems.append(f"{entry['name']} ran on {r['provider']}")
        if not r["finite"] or not r["maxRelErr"] <= args.tolerance:
            problems.append(f"{entry['name']}: relative error {r['maxRelErr']:.3e}")
        if r["seconds"] and entry.get("cpuSeconds"):
            r["speedupOverExportCpu"] = round(entry["cpuSeconds"] / r["seconds"], 2)
    result["ok"] = not problems
    if problems:
        result["problems"] = problems
    print(json.dumps(result))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
