#!/usr/bin/env python3
"""PyTorch-CPU baseline for `npm run bench -- --model <SD folder>`, on the same weights.

Rebuilds the folder's UNet, CLIP text encoder and AutoencoderKL decoder in PyTorch with diffusers /
transformers parameter names (the UNet and text encoder from scripts/cuda-pretrain.py), loads the
folder's safetensors, and first reproduces the engine's outputs stored by the bench (`--io`): the
UNet on one batch (refuses to time when the relative error is 1e-3 or more), the text encoder, the
VAE decode and one LoRA training step (loss and every LoRA gradient). Then it times the same work
as the engine: text encoding (batch 2), UNet evaluations at batch 2, the VAE decode, a LoRA training
step at batch 1; prints one JSON line. Relative error = ||a - b|| / ||b||.

  OMP_WAIT_POLICY=PASSIVE python3 scripts/sd-torch-bench.py --model DIR --io engine-io.safetensors \\
      --lora-modules modules.json [--lora-rank 8] [--threads 2] [--unet-repeats 2] [--evaluations 20]
"""
import argparse
import importlib.util
import json
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

_spec = importlib.util.spec_from_file_location("cuda_pretrain", os.path.join(os.path.dirname(os.path.abspath(__file__)), "cuda-pretrain.py"))
cp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cp)

VAE_EPS = 1e-6  # diffusers' Encoder/Decoder GroupNorm eps


class VaeResnet(nn.Module):
    def __init__(self, cin, cout, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=VAE_EPS)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, cout, eps=VAE_EPS)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        h = self.conv2(F.silu(self.norm2(self.conv1(F.silu(self.norm1(x))))))
        return (x if self.conv_shortcut is None else self.conv_shortcut(x)) + h


class VaeAttention(nn.Module):
    """The mid block's single-head spatial self-attention with its GroupNorm and residual."""

    def __init__(self, c, groups):
        super().__init__()
        self.group_norm = nn.GroupNorm(groups, c, eps=VAE_EPS)
        self.to_q, self.to_k, self.to_v = nn.Linear(c, c), nn.Linear(c, c), nn.Linear(c, c)
        self.to_out = nn.ModuleList([nn.Linear(c, c)])

    def forward(self, x):
        b, c, h, w = x.shape
        t = self.group_norm(x).reshape(b, c, h * w).transpose(1, 2)
        out = self.to_out[0](cp.attend(self.to_q(t), self.to_k(t), self.to_v(t), 1, None))
        return out.transpose(1, 2).reshape(b, c, h, w) + x


class VaeDecoder(nn.Module):
    """AutoencoderKL's post_quant_conv and Decoder (diffusers names), latents → image."""

    def __init__(self, cfg):
        super().__init__()
        ch, groups, lpb, latent = cfg["block_out_channels"], cfg.get("norm_num_groups", 32), cfg.get("layers_per_block", 1), cfg.get("latent_channels", 4)
        self.post_quant_conv = nn.Conv2d(latent, latent, 1)
        dec = nn.Module()
        dec.conv_in = nn.Conv2d(latent, ch[-1], 3, padding=1)
        dec.mid_block = nn.Module()
        dec.mid_block.resnets = nn.ModuleList([VaeResnet(ch[-1], ch[-1], groups), VaeResnet(ch[-1], ch[-1], groups)])
        dec.mid_block.attentions = nn.ModuleList([VaeAttention(ch[-1], groups)])
        dec.up_blocks = nn.ModuleList()
        prev = ch[-1]
        for i, out in enumerate(reversed(ch)):
            blk = nn.Module()
            blk.resnets = nn.ModuleList()
            for _ in range(lpb + 1):
                blk.resnets.append(VaeResnet(prev, out, groups))
                prev = out
            blk.upsamplers = None
            if i < len(ch) - 1:
                u = nn.Module()
                u.conv = nn.Conv2d(out, out, 3, padding=1)
                blk.upsamplers = nn.ModuleList([u])
            dec.up_blocks.append(blk)
        dec.conv_norm_out = nn.GroupNorm(groups, ch[0], eps=VAE_EPS)
        dec.conv_out = nn.Conv2d(ch[0], cfg.get("out_channels", 3), 3, padding=1)
        self.decoder = dec

    def forward(self, z):
        d = self.decoder
        h = d.conv_in(self.post_quant_conv(z))
        m = d.mid_block
        h = m.resnets[1](m.attentions[0](m.resnets[0](h)))
        for blk in d.up_blocks:
            for res in blk.resnets:
                h = res(h)
            if blk.upsamplers is not None:
                h = blk.upsamplers[0].conv(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return d.conv_out(F.silu(d.conv_norm_out(h)))


class LoraLinear(nn.Module):
    def __init__(self, base, a, b):
        super().__init__()
        self.base, self.a, self.b = base, nn.Parameter(a), nn.Parameter(b)

    def forward(self, x):
        return self.base(x) + (x @ self.a.t()) @ self.b.t()


class LoraConv(nn.Module):
    """peft's Conv2d LoRA: a k×k convolution to rank r (A), then a 1×1 one back (B)."""

    def __init__(self, base, a, b):
        super().__init__()
        k = base.kernel_size[0]
        self.base = base
        self.a = nn.Parameter(a.reshape(a.shape[0], base.in_channels, k, k))
        self.b = nn.Parameter(b.reshape(b.shape[0], b.shape[1], 1, 1))

    def forward(self, x):
        down = F.conv2d(x, self.a, stride=self.base.stride, padding=self.base.padding)
        return self.base(x) + F.conv2d(down, self.b)


def add_lora(unet, modules, factors):
    wrapped = {}
    for name in modules:
        parent_name, child = name.rsplit(".", 1)
        parent = unet.get_submodule(parent_name)
        base = getattr(parent, child)
        a, b = factors[f"lora.{name}.a"].clone(), factors[f"lora.{name}.b"].clone()
        layer = LoraLinear(base, a, b) if isinstance(base, nn.Linear) else LoraConv(base, a, b)
        setattr(parent, child, layer)
        wrapped[name] = layer
    return wrapped


def rel_err(got, want):
    got, want = got.detach().double().flatten(), want.double().flatten()
    return ((got - want).norm() / want.norm().clamp_min(1e-30)).item()


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def blas_library():
    """The BLAS torch's matrix products went through: Debian's reference libblas is ~10x slower than OpenBLAS."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
        return sorted(os.path.realpath(p) for p in libs)
    except OSError:
        return None


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--io", required=True, help="the engine's inputs and outputs (float32 safetensors written by the bench)")
    ap.add_argument("--lora-modules", required=True, help="JSON list of LoRA module names")
    ap.add_argument("--lora-rank", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--unet-repeats", type=int, default=2)
    ap.add_argument("--evaluations", type=int, default=20, help="UNet evaluations per image, for the per-image figure")
    ap.add_argument("--tolerance", type=float, default=1e-3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    io = cp.load_safetensors(args.io)
    modules = json.load(open(args.lora_modules))
    t_load = time.perf_counter()
    unet, text, unet_cfg, _ = cp.load_models(args.model, "cpu")
    vae_cfg = cp.read_json(os.path.join(args.model, "vae", "config.json"))
    vae = VaeDecoder(vae_cfg)
    vae_weights = cp.load_safetensors(os.path.join(args.model, "vae", "diffusion_pytorch_model.safetensors"), keep=lambda n: n.startswith(("decoder.", "post_quant_conv.")))
    vae.load_state_dict(vae_weights, strict=True)
    del vae_weights
    for m in (unet, text, vae):
        m.eval().requires_grad_(False)
    load_seconds = time.perf_counter() - t_load
    log(f"loaded in {load_seconds:.1f} s")
    checks = {}

    with torch.no_grad():
        ids = io["text_ids"].long()
        ones = torch.ones(ids.shape)
        checks["textRelErr"] = rel_err(text(ids, ones), io["text_hidden"])
        text_times = [timed(lambda: text(ids, ones))[1] for _ in range(3)]

        sample, t = io["unet_sample"], io["unet_timesteps"]
        ctx = io["text_hidden"]
        out, first_unet = timed(lambda: unet(sample, t, ctx, ones))
        checks["unetRelErr"] = rel_err(out, io["unet_out"])
        log(f"UNet batch 2 reproduces the engine: relative error {checks['unetRelErr']:.2e} ({first_unet:.1f} s)")
        if not checks["unetRelErr"] < args.tolerance:
            raise SystemExit(f"refusing to time: the PyTorch UNet differs from the engine's (relative error {checks['unetRelErr']:.3e})")
        unet_times = []
        for i in range(args.unet_repeats):
            x = torch.randn(sample.shape)
            tt = torch.full((sample.shape[0],), 800.0 - 100 * i)
            unet_times.append(timed(lambda: unet(x, tt, ctx, ones))[1])
            log(f"  UNet batch 2: {unet_times[-1]:.2f} s")

        image, first_vae = timed(lambda: vae(io["vae_latents"]))
        checks["vaeRelErr"] = rel_err(image, io["vae_image"])
        _, vae_seconds = timed(lambda: vae(io["vae_latents"]))
        log(f"VAE decode: {vae_seconds:.1f} s (first {first_vae:.1f} s), relative error {checks['vaeRelErr']:.2e}")
    inference_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024

    # One LoRA training step on the engine's inputs: forward, MSE, backward (LoRA factors only).
    factors = {k: v for k, v in io.items() if k.startswith("lora.")}
    wrapped = add_lora(unet, modules, factors)
    mask = torch.ones(1, io["train_context"].shape[1])

    def step():
        for layer in wrapped.values():
            layer.a.grad = layer.b.grad = None
        pred = unet(io["train_noisy"], io["train_timesteps"], io["train_context"], mask)
        loss = ((pred - io["train_target"]) ** 2).mean()
        loss.backward()
        return loss

    loss, first_step = timed(step)
    checks["trainingLossRelErr"] = rel_err(loss.reshape(1), io["train_loss"])
    got = torch.cat([g for layer in wrapped.values() for g in (layer.a.grad.flatten(), layer.b.grad.flatten())])
    want = torch.cat([io[f"grad:lora.{n}.{p}"].flatten() for n in wrapped for p in ("a", "b")])
    checks["trainingGradRelErr"] = rel_err(got, want)
    _, step_seconds = timed(step)
    log(f"LoRA training step: {step_seconds:.1f} s (first {first_step:.1f} s); loss rel. error {checks['trainingLossRelErr']:.2e}, gradients {checks['trainingGradRelErr']:.2e}")

    unet_step = float(np.median(unet_times))
    text_seconds = float(np.median(text_times))
    print(json.dumps({
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "blas": blas_library(),
        "ompWaitPolicy": os.environ.get("OMP_WAIT_POLICY"),
        "loadSeconds": round(load_seconds, 1),
        "checks": {k: float(f"{v:.3e}") for k, v in checks.items()},
        "textEncodeSeconds": round(text_seconds, 3),
        "unetStepSeconds": round(unet_step, 3),
        "unetStepSamples": [round(s, 3) for s in unet_times],
        "vaeDecodeSeconds": round(vae_seconds, 3),
        # Not run whole: text encoding + evaluations × the UNet step + the VAE decode.
        "secondsPerImage": round(text_seconds + args.evaluations * unet_step + vae_seconds, 2),
        "secondsPerImageMeasured": False,
        "trainingStepSeconds": round(step_seconds, 3),
        "trainingFirstStepSeconds": round(first_step, 3),
        "peakRssMb": {"afterInference": inference_rss, "afterTraining": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024},
    }))


if __name__ == "__main__":
    main()
