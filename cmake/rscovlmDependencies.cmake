# Finds rscovlm's dependencies and defines the imported helper targets it links. Used both by the
# project itself and by rscovlmConfig.cmake (find_package consumers).
include_guard(GLOBAL)
find_package(Threads REQUIRED)
find_package(nlohmann_json 3.2 REQUIRED)
find_package(xtl REQUIRED)
find_package(xtensor REQUIRED)
find_package(tinyxml2 REQUIRED)
find_package(PkgConfig QUIET)

# stb: Debian ships it as a compiled library (libstb.so with the implementations) + pkg-config.
if(NOT TARGET rscovlm_stb)
  find_path(RSCOVLM_STB_INCLUDE_DIR stb_image.h PATH_SUFFIXES stb REQUIRED)
  find_library(RSCOVLM_STB_LIBRARY stb REQUIRED)
  add_library(rscovlm_stb INTERFACE IMPORTED GLOBAL)
  get_filename_component(_rscovlm_stb_parent "${RSCOVLM_STB_INCLUDE_DIR}" DIRECTORY)
  set_target_properties(rscovlm_stb PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${_rscovlm_stb_parent}"
    INTERFACE_LINK_LIBRARIES "${RSCOVLM_STB_LIBRARY}")
endif()

# libtiff (optional): windowed reads of tiled/striped TIFF for the Zoom-in Chain.
find_package(TIFF QUIET)
set(RSCOVLM_HAS_TIFF ${TIFF_FOUND})

# GDAL (optional): rasters of every format GDAL opens (GeoTIFF/COG, JPEG2000, NITF, ...), overviews,
# georeferencing, and GeoJSON/GeoPackage output reprojected with PROJ. RSCOVLM_WITH_GDAL=OFF skips it.
if(NOT DEFINED RSCOVLM_WITH_GDAL)
  set(RSCOVLM_WITH_GDAL ON)
endif()
set(RSCOVLM_HAS_GDAL OFF)
if(RSCOVLM_WITH_GDAL)
  find_package(GDAL QUIET)
  set(RSCOVLM_HAS_GDAL ${GDAL_FOUND})
endif()

# cpp-httplib (optional): the OpenAI-compatible HTTP backend. Debian builds it as a library.
set(RSCOVLM_HAS_HTTPLIB OFF)
if(NOT TARGET rscovlm_httplib)
  find_path(RSCOVLM_HTTPLIB_INCLUDE_DIR httplib.h)
  find_library(RSCOVLM_HTTPLIB_LIBRARY cpp-httplib)
  if(RSCOVLM_HTTPLIB_INCLUDE_DIR AND RSCOVLM_HTTPLIB_LIBRARY)
    add_library(rscovlm_httplib INTERFACE IMPORTED GLOBAL)
    set_target_properties(rscovlm_httplib PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${RSCOVLM_HTTPLIB_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES "${RSCOVLM_HTTPLIB_LIBRARY};Threads::Threads"
      INTERFACE_COMPILE_DEFINITIONS "CPPHTTPLIB_OPENSSL_SUPPORT;CPPHTTPLIB_ZLIB_SUPPORT;CPPHTTPLIB_BROTLI_SUPPORT")
    set(RSCOVLM_HAS_HTTPLIB ON)
  endif()
else()
  set(RSCOVLM_HAS_HTTPLIB ON)
endif()

# Image codecs (optional): libdeflate (fast whole-buffer inflate) and/or zlib enable rscovlm's own PNG
# decoder, libjpeg-turbo the Pillow-identical JPEG decoder. Without them image_io falls back to stb_image.
# RSCOVLM_WITH_CODECS=OFF forces the fallback (used to test it).
if(NOT DEFINED RSCOVLM_WITH_CODECS)
  set(RSCOVLM_WITH_CODECS ON)
endif()
set(RSCOVLM_HAS_LIBDEFLATE OFF)
set(RSCOVLM_HAS_ZLIB OFF)
set(RSCOVLM_HAS_LIBJPEG OFF)
if(RSCOVLM_WITH_CODECS)
  if(NOT TARGET rscovlm_libdeflate)
    find_path(RSCOVLM_LIBDEFLATE_INCLUDE_DIR libdeflate.h)
    find_library(RSCOVLM_LIBDEFLATE_LIBRARY deflate)
    if(RSCOVLM_LIBDEFLATE_INCLUDE_DIR AND RSCOVLM_LIBDEFLATE_LIBRARY)
      add_library(rscovlm_libdeflate INTERFACE IMPORTED GLOBAL)
      set_target_properties(rscovlm_libdeflate PROPERTIES
        INTERFACE_INCLUDE_DIRECTORIES "${RSCOVLM_LIBDEFLATE_INCLUDE_DIR}"
        INTERFACE_LINK_LIBRARIES "${RSCOVLM_LIBDEFLATE_LIBRARY}")
      set(RSCOVLM_HAS_LIBDEFLATE ON)
    endif()
  else()
    set(RSCOVLM_HAS_LIBDEFLATE ON)
  endif()
  find_package(ZLIB QUIET)
  set(RSCOVLM_HAS_ZLIB ${ZLIB_FOUND})
  find_package(JPEG QUIET)
  set(RSCOVLM_HAS_LIBJPEG ${JPEG_FOUND})
endif()
function(rscovlm_link_codecs target)
  if(RSCOVLM_HAS_LIBDEFLATE)
    target_link_libraries(${target} INTERFACE rscovlm_libdeflate)
    target_compile_definitions(${target} INTERFACE RSCOVLM_HAS_LIBDEFLATE=1)
  endif()
  if(RSCOVLM_HAS_ZLIB)
    target_link_libraries(${target} INTERFACE ZLIB::ZLIB)
    target_compile_definitions(${target} INTERFACE RSCOVLM_HAS_ZLIB=1)
  endif()
  if(RSCOVLM_HAS_LIBJPEG)
    target_link_libraries(${target} INTERFACE JPEG::JPEG)
    target_compile_definitions(${target} INTERFACE RSCOVLM_HAS_LIBJPEG=1)
  endif()
endfunction()
