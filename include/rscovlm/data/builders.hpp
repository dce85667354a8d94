#pragma once
/// \file data/builders.hpp
/// Conversation builders: one record -> Hugging Face style messages with RSCoVLM's exact texts,
/// targets in the resized frame the resolution policy picks (random resize included). Random
/// choices draw from a CPython-compatible generator in the reference's call order, so a sample
/// built with `python_random(s)` equals the reference's output after `random.seed(s)`.
///
/// Mirrored reference functions (rscovlm/training/data/): dense_det_dataset.py `get_messages`
/// (+ `get_hbb_messages`, `get_obb_messages`, `get_polygon_messages`, `random_resize`),
/// refgeo_dataset.py (same names), sft_dataset.py `get_messages_from_llava_style_conversations`
/// and `random_resize_images_in_messages`, xeochat_dataset.py `process_teochatlas_messages`,
/// visual_cot_dataset.py `get_messages`.
///
/// One header per task family under data/builders/; this header includes them all.

#include <rscovlm/data/builders/chat.hpp>
#include <rscovlm/data/builders/common.hpp>
#include <rscovlm/data/builders/detection.hpp>
#include <rscovlm/data/builders/grounding.hpp>
#include <rscovlm/data/builders/lrsvqa_zoom.hpp>
