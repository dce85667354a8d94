#pragma once
/// \file
/// The catalog of built-in box codecs (registry kind `box_codec`).

#include <rscovlm/box_codec/codec.hpp>
#include <rscovlm/box_codec/florence2.hpp>
#include <rscovlm/box_codec/geochat.hpp>
#include <rscovlm/box_codec/qwen2vl.hpp>
#include <rscovlm/box_codec/rscovlm.hpp>
#include <rscovlm/registry.hpp>

#include <string_view>

namespace rscovlm::box_codec {

/// RSCoVLM plain-text horizontal boxes.
using plain_hbb = rscovlm_plain<box_kind::hbb>;
/// RSCoVLM plain-text oriented boxes.
using plain_obb = rscovlm_plain<box_kind::obb>;
/// RSCoVLM plain-text quadrilaterals.
using plain_quad = rscovlm_plain<box_kind::quad>;
/// RSCoVLM JSON horizontal boxes.
using json_hbb = rscovlm_json<box_kind::hbb>;
/// RSCoVLM JSON oriented boxes.
using json_obb = rscovlm_json<box_kind::obb>;
/// RSCoVLM JSON quadrilaterals.
using json_quad = rscovlm_json<box_kind::quad>;

/// Every built-in codec.
using builtin = registry::type_list<plain_quad, plain_hbb, plain_obb, json_hbb, json_obb, json_quad, qwen2vl_codec,
                                    florence2_codec, geochat_codec>;

/// The registry kind of box codecs.
struct kind {
    static constexpr std::string_view name = "box_codec";
    using interface = codec;
    using builtin_list = builtin;
};

} // namespace rscovlm::box_codec
