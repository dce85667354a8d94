"""Runs transformers 4.50's own Qwen2.5-VL modeling code without the rest of transformers.

Used to make golden data (tests/data/torch/video_model/make_video_model_golden.py) and by the
comparative benchmark (plugins/torch/bench/compare_transformers.py). Nothing of transformers is
vendored here: point it at a transformers v4.50.0 source tree (or at a folder holding its
`modeling_qwen2_5_vl.py` and `configuration_qwen2_5_vl.py`); the two files are checked against the
SHA-256 of the v4.50.0 files and then imported *unchanged*, inside a throwaway package whose other
modules are the small stand-ins below. Every piece of model math (vision tower, window index, rotary
embeddings, get_rope_index, M-RoPE, attention, MLP, RMSNorm, lm_head, the causal mask, the
image/video embedding scatter, the rope_deltas decode branch) is the transformers file's own code.

Stand-ins (framework plumbing only):
  PretrainedConfig     attribute bag: eager attention, return_dict on, no extra outputs
  rope_config_validation, logging, docstring decorators, flash-attn probes: no-ops / "not available"
  PreTrainedModel      nn.Module holding the config; `_from_config` builds the class; `dtype` of the
                       first parameter; init is a no-op (every weight is loaded from safetensors)
  ACT2FN               "silu" -> nn.SiLU(), "gelu" -> nn.GELU(), "quick_gelu" as transformers'
  ROPE_INIT_FUNCTIONS  "default": 1 / theta^(arange(0, dim, 2) / dim), attention factor 1
                       (transformers' `_compute_default_rope_parameters`, restated)
  DynamicCache         per-layer key/value tensors concatenated on the sequence axis (its `update`)
  ModelOutput          dataclass base, indexable over its non-None fields
  GenerationMixin      empty: the callers drive greedy decoding themselves

Run with Debian 12's python3-torch (1.13) or any later torch.
"""

import atexit
import hashlib
import importlib
import json
import os
import shutil
import sys
import tempfile
import warnings

MODELING_SHA256 = "51629df7784a4ffcb60c083e20206dce782c4d232d50c1e4db1d4dee459df6ec"
CONFIGURATION_SHA256 = "29d1d73fbebc9efeb2795d9dd5550a74124c89c54c140be458e05055eada1b85"
FILES = {"modeling_qwen2_5_vl.py": MODELING_SHA256, "configuration_qwen2_5_vl.py": CONFIGURATION_SHA256}

_STANDINS = {
    "__init__.py": "",
    "models/__init__.py": "",
    "models/qwen2_5_vl/__init__.py": "",
    "activations.py": '''
import torch
from torch import nn


class _QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class _Acts(dict):
    def __getitem__(self, key):
        return {"silu": nn.SiLU, "swish": nn.SiLU, "gelu": nn.GELU, "quick_gelu": _QuickGELU}[key]()


ACT2FN = _Acts()
''',
    "cache_utils.py": '''
import torch


class Cache:
    pass


class DynamicCache(Cache):
    def __init__(self):
        self.key_cache = []
        self.value_cache = []

    def update(self, key_states, value_states, layer_idx, cache_kwargs=None):
        if len(self.key_cache) <= layer_idx:
            self.key_cache.append(key_states)
            self.value_cache.append(value_states)
        else:
            self.key_cache[layer_idx] = torch.cat([self.key_cache[layer_idx], key_states], dim=-2)
            self.value_cache[layer_idx] = torch.cat([self.value_cache[layer_idx], value_states], dim=-2)
        return self.key_cache[layer_idx], self.value_cache[layer_idx]

    def get_seq_length(self, layer_idx=0):
        return 0 if len(self.key_cache) <= layer_idx else self.key_cache[layer_idx].shape[-2]


class SlidingWindowCache(Cache):
    pass


class StaticCache(Cache):
    pass
''',
    "generation.py": '''
class GenerationMixin:
    pass
''',
    "modeling_attn_mask_utils.py": '''
class AttentionMaskConverter:
    @staticmethod
    def _ignore_causal_mask_sdpa(*args, **kwargs):
        raise NotImplementedError("only the eager attention path is wired")

    @staticmethod
    def _unmask_unattended(*args, **kwargs):
        raise NotImplementedError("only the eager attention path is wired")
''',
    "modeling_outputs.py": '''
import dataclasses
from dataclasses import dataclass
from typing import Optional

import torch


class ModelOutput:
    def to_tuple(self):
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None)

    def __getitem__(self, k):
        if isinstance(k, str):
            return getattr(self, k)
        return self.to_tuple()[k]


@dataclass
class BaseModelOutputWithPast(ModelOutput):
    last_hidden_state: Optional[torch.FloatTensor] = None
    past_key_values: Optional[object] = None
    hidden_states: Optional[tuple] = None
    attentions: Optional[tuple] = None
''',
    "modeling_rope_utils.py": '''
import torch


def _default(config, device=None, seq_len=None, **kwargs):
    base = config.rope_theta
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    dim = int(head_dim * getattr(config, "partial_rotary_factor", 1.0))
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float().to(device) / dim))
    return inv_freq, 1.0


ROPE_INIT_FUNCTIONS = {"default": _default}


def rope_config_validation(config, ignore_keys=None):
    rope_type = (config.rope_scaling or {}).get("rope_type", "default")
    if rope_type != "default":
        raise NotImplementedError("only the default rope type is wired")
''',
    "modeling_utils.py": '''
from torch import nn


class PreTrainedModel(nn.Module):
    def __init__(self, config, *args, **kwargs):
        super().__init__()
        self.config = config

    @classmethod
    def _from_config(cls, config, **kwargs):
        return cls(config)

    def post_init(self):
        pass

    @property
    def dtype(self):
        return next(self.parameters()).dtype

    @property
    def device(self):
        return next(self.parameters()).device
''',
    "configuration_utils.py": '''
class PretrainedConfig:
    model_type = ""
    sub_configs = {}

    def __init__(self, **kwargs):
        self.tie_word_embeddings = kwargs.pop("tie_word_embeddings", True)
        self.output_attentions = kwargs.pop("output_attentions", False)
        self.output_hidden_states = kwargs.pop("output_hidden_states", False)
        self.return_dict = kwargs.pop("return_dict", True)
        self.pad_token_id = kwargs.pop("pad_token_id", None)
        self.bos_token_id = kwargs.pop("bos_token_id", None)
        self.eos_token_id = kwargs.pop("eos_token_id", None)
        self._attn_implementation = kwargs.pop("attn_implementation", "eager")
        for k, v in kwargs.items():
            setattr(self, k, v)

    @property
    def use_return_dict(self):
        return self.return_dict
''',
    "utils.py": '''
def _identity_decorator(*args, **kwargs):
    def wrap(fn):
        return fn

    return wrap


add_start_docstrings = _identity_decorator
add_start_docstrings_to_model_forward = _identity_decorator
replace_return_docstrings = _identity_decorator


def is_flash_attn_2_available():
    return False


def is_flash_attn_greater_or_equal_2_10():
    return False


class _Logger:
    def __getattr__(self, name):
        return lambda *args, **kwargs: None


class logging:
    @staticmethod
    def get_logger(name=None):
        return _Logger()
''',
}


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def find_sources(src):
    """The folder holding the two files: `src` itself or `src/src/transformers/models/qwen2_5_vl`."""
    for cand in (src, os.path.join(src, "src", "transformers", "models", "qwen2_5_vl"),
                 os.path.join(src, "transformers", "models", "qwen2_5_vl"), os.path.join(src, "models", "qwen2_5_vl")):
        if all(os.path.isfile(os.path.join(cand, f)) for f in FILES):
            return cand
    raise SystemExit(f"no modeling_qwen2_5_vl.py / configuration_qwen2_5_vl.py under {src}")


def load(src, check_hash=True):
    """Imports the reference modeling module from a transformers 4.50 tree; returns the module."""
    folder = find_sources(src)
    if check_hash:
        for f, want in FILES.items():
            got = sha256_file(os.path.join(folder, f))
            if got != want:
                raise SystemExit(f"{f}: sha256 {got} is not transformers v4.50.0's {want}")
    root = tempfile.mkdtemp(prefix="hf_reference_")
    atexit.register(shutil.rmtree, root, True)
    pkg = os.path.join(root, "transformers_ref")
    for rel, text in _STANDINS.items():
        path = os.path.join(pkg, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text.lstrip("\n"))
    for f in FILES:
        shutil.copyfile(os.path.join(folder, f), os.path.join(pkg, "models", "qwen2_5_vl", f))
    sys.path.insert(0, root)
    try:
        return importlib.import_module("transformers_ref.models.qwen2_5_vl.modeling_qwen2_5_vl")
    finally:
        sys.path.remove(root)


def config_from_dict(mod, cfg):
    """Qwen2_5_VLConfig from a config.json dict; a nested (transformers >= 4.52) `text_config` is
    flattened to the top level, the layout 4.50 reads."""
    cfg = json.loads(json.dumps(cfg))
    text = cfg.pop("text_config", None)
    if isinstance(text, dict):
        for k, v in text.items():
            if k not in ("model_type", "architectures"):
                cfg.setdefault(k, v)
    for k in ("architectures", "model_type", "transformers_version", "torch_dtype"):
        cfg.pop(k, None)
    cls = importlib.import_module(mod.__name__.replace("modeling_", "configuration_")).Qwen2_5_VLConfig
    return cls(**cfg)


def canonical_name(name):
    """Tensor names of both checkpoint layouts, in the 4.50 module's names."""
    if name.startswith("model.visual."):
        return name[len("model."):]
    if name.startswith("model.language_model."):
        return "model." + name[len("model.language_model."):]
    return name


def read_safetensors(path):
    """{name: torch tensor} of a .safetensors file (F32, F16, BF16): views of a read-only memory map of
    the file (as the safetensors library gives them to `from_pretrained`); copy before writing."""
    import struct

    import numpy as np
    import torch

    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    base = 8 + n
    data = np.memmap(path, dtype=np.uint8, mode="r")
    kinds = {"F32": (torch.float32, np.int32), "F16": (torch.float16, np.int16), "BF16": (torch.bfloat16, np.int16)}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype, raw = kinds[info["dtype"]]
        a, b = info["data_offsets"]
        arr = data[base + a : base + b].view(raw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a read-only array: the tensor is only ever read
            t = torch.from_numpy(arr)
        out[name] = t.view(dtype).reshape(info["shape"])
    return out


def load_model(mod, model_dir):
    """Qwen2_5_VLForConditionalGeneration in float32 with the checkpoint's weights (tied as
    `from_pretrained` ties them)."""
    with open(os.path.join(model_dir, "config.json")) as f:
        config = config_from_dict(mod, json.load(f))
    model = mod.Qwen2_5_VLForConditionalGeneration(config)
    tensors = {}
    for fn in sorted(os.listdir(model_dir)):
        if fn.endswith(".safetensors"):
            tensors.update({canonical_name(k): v for k, v in read_safetensors(os.path.join(model_dir, fn)).items()})
    return model, install_weights(model, tensors)


def install_weights(model, tensors):
    import torch

    params = dict(model.named_parameters())
    missing = []
    with torch.no_grad():
        for name, p in params.items():
            if name in tensors:
                p.copy_(tensors[name].to(torch.float32))
            elif name != "lm_head.weight":
                missing.append(name)
        if model.config.tie_word_embeddings or "lm_head.weight" not in tensors:
            model.lm_head.weight = model.model.embed_tokens.weight
    if missing:
        raise SystemExit(f"checkpoint lacks {missing[:5]}")
    model.eval()
    return model.config
