#pragma once
/// \file all.hpp
/// Every public header of the eval module.

#include <rscovlm/eval/ap.hpp>
#include <rscovlm/eval/argsort.hpp>
#include <rscovlm/eval/builtin.hpp>
#include <rscovlm/eval/caption_metrics.hpp>
#include <rscovlm/eval/detection_protocols.hpp>
#include <rscovlm/eval/dota_eval.hpp>
#include <rscovlm/eval/dota_io.hpp>
#include <rscovlm/eval/lrsvqa.hpp>
#include <rscovlm/eval/nms.hpp>
#include <rscovlm/eval/polygon_iou.hpp>
#include <rscovlm/eval/reference_iou.hpp>
#include <rscovlm/eval/referring.hpp>
#include <rscovlm/eval/report.hpp>
#include <rscovlm/eval/text_metrics.hpp>
#include <rscovlm/eval/vhm_metrics.hpp>
