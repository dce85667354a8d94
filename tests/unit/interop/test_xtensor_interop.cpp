// interop/xtensor.hpp: zero-copy xtensor views of images and pixel_values, and images from xtensor.
#include <doctest/doctest.h>

#include <rscovlm/interop/xtensor.hpp>

#include <string>

using namespace rscovlm;

TEST_CASE("interop: as_xtensor views an image as [H, W, C] without copying") {
    image im(5, 3, 3);
    for (std::size_t i = 0; i < im.data.size(); ++i)
        im.data[i] = static_cast<std::uint8_t>(i);
    auto v = imaging::as_xtensor(im);
    REQUIRE(v.dimension() == 3);
    CHECK(v.shape()[0] == 3);
    CHECK(v.shape()[1] == 5);
    CHECK(v.shape()[2] == 3);
    CHECK(v(2, 4, 1) == im.at(4, 2, 1));
    CHECK(v(1, 0, 2) == im.at(0, 1, 2));
    v(0, 1, 0) = 200; // writes go through to the image
    CHECK(im.at(1, 0, 0) == 200);
    const image& cim = im;
    CHECK(imaging::as_xtensor(cim)(0, 1, 0) == 200);
}

TEST_CASE("interop: from_xtensor round-trips, follows row-major order of views, and rejects bad tensors") {
    image im(4, 2, 3);
    for (std::size_t i = 0; i < im.data.size(); ++i)
        im.data[i] = static_cast<std::uint8_t>(7 * i + 1);
    const image back = imaging::from_xtensor(imaging::as_xtensor(im));
    CHECK(back.width == 4);
    CHECK(back.height == 2);
    CHECK(back.channels == 3);
    CHECK(back.data == im.data);

    // A transposed view [W, H, C] becomes a 2x4 image whose (x, y) is the source's (y, x).
    auto t = xt::transpose(imaging::as_xtensor(im), {1, 0, 2});
    const image tr = imaging::from_xtensor(t);
    CHECK(tr.width == 2);
    CHECK(tr.height == 4);
    CHECK(tr.at(1, 3, 2) == im.at(3, 1, 2));

    xt::xarray<int> grey = {{0, 255}, {17, 3}};
    const image g = imaging::from_xtensor(grey);
    CHECK(g.channels == 1);
    CHECK(g.at(1, 0) == 255);
    CHECK(g.at(0, 1) == 17);

    auto bad_id = [](auto&& f) {
        try {
            f();
        } catch (const rscovlm::error& e) {
            return std::string(e.id());
        }
        return std::string("no error");
    };
    xt::xarray<double> frac = {{1.0, 2.5}};
    CHECK(bad_id([&] { imaging::from_xtensor(frac); }) == "rscovlm.image.bad_tensor");
    xt::xarray<int> neg = {{1, -1}};
    CHECK(bad_id([&] { imaging::from_xtensor(neg); }) == "rscovlm.image.bad_tensor");
    xt::xarray<int> big = xt::full_like(xt::xarray<int>({{1, 2}}), 256);
    CHECK(bad_id([&] { imaging::from_xtensor(big); }) == "rscovlm.image.bad_tensor");
    xt::xarray<std::uint8_t> rank1 = {1, 2, 3};
    CHECK(bad_id([&] { imaging::from_xtensor(rank1); }) == "rscovlm.image.bad_tensor");
    xt::xarray<std::uint8_t> five = xt::zeros<std::uint8_t>({2, 2, 5});
    CHECK(bad_id([&] { imaging::from_xtensor(five); }) == "rscovlm.image.bad_tensor");
}

TEST_CASE("interop: pixel_values_xtensor is the [rows, 1176] processor output") {
    image im(56, 28, 3);
    for (std::size_t i = 0; i < im.data.size(); ++i)
        im.data[i] = static_cast<std::uint8_t>((i * 31) & 255);
    resolution::preprocess_options o;
    o.min_pixels = 28 * 28;
    o.max_pixels = 56 * 28;
    auto r = resolution::preprocess(im, o);
    auto pv = imaging::pixel_values_xtensor(r);
    REQUIRE(pv.dimension() == 2);
    CHECK(pv.shape()[0] == r.rows);
    CHECK(pv.shape()[1] == 1176);
    CHECK(pv(r.rows - 1, 1175) == r.pixel_values.back());
    CHECK(pv(1, 3) == r.pixel_values[1176 + 3]);
    r.rows += 1; // inconsistent metadata is refused, not read out of bounds
    CHECK_THROWS_AS(imaging::pixel_values_xtensor(r), rscovlm::error);
}
