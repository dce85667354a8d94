#!/usr/bin/env python3
"""Builds the reference data of the LibTorch plugin's transformers check.

Run on a machine with PyTorch and Hugging Face transformers (>= 4.49, which has Qwen2.5-VL):

    python3 plugins/torch/tools/make_reference.py tests/data/torch/reference

It creates a tiny random `Qwen2_5_VLForConditionalGeneration` with the same shape as
`rscovlm::torch::tiny_config()` (2 vision blocks, block 1 with full attention, window 56 px = 2x2 merged
units; 2 decoder layers, 4 heads, 2 KV heads, head_dim 16, mrope_section [2, 3, 3]), and writes:

- `model/`: `save_pretrained` output (config.json, generation_config.json, model.safetensors), in
  whichever tensor-name layout the installed transformers uses (rscovlm reads both);
- `inputs.safetensors`: `input_ids` [1, L] int64 (text, two images of different grids, text),
  `pixel_values` [patches, 1176] float32, `image_grid_thw` [2, 3] int64, the float32 `logits` [1, L, V]
  of one forward pass and `greedy_ids` [1, N] int64 from `generate(do_sample=False)` with no stop id;
- `versions.json`: torch / transformers versions and the seed.

`test_torch` ("torch: logits and greedy ids match transformers") compares against this folder: logits
within 1e-4 (float32) and identical greedy ids.
"""
import json
import os
import sys

import torch
import transformers
from safetensors.torch import save_file
from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

VOCAB = 512
IMAGE, VIDEO, VSTART, VEND, EOS = 500, 501, 498, 499, 2
NEW_TOKENS = 12
SEED = 1234


def tiny_config():
    text = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, rms_norm_eps=1e-6, rope_theta=1000000.0, max_position_embeddings=4096,
                hidden_act="silu", tie_word_embeddings=False, use_sliding_window=False,
                rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]})
    vision = dict(depth=2, hidden_size=32, intermediate_size=48, num_heads=2, in_chans=3, out_hidden_size=64,
                  patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=56, fullatt_block_indexes=[1],
                  hidden_act="silu", tokens_per_second=2)
    cfg = Qwen2_5_VLConfig(vision_config=vision, image_token_id=IMAGE, video_token_id=VIDEO,
                           vision_start_token_id=VSTART, vision_end_token_id=VEND, bos_token_id=EOS, eos_token_id=EOS,
                           torch_dtype="float32", **text)
    # Newer transformers keep the text fields in a nested text_config: set them there as well.
    if hasattr(cfg, "text_config") and cfg.text_config is not None:
        for k, v in text.items():
            setattr(cfg.text_config, k, v)
    cfg._attn_implementation = "eager"
    return cfg


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "reference"
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(SEED)
    cfg = tiny_config()
    model = Qwen2_5_VLForConditionalGeneration(cfg).eval().to(torch.float32)
    # Larger random weights than the default init, so logits are far from uniform and greedy ids are stable.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or "ln_q" in name:
                p.copy_(1.0 + 0.025 * torch.randn_like(p))
            else:
                p.copy_(0.1 * torch.randn_like(p))
    model.save_pretrained(os.path.join(out, "model"), safe_serialization=True)

    grids = torch.tensor([[1, 4, 6], [1, 6, 4]], dtype=torch.int64)
    g = torch.Generator().manual_seed(SEED + 1)
    ids = torch.randint(3, 400, (7,), generator=g).tolist()
    for t, h, w in grids.tolist():
        ids += [VSTART] + [IMAGE] * (t * h * w // 4) + [VEND]
        ids += torch.randint(3, 400, (5,), generator=g).tolist()
    input_ids = torch.tensor([ids], dtype=torch.int64)
    patches = int((grids[:, 0] * grids[:, 1] * grids[:, 2]).sum())
    pixel_values = torch.randn(patches, 3 * 2 * 14 * 14, generator=g, dtype=torch.float32)

    with torch.no_grad():
        logits = model(input_ids=input_ids, pixel_values=pixel_values, image_grid_thw=grids).logits.float()
        gen = model.generate(input_ids=input_ids, pixel_values=pixel_values, image_grid_thw=grids, do_sample=False,
                             max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, eos_token_id=None, pad_token_id=0,
                             repetition_penalty=1.0, temperature=None, top_p=None, top_k=None)
    greedy = gen[:, input_ids.shape[1]:].contiguous()
    save_file({"input_ids": input_ids, "pixel_values": pixel_values.contiguous(), "image_grid_thw": grids,
               "logits": logits.contiguous(), "greedy_ids": greedy}, os.path.join(out, "inputs.safetensors"))
    with open(os.path.join(out, "versions.json"), "w") as f:
        json.dump({"torch": torch.__version__, "transformers": transformers.__version__, "seed": SEED,
                   "new_tokens": NEW_TOKENS}, f, indent=2)
    print("wrote", out, "logits", tuple(logits.shape), "greedy", greedy.tolist())


if __name__ == "__main__":
    main()
