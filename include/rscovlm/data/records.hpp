#pragma once
/// \file data/records.hpp
/// The value types between dataset readers and conversation builders: one record per annotated
/// image (detection), referring expression (grounding), chat (LLaVA-style conversations) or
/// visual question (LRS-VQA), plus the conversation a builder produces.

#include <rscovlm/geometry/types.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace rscovlm::data {

/// One object of a detection record (original image frame).
struct det_instance {
    /// COCO-style box converted as RSCoVLM does: x1, y1, int(x1 + w), int(y1 + h).
    std::optional<geometry::hbox> bbox;
    /// Segmentation polygon, flat x, y, ... (a quad for oriented datasets).
    std::vector<double> polygon;
    std::string label; ///< raw class name ("small-vehicle")
    int difficulty = 0;
};

/// An image with its objects (dense detection datasets: DOTA, DIOR-R, FAIR1M, HRSC, COCO...).
struct detection_record {
    std::string image; ///< image path (data_path joined with file_name)
    int width = 0;
    int height = 0;
    std::vector<det_instance> objects;
    std::vector<std::string> classes; ///< the dataset's class names (raw), for prompts and ranks
    /// Open-ended prompt for this image (DenseDetectionDataset's per-record `use_synonyms`, drawn
    /// once when the dataset is loaded): the categories become "all the visible remote sensing
    /// objects" and each object's label a random synonym from `synonyms`.
    bool use_synonyms = false;
    /// The dataset config's `synonyms_dict` (category -> list of synonyms), shared by its records.
    std::shared_ptr<const nlohmann::json> synonyms;
};

/// A referring expression with its target (refGeo metainfo jsonl).
struct grounding_record {
    std::string image;
    int width = 0;
    int height = 0;
    std::string question;               ///< the referring expression
    std::optional<geometry::hbox> bbox; ///< [x1, y1, x2, y2]
    std::vector<geometry::point> poly;  ///< quad, when the dataset has one
    std::string dataset;
    std::string image_id;
    std::string question_id; ///< `str(question_id)` (names the mask file)
    /// Segmentation mask file (`data_path/masks/<dataset>/<image_id stem>_<question_id>.png`) when
    /// the record has one: the metainfo's `mask_exists`, else whether the file exists, decided when
    /// the dataset is read as the reference's constructor does. Empty: no mask.
    std::string mask_path;
};

/// A LLaVA-style conversation (`conversations` of `from`/`value` turns with `<image>`/`<video>`
/// placeholders); GeoChat/TEOChat instruction files use the same layout.
struct chat_record {
    std::string id;
    std::vector<std::string> images; ///< image paths, in placeholder order
    std::vector<std::string> videos; ///< video paths or frame folders, in placeholder order
    nlohmann::json conversations;    ///< the raw turns
    std::string task;                ///< optional `task` field
};

/// A visual question of LRS-VQA / LRS-VQA-Zoom.
struct vqa_record {
    std::string image;
    int width = 0;  ///< image_ori_width
    int height = 0; ///< image_ori_height
    bool multiple_choice = false;
    std::string question;                         ///< open-ended: `question`; MCQ: `Text`
    std::string answer;                           ///< open-ended: `answer`; MCQ: `Ground truth`
    std::vector<std::string> choices;             ///< MCQ `Answer choices`
    std::vector<std::array<double, 4>> crop_hbox; ///< bbox_info.crop_hbox (original frame)
    std::vector<std::vector<double>> rbox;        ///< bbox_info.rbox
};

/// Any record.
using record = std::variant<detection_record, grounding_record, chat_record, vqa_record>;

/// An image referenced by a conversation, with the size it is fed to the model at.
struct image_ref {
    std::string path;
    int width = 0; ///< original size (0 when unknown)
    int height = 0;
    int resized_width = 0; ///< 0: the encoder chooses with its own budget
    int resized_height = 0;
    /// When set, the image is this crop [x0, y0, x1, y1] of `path` (Pillow `crop`: rounded,
    /// zero outside), e.g. the zoomed-in view of a Zoom-in Chain sample.
    std::optional<std::array<int, 4>> crop;
    /// When true, the pixels are first fetched the way qwen-vl-utils 0.0.11 `fetch_image` does for an
    /// item without size keys (`to_rgb`, then Pillow's bicubic resize to `smart_resize(h, w, 28,
    /// 4 * 28 * 28, 16384 * 28 * 28)`), and the encoder sizes that image: RSCoVLM's
    /// `random_resize_images_in_messages` puts the fetched image back into the message.
    bool prefetched = false;
};

/// A training conversation: Hugging Face style messages whose `{"type": "image"}` items match
/// `images` in order.
struct conversation {
    nlohmann::ordered_json messages = nlohmann::ordered_json::array();
    std::vector<image_ref> images;
    std::string dataset; ///< recipe name of the source dataset
    std::string task;    ///< "det.hbb", "det.obb", "det.polygon", "ground.hbb", "sft", "zoom", ...
};

} // namespace rscovlm::data
