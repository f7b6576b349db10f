#!/usr/bin/env python3
"""Pretrains the bundled emoji base model on a CUDA GPU with PyTorch.

The same model and recipe as `npm run pretrain` (which runs on CPU through ONNX Runtime), for hosts
with an NVIDIA GPU and Python but no GPU build of the Node engines. Input is a training pack written
by `npm run training-pack` (images, tokenized caption draws, the noise schedule, the recipe and
reference outputs of the engine); output is a diffusers-format model folder that the engine loads.

  python3 scripts/cuda-pretrain.py verify --pack .cache/training-pack
  python3 scripts/cuda-pretrain.py train --pack .cache/training-pack --init models/emoji-base \\
      --out /tmp/emoji-base-cuda --batch 256 --lr 4e-4 --warmup 200 --steps 20000

`verify` rebuilds the text encoder and UNet here and checks them against the engine's outputs stored
in the pack; `train` runs the same check first and refuses to train when it fails. The modules below
follow diffusers' UNet2DConditionModel and transformers' CLIPTextModel (parameter names included) for
the block types the engine supports.
"""
import argparse
import json
import math
import mmap
import os
import re
import shutil
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------- safetensors (F16/F32 only)

def load_safetensors(path, keep=None):
    """float32 tensors by name; the file is memory-mapped, so only the converted copies take memory."""
    dtypes = {"F16": np.float16, "F32": np.float32}
    out = {}
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as raw:
        n = int.from_bytes(raw[:8], "little")
        header = json.loads(raw[8:8 + n])
        for name, info in header.items():
            if name == "__metadata__" or (keep is not None and not keep(name)):
                continue
            start, end = info["data_offsets"]
            array = np.frombuffer(raw, dtype=dtypes[info["dtype"]], count=(end - start) // np.dtype(dtypes[info["dtype"]]).itemsize, offset=8 + n + start)
            out[name] = torch.from_numpy(array.reshape(info["shape"]).astype(np.float32))
            del array  # no view may outlive the mapping
    return out


def save_safetensors(tensors, path, metadata):
    header, chunks, offset = {"__metadata__": metadata}, [], 0
    for name in sorted(tensors):
        data = tensors[name].detach().cpu().to(torch.float16).numpy().tobytes()
        header[name] = {"dtype": "F16", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(len(encoded).to_bytes(8, "little"))
        f.write(encoded)
        for chunk in chunks:
            f.write(chunk)
    os.replace(path + ".tmp", path)


# ---------------------------------------------------------------- text encoder (CLIPTextModel)

class ClipLayer(nn.Module):
    def __init__(self, d, heads, inter, eps):
        super().__init__()
        self.heads = heads
        self.layer_norm1 = nn.LayerNorm(d, eps=eps)
        self.self_attn = nn.Module()
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            setattr(self.self_attn, name, nn.Linear(d, d))
        self.layer_norm2 = nn.LayerNorm(d, eps=eps)
        self.mlp = nn.Module()
        self.mlp.fc1 = nn.Linear(d, inter)
        self.mlp.fc2 = nn.Linear(inter, d)

    def forward(self, h, bias):
        n = self.layer_norm1(h)
        a = self.self_attn
        h = h + a.out_proj(attend(a.q_proj(n), a.k_proj(n), a.v_proj(n), self.heads, bias))
        m = self.mlp.fc1(self.layer_norm2(h))
        return h + self.mlp.fc2(m * torch.sigmoid(1.702 * m))  # quick_gelu


class ClipTextEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        if cfg["hidden_act"] != "quick_gelu":
            raise ValueError(f"unsupported hidden_act {cfg['hidden_act']}")
        d = cfg["hidden_size"]
        self.text_model = nn.Module()
        self.text_model.embeddings = nn.Module()
        self.text_model.embeddings.token_embedding = nn.Embedding(cfg["vocab_size"], d)
        self.text_model.embeddings.position_embedding = nn.Embedding(cfg["max_position_embeddings"], d)
        self.text_model.encoder = nn.Module()
        self.text_model.encoder.layers = nn.ModuleList(
            ClipLayer(d, cfg["num_attention_heads"], cfg["intermediate_size"], cfg["layer_norm_eps"]) for _ in range(cfg["num_hidden_layers"])
        )
        self.text_model.final_layer_norm = nn.LayerNorm(d, eps=cfg["layer_norm_eps"])

    def forward(self, ids, mask):
        tm = self.text_model
        l = ids.shape[1]
        h = tm.embeddings.token_embedding(ids) + tm.embeddings.position_embedding.weight[:l][None]
        # Causal mask plus padding mask, −1e9 where masked, as the engine builds it.
        causal = torch.triu(torch.full((l, l), -1e9, device=ids.device), diagonal=1)
        bias = causal[None, None] + ((1 - mask) * -1e9)[:, None, None, :]
        for layer in tm.encoder.layers:
            h = layer(h, bias)
        return tm.final_layer_norm(h)


def attend(q, k, v, heads, bias):
    b, l, inner = q.shape
    m = k.shape[1]
    d = inner // heads
    q = q.reshape(b, l, heads, d).transpose(1, 2)
    k = k.reshape(b, m, heads, d).transpose(1, 2)
    v = v.reshape(b, m, heads, d).transpose(1, 2)
    bias = None if bias is None else bias.to(q.dtype)
    if hasattr(F, "scaled_dot_product_attention"):
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    else:  # PyTorch < 2.0
        scores = q @ k.transpose(-1, -2) / math.sqrt(d)
        out = torch.softmax(scores if bias is None else scores + bias, dim=-1) @ v
    return out.transpose(1, 2).reshape(b, l, inner)


# ---------------------------------------------------------------- UNet2DConditionModel

class ResnetBlock(nn.Module):
    def __init__(self, cin, cout, temb, groups, eps):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (x if self.conv_shortcut is None else self.conv_shortcut(x)) + h


class Attention(nn.Module):
    def __init__(self, dim, kv_dim, heads):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(kv_dim, dim, bias=False)
        self.to_v = nn.Linear(kv_dim, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim)])

    def forward(self, x, context=None, bias=None):
        kv = x if context is None else context
        return self.to_out[0](attend(self.to_q(x), self.to_k(kv), self.to_v(kv), self.heads, bias))


class GegluFeedForward(nn.Module):
    def __init__(self, dim):
        super().__init__()
        proj = nn.Module()
        proj.proj = nn.Linear(dim, dim * 8)
        self.net = nn.ModuleList([proj, nn.Identity(), nn.Linear(dim * 4, dim)])

    def forward(self, x):
        hidden, gate = self.net[0].proj(x).chunk(2, dim=-1)
        return self.net[2](hidden * F.gelu(gate))


class TransformerBlock(nn.Module):
    def __init__(self, dim, ctx_dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.attn1 = Attention(dim, dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.attn2 = Attention(dim, ctx_dim, heads)
        self.norm3 = nn.LayerNorm(dim, eps=1e-5)
        self.ff = GegluFeedForward(dim)

    def forward(self, x, ctx, bias):
        x = x + self.attn1(self.norm1(x))
        x = x + self.attn2(self.norm2(x), ctx, bias)
        return x + self.ff(self.norm3(x))


class Transformer2D(nn.Module):
    def __init__(self, ch, ctx_dim, heads, layers, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, ch, eps=1e-6)
        self.proj_in = nn.Conv2d(ch, ch, 1)
        self.transformer_blocks = nn.ModuleList(TransformerBlock(ch, ctx_dim, heads) for _ in range(layers))
        self.proj_out = nn.Conv2d(ch, ch, 1)

    def forward(self, x, ctx, bias):
        b, c, h, w = x.shape
        t = self.proj_in(self.norm(x)).permute(0, 2, 3, 1).reshape(b, h * w, c)
        for block in self.transformer_blocks:
            t = block(t, ctx, bias)
        return self.proj_out(t.reshape(b, h, w, c).permute(0, 3, 1, 2)) + x


class UNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        for key, expected in (("use_linear_projection", False), ("center_input_sample", False), ("resnet_time_scale_shift", "default"), ("act_fn", "silu")):
            if cfg.get(key, expected) != expected:
                raise ValueError(f"unsupported {key}={cfg[key]}")
        ch = cfg["block_out_channels"]
        n = len(ch)
        heads = cfg.get("num_attention_heads") or cfg["attention_head_dim"]
        heads = heads if isinstance(heads, list) else [heads] * n
        layers = cfg.get("transformer_layers_per_block", 1)
        layers = layers if isinstance(layers, list) else [layers] * n
        groups, eps, ctx = cfg["norm_num_groups"], cfg["norm_eps"], cfg["cross_attention_dim"]
        lpb = cfg["layers_per_block"]
        temb = ch[0] * 4
        self.cfg = cfg
        self.time_embedding = nn.Module()
        self.time_embedding.linear_1 = nn.Linear(ch[0], temb)
        self.time_embedding.linear_2 = nn.Linear(temb, temb)
        self.conv_in = nn.Conv2d(cfg["in_channels"], ch[0], 3, padding=1)

        skips = [ch[0]]
        cur = ch[0]
        self.down_blocks = nn.ModuleList()
        for i, kind in enumerate(cfg["down_block_types"]):
            blk = nn.Module()
            blk.resnets = nn.ModuleList()
            blk.attentions = nn.ModuleList() if kind == "CrossAttnDownBlock2D" else None
            for _ in range(lpb):
                blk.resnets.append(ResnetBlock(cur, ch[i], temb, groups, eps))
                cur = ch[i]
                if blk.attentions is not None:
                    blk.attentions.append(Transformer2D(cur, ctx, heads[i], layers[i], groups))
                skips.append(cur)
            blk.downsamplers = None
            if i < n - 1:
                d = nn.Module()
                d.conv = nn.Conv2d(cur, cur, 3, stride=2, padding=cfg.get("downsample_padding", 1))
                blk.downsamplers = nn.ModuleList([d])
                skips.append(cur)
            self.down_blocks.append(blk)

        self.mid_block = nn.Module()
        self.mid_block.resnets = nn.ModuleList([ResnetBlock(cur, cur, temb, groups, eps), ResnetBlock(cur, cur, temb, groups, eps)])
        self.mid_block.attentions = nn.ModuleList([Transformer2D(cur, ctx, heads[-1], layers[-1], groups)])

        self.up_blocks = nn.ModuleList()
        rev_ch, rev_heads, rev_layers = ch[::-1], heads[::-1], layers[::-1]
        for i, kind in enumerate(cfg["up_block_types"]):
            blk = nn.Module()
            blk.resnets = nn.ModuleList()
            blk.attentions = nn.ModuleList() if kind == "CrossAttnUpBlock2D" else None
            for _ in range(lpb + 1):
                blk.resnets.append(ResnetBlock(cur + skips.pop(), rev_ch[i], temb, groups, eps))
                cur = rev_ch[i]
                if blk.attentions is not None:
                    blk.attentions.append(Transformer2D(cur, ctx, rev_heads[i], rev_layers[i], groups))
            blk.upsamplers = None
            if i < n - 1:
                u = nn.Module()
                u.conv = nn.Conv2d(cur, cur, 3, padding=1)
                blk.upsamplers = nn.ModuleList([u])
            self.up_blocks.append(blk)
        self.conv_norm_out = nn.GroupNorm(groups, cur, eps=eps)
        self.conv_out = nn.Conv2d(cur, cfg["out_channels"], 3, padding=1)

    def timestep_features(self, t):
        dim = self.cfg["block_out_channels"][0]
        half = dim // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, device=t.device, dtype=torch.float32) / (half - self.cfg.get("freq_shift", 0)))
        args = t.float()[:, None] * freqs[None]
        sin, cos = torch.sin(args), torch.cos(args)
        return torch.cat([cos, sin] if self.cfg.get("flip_sin_to_cos", True) else [sin, cos], dim=1)

    def forward(self, sample, t, ctx, ctx_mask):
        bias = ((1 - ctx_mask) * -10000.0)[:, None, None, :]
        te = self.time_embedding
        temb = te.linear_2(F.silu(te.linear_1(self.timestep_features(t))))
        h = self.conv_in(sample)
        skips = [h]
        for blk in self.down_blocks:
            for j, res in enumerate(blk.resnets):
                h = res(h, temb)
                if blk.attentions is not None:
                    h = blk.attentions[j](h, ctx, bias)
                skips.append(h)
            if blk.downsamplers is not None:
                h = blk.downsamplers[0].conv(h)
                skips.append(h)
        mid = self.mid_block
        h = mid.resnets[1](mid.attentions[0](mid.resnets[0](h, temb), ctx, bias), temb)
        for blk in self.up_blocks:
            for j, res in enumerate(blk.resnets):
                h = res(torch.cat([h, skips.pop()], dim=1), temb)
                if blk.attentions is not None:
                    h = blk.attentions[j](h, ctx, bias)
            if blk.upsamplers is not None:
                h = blk.upsamplers[0].conv(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.conv_out(F.silu(self.conv_norm_out(h)))


def init_like_engine(module, seed):
    """The engine's initParams rule: U(±1/√fan_in) for weights and biases, norms 1/0, embeddings N(0, 0.02²)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in module.modules():
            if isinstance(mod, nn.Embedding):
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=g) * 0.02)
            elif isinstance(mod, (nn.LayerNorm, nn.GroupNorm)):
                mod.weight.fill_(1)
                mod.bias.fill_(0)
            elif isinstance(mod, (nn.Linear, nn.Conv2d)):
                bound = 1 / math.sqrt(mod.weight[0].numel())
                mod.weight.copy_((torch.rand(mod.weight.shape, generator=g) * 2 - 1) * bound)
                if mod.bias is not None:
                    mod.bias.copy_((torch.rand(mod.bias.shape, generator=g) * 2 - 1) * bound)


# ---------------------------------------------------------------- model folders and the pack

def read_json(path):
    with open(path) as f:
        return json.load(f)


def load_models(model_dir, device, unet_overrides=None, seed=None):
    unet_cfg = {**read_json(os.path.join(model_dir, "unet", "config.json")), **(unet_overrides or {})}
    text_cfg = read_json(os.path.join(model_dir, "text_encoder", "config.json"))
    unet, text = UNet(unet_cfg), ClipTextEncoder(text_cfg)
    if seed is None:
        unet.load_state_dict(load_safetensors(os.path.join(model_dir, "unet", "diffusion_pytorch_model.safetensors")), strict=True)
        text_weights = load_safetensors(os.path.join(model_dir, "text_encoder", "model.safetensors"))
        text_weights.pop("text_model.embeddings.position_ids", None)
        text.load_state_dict(text_weights, strict=True)
    else:
        init_like_engine(unet, seed)
        init_like_engine(text, seed + 1)
    return unet.to(device), text.to(device), unet_cfg, text_cfg


class Pack:
    def __init__(self, path, device):
        self.path = path
        self.meta = read_json(os.path.join(path, "meta.json"))
        m = self.meta
        n, k, l, s = m["count"], m["captionVariants"], m["maxLength"], m["imageSize"]
        raw = np.fromfile(os.path.join(path, m["images"]), dtype=np.uint8).reshape(n, 3, s, s)
        self.images = torch.from_numpy(raw).to(device)
        self.ids = torch.from_numpy(np.fromfile(os.path.join(path, m["captionIds"]), dtype="<i2").reshape(n, k, l).astype(np.int64)).to(device)
        self.mask = torch.from_numpy(np.fromfile(os.path.join(path, m["captionMask"]), dtype=np.uint8).reshape(n, k, l)).float().to(device)
        self.empty_ids = torch.tensor(m["emptyCaption"]["ids"], device=device)
        self.empty_mask = torch.tensor(m["emptyCaption"]["mask"], device=device, dtype=torch.float32)
        self.alphas_cumprod = torch.tensor(m["alphasCumprod"], device=device, dtype=torch.float64)


def verify(pack, device):
    """Max |torch − engine| relative to max |engine| for the text encoder and UNet on the pack's reference inputs."""
    ref = pack.meta["reference"]
    model_dir = os.path.normpath(os.path.join(pack.path, pack.meta["referenceModel"]))
    unet, text, unet_cfg, _ = load_models(model_dir, device)
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        ids = torch.tensor(ref["ids"], device=device)
        mask = torch.tensor(ref["mask"], device=device, dtype=torch.float32)
        b, l = ids.shape
        s = pack.meta["imageSize"] // pack.meta["patchSize"]
        noisy = torch.tensor(ref["noisy"], device=device).reshape(b, unet_cfg["in_channels"], s, s)
        t = torch.tensor(ref["timesteps"], device=device, dtype=torch.float32)
        with torch.no_grad():
            hidden = text(ids, mask)
            out = unet(noisy, t, hidden, mask)
            want_hidden = torch.tensor(ref["textHidden"], device=device).reshape(hidden.shape)
            want_out = torch.tensor(ref["unetOut"], device=device).reshape(out.shape)
            # The UNet alone as well, fed the engine's own text states.
            out_on_engine_text = unet(noisy, t, want_hidden, mask)
        rel = lambda got, want: ((got - want).abs().max() / want.abs().max()).item()
        report = {"textRelErr": rel(hidden, want_hidden), "unetRelErr": rel(out, want_out), "unetOnEngineTextRelErr": rel(out_on_engine_text, want_out)}
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    report["ok"] = max(report["textRelErr"], report["unetRelErr"]) < 1e-3
    return report


def save_model(out_dir, template_dir, pack, unet, text, unet_cfg, text_cfg, ema, metadata, log):
    """A model folder like the engine's: the template's tokenizer, scheduler and index; this run's configs and EMA weights."""
    os.makedirs(out_dir, exist_ok=True)
    if os.path.realpath(out_dir) != os.path.realpath(template_dir):
        for part in ("tokenizer", "scheduler"):
            shutil.copytree(os.path.join(template_dir, part), os.path.join(out_dir, part), dirs_exist_ok=True)
        shutil.copy(os.path.join(template_dir, "model_index.json"), out_dir)
    for name, module, cfg, file in (("unet", unet, unet_cfg, "diffusion_pytorch_model.safetensors"), ("text_encoder", text, text_cfg, "model.safetensors")):
        os.makedirs(os.path.join(out_dir, name), exist_ok=True)
        with open(os.path.join(out_dir, name, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        save_safetensors({k: ema[f"{name}.{k}"] for k, _ in module.named_parameters()}, os.path.join(out_dir, name, file), {"format": "pt", **metadata})
    with open(os.path.join(out_dir, "training_data.json"), "w") as f:
        json.dump(pack.meta["trainingData"], f, indent=1)
    with open(os.path.join(out_dir, "training_log.json"), "w") as f:
        json.dump(log, f, indent=2)


# ---------------------------------------------------------------- training

def lr_at(step, peak, warmup, total, min_ratio):
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def train(args):
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(args.seed)
    pack = Pack(args.pack, device)
    check = verify(pack, device)
    print(json.dumps({"verify": check}), flush=True)
    if not check["ok"]:
        raise SystemExit("the PyTorch modules do not match the engine's outputs: not training")

    recipe = pack.meta["recipe"]
    if args.warmup is None:
        args.warmup = recipe["warmupSteps"]
    overrides = {}
    if args.block_out_channels:
        overrides["block_out_channels"] = [int(c) for c in args.block_out_channels.split(",")]
    template = os.path.normpath(os.path.join(args.pack, pack.meta["referenceModel"]))
    init_dir = args.init or template
    unet, text, unet_cfg, text_cfg = load_models(init_dir, device, overrides, None if args.init else args.seed)
    start_log = read_json(os.path.join(args.init, "training_log.json")) if args.init and os.path.exists(os.path.join(args.init, "training_log.json")) else {}
    # The CPU run's steps (top level) plus every earlier phase trained here.
    start_step = start_log.get("steps", 0) + sum(p["steps"] for p in start_log.get("phases", []))

    named = [(f"unet.{k}", p) for k, p in unet.named_parameters()] + [(f"text_encoder.{k}", p) for k, p in text.named_parameters()]
    decay = [p for k, p in named if k.endswith(".weight") and not re.search("norm|embedding", k)]
    no_decay = [p for k, p in named if not (k.endswith(".weight") and not re.search("norm|embedding", k))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": recipe["weightDecay"]}, {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.999), eps=1e-8, **({"fused": True} if cuda else {}))
    ema = {k: p.detach().clone() for k, p in named}
    ema_list = [ema[k] for k, _ in named]
    params = [p for _, p in named]
    gen = torch.Generator(device=device).manual_seed(args.seed)

    n, k = pack.meta["count"], pack.meta["captionVariants"]
    b = args.batch
    patch = pack.meta["patchSize"]
    gamma, dropout = recipe["minSnrGamma"], recipe["captionDropout"]
    order = torch.randperm(n, device=device, generator=gen)
    cursor = 0

    def batch_indices():
        nonlocal order, cursor
        parts = []
        need = b
        while need > 0:
            if cursor >= n:
                order, cursor = torch.randperm(n, device=device, generator=gen), 0
            take = min(need, n - cursor)
            parts.append(order[cursor:cursor + take])
            cursor += take
            need -= take
        return torch.cat(parts)

    def step_once(step, total):
        idx = batch_indices()
        x0 = F.pixel_unshuffle(pack.images[idx].float() / 127.5 - 1, patch)
        variant = torch.randint(0, k, (b,), device=device, generator=gen)
        drop = (torch.rand(b, device=device, generator=gen) < dropout)[:, None]
        ids = torch.where(drop, pack.empty_ids[None], pack.ids[idx, variant])
        mask = torch.where(drop, pack.empty_mask[None], pack.mask[idx, variant])
        noise = torch.randn(x0.shape, device=device, generator=gen)
        t = torch.randint(0, len(pack.alphas_cumprod), (b,), device=device, generator=gen)
        ab = pack.alphas_cumprod[t]
        sa, so = ab.sqrt().float()[:, None, None, None], (1 - ab).sqrt().float()[:, None, None, None]
        noisy = sa * x0 + so * noise
        target = sa * noise - so * x0  # v-prediction
        snr = ab / (1 - ab)
        weight = (torch.clamp(snr, max=gamma) / (snr + 1)).float()
        lr = lr_at(step, args.lr, args.warmup, total, recipe["minLrRatio"])
        for group in opt.param_groups:
            group["lr"] = lr
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16 and cuda):
            pred = unet(noisy, t.float(), text(ids, mask), mask)
        mse = ((pred.float() - target) ** 2).mean(dim=(1, 2, 3))
        loss = (mse * weight).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(params, recipe["gradClip"])
        opt.step()
        global_step = start_step + step
        d = min(recipe["emaDecay"], (1 + global_step) / (10 + global_step))
        with torch.no_grad():
            torch._foreach_mul_(ema_list, d)
            torch._foreach_add_(ema_list, params, alpha=1 - d)
        return loss, grad_norm, lr

    def sync():
        if cuda:
            torch.cuda.synchronize()

    # Steps from a wall-clock budget: time a short probe, then fix the schedule length.
    total = args.steps
    started = time.time()
    step = 0
    if total is None:
        probe = 60
        for _ in range(10):
            step_once(step, 10**9)
            step += 1
        sync()
        t0 = time.time()
        for _ in range(probe):
            step_once(step, 10**9)
            step += 1
        sync()
        rate = probe / (time.time() - t0)
        total = max(step + 1, int(step + rate * (args.seconds - (time.time() - started))))
        print(json.dumps({"probeStepsPerSecond": round(rate, 2), "scheduledSteps": total}), flush=True)

    host = {"device": torch.cuda.get_device_name(0) if cuda else "cpu", "engine": f"pytorch {torch.__version__} {device.type}", "bf16": args.bf16 and cuda}
    command = " ".join(["python3 scripts/cuda-pretrain.py train --pack", args.pack] + [f"--{a} {v}" for a, v in (("batch", b), ("lr", args.lr), ("warmup", args.warmup), ("steps", total), ("seed", args.seed))] + (["--init", args.init] if args.init else []) + ["--out", args.out] + (["--block-out-channels", args.block_out_channels] if args.block_out_channels else []))

    def export(reason, loss_value):
        seconds = time.time() - started
        phase = {
            "fromStep": start_step, "steps": step, "scheduleSteps": total, "batchSize": b, "samplesSeen": step * b,
            "trainHours": round(seconds / 3600, 4), "samplesPerSecond": round(step * b / max(seconds, 1e-9), 1),
            "lr": args.lr, "warmupSteps": args.warmup, "finalLoss": loss_value, "host": host, "command": command,
            "verify": check, "exportReason": reason,
        }
        log = {**start_log, "phases": [*start_log.get("phases", []), phase]}
        save_model(args.out, template, pack, unet, text, unet_cfg, text_cfg, ema, {"training_step": str(start_step + step), "cuda_phase_steps": str(step), "export_reason": reason}, log)

    last_export = time.time()
    loss_value = float("nan")
    while step < total:
        loss, grad_norm, lr = step_once(step, total)
        step += 1
        if step % 200 == 0 or step == total:
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                raise SystemExit(f"loss became {loss_value} at step {step}")
            elapsed = time.time() - started
            print(json.dumps({"step": step, "of": total, "loss": round(loss_value, 5), "gradNorm": round(grad_norm.item(), 4), "lr": round(lr, 7), "samplesPerSecond": round(step * b / elapsed, 1), "elapsed": round(elapsed, 1)}), flush=True)
        if time.time() - last_export > args.export_every:
            export("checkpoint", loss_value)
            last_export = time.time()
    sync()
    export("done", loss_value)
    print(json.dumps({"done": True, "steps": step, "seconds": round(time.time() - started, 1), "out": args.out}), flush=True)


def main():
    default_device = "cuda" if torch.cuda.is_available() else "cpu"
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("verify")
    v.add_argument("--pack", required=True)
    v.add_argument("--device", default=default_device)
    t = sub.add_parser("train")
    t.add_argument("--pack", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--init", help="model folder to continue from (default: a fresh initialisation)")
    t.add_argument("--block-out-channels", help="UNet widths for a fresh model, e.g. 64,112,144")
    t.add_argument("--batch", type=int, default=256)
    t.add_argument("--lr", type=float, default=4e-4)
    t.add_argument("--warmup", type=int, help="warm-up steps (default: the recipe's, from the pack)")
    group = t.add_mutually_exclusive_group(required=True)
    group.add_argument("--steps", type=int)
    group.add_argument("--seconds", type=float, help="schedule as many steps as fit in this many seconds")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default=default_device)
    t.add_argument("--export-every", type=float, default=60, help="seconds between exports of the EMA weights")
    t.add_argument("--no-bf16", dest="bf16", action="store_false")
    args = p.parse_args()
    if args.cmd == "verify":
        report = verify(Pack(args.pack, torch.device(args.device)), torch.device(args.device))
        print(json.dumps(report))
        if not report["ok"]:
            raise SystemExit(1)
    else:
        if args.init and args.block_out_channels:
            raise SystemExit("--block-out-channels applies to a fresh model only")
        train(args)


if __name__ == "__main__":
    main()
