// A C entry point to rscovlm's bit-exact port of DOTA_devkit `polyiou.iou_poly`, loaded by
// eval_ref.py through ctypes as a stand-in for the devkit's SWIG module (same C++ arithmetic,
// one foreign call per pair, like the SWIG wrapper). Built by run_eval.sh.
#include <rscovlm/eval/reference_iou.hpp>

extern "C" double rscovlm_devkit_polyiou(const double* p, const double* q) {
    rscovlm::geometry::quad a{}, b{};
    for (int i = 0; i < 4; ++i) {
        a[static_cast<std::size_t>(i)] = {p[2 * i], p[2 * i + 1]};
        b[static_cast<std::size_t>(i)] = {q[2 * i], q[2 * i + 1]};
    }
    return rscovlm::eval::devkit_polyiou(a, b);
}
