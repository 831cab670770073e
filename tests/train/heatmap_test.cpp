// Heat maps (runtime/train/heatmap.h): one group of cells per panel, shaded against the
// figure's largest weight, labels escaped, and malformed panels refused by name.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <sstream>

#include "runtime/train/heatmap.h"
#include "temp_dir.h"

using namespace kiln;

namespace {

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

HeatmapFigure two_panels() {
  HeatmapFigure f;
  f.title = "attention";
  f.columns = 2;
  HeatmapPanel a{"head 0", 2, 3, {0.5f, 0.25f, 0.25f, 0.f, 1.f, 0.f}, {"q0", "q1"}, {"a", "b", "<eos>"}};
  HeatmapPanel b{"head 1", 1, 2, {0.5f, 0.5f}, {}, {}};
  f.panels = {a, b};
  return f;
}

}  // namespace

TEST_CASE("heat maps draw one cell per weight, shaded against the largest", "[heatmap]") {
  Expected<std::string> svg = heatmaps_svg(two_panels());
  REQUIRE(svg.ok());
  CHECK(count(*svg, "data-panel=") == 2);
  CHECK(count(*svg, "<title>") == 8);  // 6 + 2 cells, each with its value
  // The largest weight (1) is the darkest red, 0 is white; labels are escaped.
  CHECK_THAT(*svg, Catch::Contains("fill=\"#67000d\"><title>1</title>"));
  CHECK_THAT(*svg, Catch::Contains("fill=\"#fff5f0\"><title>0</title>"));
  CHECK_THAT(*svg, Catch::Contains("&lt;eos&gt;"));
  CHECK(svg->find("<eos>") == std::string::npos);

  testing::TempDir dir;
  REQUIRE(write_heatmaps_svg(dir.file("a.svg"), two_panels()).ok());
  std::ifstream in(dir.file("a.svg"));
  std::stringstream text;
  text << in.rdbuf();
  CHECK(text.str() == *svg);
}

TEST_CASE("malformed heat maps are refused with the panel's name", "[heatmap]") {
  HeatmapFigure f = two_panels();
  f.panels[1].values.push_back(0.1f);
  Expected<std::string> wrong_size = heatmaps_svg(f);
  REQUIRE_FALSE(wrong_size.ok());
  CHECK_THAT(wrong_size.error().message(), Catch::Contains("head 1") && Catch::Contains("3 values"));

  f = two_panels();
  f.panels[0].row_labels.pop_back();
  REQUIRE_FALSE(heatmaps_svg(f).ok());
  f = two_panels();
  f.panels[0].values[2] = std::nanf("");
  Expected<std::string> nan = heatmaps_svg(f);
  REQUIRE_FALSE(nan.ok());
  CHECK_THAT(nan.error().message(), Catch::Contains("non-finite"));
  REQUIRE_FALSE(heatmaps_svg(HeatmapFigure{}).ok());
  f = two_panels();
  f.panels[0].rows = 0;
  REQUIRE_FALSE(heatmaps_svg(f).ok());
}
