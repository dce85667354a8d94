"""Independent Python port of the packing path RSCoVLM trains with (used to make golden files).

Mirrors, function by function:
  * binpacking 1.5.2 `to_constant_volume(d, V_max, weight_pos=-1)` (the `binpacking` package that
    rscovlm/training/data/fast_data_packing.py imports): stable heaviest-first order, fullest bin
    that still fits (first on ties), a new bin when nothing fits (the first item always uses the
    initially open bin, even when it is heavier than V_max);
  * `PackingMapDataset.cache_indices` / `_pack` with one packing worker: buffer `packing_interval`
    items, pack, emit every bin but the last, keep the last bin's items as the new buffer; pack and
    emit everything at the end;
  * `CachedPackingDatasetForQwen2_5VL.preprocess` (first label of every member set to -100) and
    `FlattenedDataCollatorForQwen2_5_VL` (concatenate, naive position ids, truncate to max_length);
  * `DataCollatorForQwen2_5_VL` (right padding: pad id / -100 / attention 0 / position 1, then
    truncation to max_length);
  * transformers' `prepare_fa2_from_position_ids` cu_seqlens (zeros of the position ids + length).
The plan needs only the standard library, the collators numpy; nothing is imported from the reference.
"""

IGNORE_INDEX = -100


def to_constant_volume(items, v_max, weight_of):
    """Bins of items (in the order they were put in)."""
    if len(items) == 0:
        return []
    keyed = list(enumerate(items))
    # Python's sort is stable: equal weights keep their input order.
    keyed.sort(key=lambda kv: -weight_of(kv[1]))
    bins, sums = [[]], [0]
    for pos, (_, item) in enumerate(keyed):
        w = weight_of(item)
        fitting = [b for b in range(len(sums)) if sums[b] + w <= v_max]
        if fitting:
            best = fitting[0]
            for b in fitting[1:]:
                if sums[b] > sums[best]:
                    best = b
        elif pos > 0:
            bins.append([])
            sums.append(0)
            best = len(sums) - 1
        else:
            best = 0
        bins[best].append(item)
        sums[best] += w
    return bins


def plan_packs(items, max_length, packing_interval):
    """items: list of (id, length) in arrival order -> list of groups of ids."""
    out, buf = [], []

    def rnd(buffer, final):
        groups = to_constant_volume(buffer, max_length, lambda it: it[1])
        if groups and not final:
            return groups[:-1], groups[-1]
        return groups, []

    for it in items:
        buf.append(it)
        if len(buf) >= packing_interval:
            groups, buf = rnd(buf, False)
            out.extend([[i for i, _ in g] for g in groups])
    if buf:
        groups, _ = rnd(buf, True)
        out.extend([[i for i, _ in g] for g in groups])
    return out


def flatten_pack(members, max_length, mask_first_label=True):
    """members: dicts with input_ids [L], labels [L], position_ids [3, L], image_grid_thw [n, 3],
    pixel_values [rows, C] -> the flattened row (batch dimension dropped)."""
    import numpy as np
    ids, labels, pos, naive, grids, pix = [], [], [], [], [], []
    for m in members:
        lab = np.array(m["labels"], dtype=np.int64).copy()
        if mask_first_label and len(lab):
            lab[0] = IGNORE_INDEX
        ids.append(np.array(m["input_ids"], dtype=np.int64))
        labels.append(lab)
        pos.append(np.array(m["position_ids"], dtype=np.int64).reshape(3, -1))
        naive.append(np.arange(len(m["input_ids"]), dtype=np.int64))
        if len(m["image_grid_thw"]):
            grids.append(np.array(m["image_grid_thw"], dtype=np.int64).reshape(-1, 3))
            pix.append(np.array(m["pixel_values"], dtype=np.float32))
    ids = np.concatenate(ids)
    labels = np.concatenate(labels)
    pos = np.concatenate(pos, axis=1)
    naive = np.concatenate(naive)
    if max_length and max_length > 0:
        ids, labels, pos, naive = ids[:max_length], labels[:max_length], pos[:, :max_length], naive[:max_length]
    cu = np.concatenate([np.nonzero(naive == 0)[0], [len(naive)]]).astype(np.int64)
    return {
        "input_ids": ids.tolist(),
        "labels": labels.tolist(),
        "position_ids": pos.tolist(),
        "naive_position_ids": naive.tolist(),
        "cu_seqlens": cu.tolist(),
        "image_grid_thw": np.concatenate(grids).tolist() if grids else [],
        "pixel_values": np.concatenate(pix).tolist() if pix else [],
    }


def collate_padded(examples, pad_token_id, max_length):
    import numpy as np
    n = max(len(e["input_ids"]) for e in examples)
    b = len(examples)
    ids = np.full((b, n), pad_token_id, dtype=np.int64)
    labels = np.full((b, n), IGNORE_INDEX, dtype=np.int64)
    mask = np.zeros((b, n), dtype=np.int64)
    pos = np.ones((3, b, n), dtype=np.int64)
    for r, e in enumerate(examples):
        L = len(e["input_ids"])
        ids[r, :L] = e["input_ids"]
        labels[r, :L] = e["labels"]
        mask[r, :L] = 1
        pos[:, r, :L] = np.array(e["position_ids"], dtype=np.int64).reshape(3, -1)
    if max_length and max_length > 0:
        ids, labels, mask, pos = ids[:, :max_length], labels[:, :max_length], mask[:, :max_length], pos[:, :, :max_length]
    grids = [g for e in examples for g in e["image_grid_thw"]]
    return {
        "input_ids": ids.tolist(),
        "labels": labels.tolist(),
        "attention_mask": mask.tolist(),
        "position_ids": pos.tolist(),
        "image_grid_thw": grids,
    }
