#pragma once
/// \file argsort.hpp
/// Ranking with an explicit tie order. The DOTA references rank detections with numpy's default
/// `argsort` (an unstable introsort), so when scores tie (every VLM box scores 1.0, Task1 files
/// with 2-decimal scores) the order among equal scores is the introsort's. `tie_order::numpy`
/// reproduces numpy 1.24's `aquicksort` exactly (npysort/quicksort.cpp: median-of-3 pivot,
/// insertion sort for partitions of at most 16 elements, heapsort when the depth limit
/// 2*floor(log2 n) is exhausted; NaN sorts last). `tie_order::stable` keeps input order.
///
/// numpy builds that dispatch `argsort` to AVX-512 sorting networks (x86-simd-sort, numpy >= 1.25
/// on CPUs with AVX-512) order ties differently, so reproducing a published number exactly also
/// depends on the machine and numpy version it was computed with.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <string_view>
#include <utility>
#include <vector>

namespace rscovlm::eval {

/// How detections with equal scores are ordered.
enum class tie_order {
    numpy, ///< numpy 1.24 default argsort (introsort), as the Python references
    stable ///< input order among ties
};

/// Parses "numpy" / "stable"; returns false for anything else.
inline bool parse_tie_order(std::string_view s, tie_order& out) noexcept {
    if (s == "numpy")
        out = tie_order::numpy;
    else if (s == "stable")
        out = tie_order::stable;
    else
        return false;
    return true;
}

namespace detail::npsort {

// numpy's Tag::less for floating point: NaNs sort to the end.
template <class T> inline bool less(T a, T b) noexcept {
    return a < b || (b != b && a == a);
}

inline int get_msb(std::size_t n) noexcept {
    int depth = 0;
    while (n >>= 1)
        ++depth;
    return depth;
}

// aheapsort_ (1-based heap over tosort[0..n-1]).
template <class T> inline void aheapsort(const T* v, std::ptrdiff_t* tosort, std::ptrdiff_t n) noexcept {
    std::ptrdiff_t* a = tosort - 1;
    std::ptrdiff_t i, j, l, tmp;
    for (l = n >> 1; l > 0; --l) {
        tmp = a[l];
        for (i = l, j = l << 1; j <= n;) {
            if (j < n && less(v[a[j]], v[a[j + 1]])) j += 1;
            if (less(v[tmp], v[a[j]])) {
                a[i] = a[j];
                i = j;
                j += j;
            } else {
                break;
            }
        }
        a[i] = tmp;
    }
    for (; n > 1;) {
        tmp = a[n];
        a[n] = a[1];
        n -= 1;
        for (i = 1, j = 2; j <= n;) {
            if (j < n && less(v[a[j]], v[a[j + 1]])) j++;
            if (less(v[tmp], v[a[j]])) {
                a[i] = a[j];
                i = j;
                j += j;
            } else {
                break;
            }
        }
        a[i] = tmp;
    }
}

// numpy 1.24 npysort/quicksort.cpp: SMALL_QUICKSORT is 15, i.e. partitions with more than 16
// elements are split, smaller ones insertion-sorted.
inline constexpr std::ptrdiff_t small_quicksort = 15;

template <class T> inline void aquicksort(const T* v, std::ptrdiff_t* tosort, std::ptrdiff_t num) noexcept {
    if (num <= 1) return;
    std::ptrdiff_t* pl = tosort;
    std::ptrdiff_t* pr = tosort + num - 1;
    std::ptrdiff_t* stack[128];
    std::ptrdiff_t** sptr = stack;
    int depth[128];
    int* psdepth = depth;
    int cdepth = get_msb(static_cast<std::size_t>(num)) * 2;
    std::ptrdiff_t *pm, *pi, *pj, *pk, vi;
    T vp;
    for (;;) {
        if (cdepth < 0) {
            aheapsort(v, pl, pr - pl + 1);
            goto stack_pop;
        }
        while ((pr - pl) > small_quicksort) {
            pm = pl + ((pr - pl) >> 1);
            if (less(v[*pm], v[*pl])) std::swap(*pm, *pl);
            if (less(v[*pr], v[*pm])) std::swap(*pr, *pm);
            if (less(v[*pm], v[*pl])) std::swap(*pm, *pl);
            vp = v[*pm];
            pi = pl;
            pj = pr - 1;
            std::swap(*pm, *pj);
            for (;;) {
                do {
                    ++pi;
                } while (less(v[*pi], vp));
                do {
                    --pj;
                } while (less(vp, v[*pj]));
                if (pi >= pj) break;
                std::swap(*pi, *pj);
            }
            pk = pr - 1;
            std::swap(*pi, *pk);
            // push the larger partition on the stack
            if (pi - pl < pr - pi) {
                *sptr++ = pi + 1;
                *sptr++ = pr;
                pr = pi - 1;
            } else {
                *sptr++ = pl;
                *sptr++ = pi - 1;
                pl = pi + 1;
            }
            *psdepth++ = --cdepth;
        }
        // insertion sort
        for (pi = pl + 1; pi <= pr; ++pi) {
            vi = *pi;
            vp = v[vi];
            pj = pi;
            pk = pi - 1;
            while (pj > pl && less(vp, v[*pk]))
                *pj-- = *pk--;
            *pj = vi;
        }
    stack_pop:
        if (sptr == stack) break;
        pr = *(--sptr);
        pl = *(--sptr);
        cdepth = *(--psdepth);
    }
}

} // namespace detail::npsort

/// `np.argsort(values)` (ascending) with numpy 1.24's default kind, or stable.
template <class T>
inline std::vector<std::size_t> argsort(const std::vector<T>& values, tie_order ties = tie_order::numpy) {
    const std::size_t n = values.size();
    std::vector<std::ptrdiff_t> idx(n);
    std::iota(idx.begin(), idx.end(), std::ptrdiff_t{0});
    if (ties == tie_order::numpy) {
        detail::npsort::aquicksort(values.data(), idx.data(), static_cast<std::ptrdiff_t>(n));
    } else {
        std::stable_sort(idx.begin(), idx.end(), [&values](std::ptrdiff_t a, std::ptrdiff_t b) {
            return detail::npsort::less(values[static_cast<std::size_t>(a)], values[static_cast<std::size_t>(b)]);
        });
    }
    return std::vector<std::size_t>(idx.begin(), idx.end());
}

/// `np.argsort(-scores)`: descending ranking as DOTA_devkit `voc_eval` and mmrotate compute it.
/// With `stable`, ties keep input order.
template <class T>
inline std::vector<std::size_t> argsort_desc(const std::vector<T>& scores, tie_order ties = tie_order::numpy) {
    std::vector<T> neg(scores.size());
    for (std::size_t i = 0; i < scores.size(); ++i)
        neg[i] = -scores[i];
    return argsort(neg, ties);
}

/// `scores.argsort()[::-1]`: descending ranking as DOTA_devkit's NMS computes it (ties come out
/// in reverse of the ascending sort). With `stable`, ties keep input order.
template <class T>
inline std::vector<std::size_t> argsort_rev(const std::vector<T>& scores, tie_order ties = tie_order::numpy) {
    if (ties == tie_order::stable) return argsort_desc(scores, ties);
    std::vector<std::size_t> idx = argsort(scores, ties);
    std::reverse(idx.begin(), idx.end());
    return idx;
}

} // namespace rscovlm::eval
