// Tests for runtime/curves: CSV content and a well-formed SVG with one polyline per series.
#include "runtime/train/curves.h"

#include <catch2/catch.hpp>
#include <cmath>

#include "runtime/atomic_file.h"
#include "temp_dir.h"

using namespace kiln;

namespace {

int count(const std::string& s, const std::string& what) {
  int n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

// Checks that tags balance (<x ...> ... </x>, <x/>), a cheap well-formedness test.
bool tags_balance(const std::string& svg) {
  std::vector<std::string> stack;
  for (size_t p = svg.find('<'); p != std::string::npos; p = svg.find('<', p + 1)) {
    size_t end = svg.find('>', p);
    if (end == std::string::npos) return false;
    std::string tag = svg.substr(p + 1, end - p - 1);
    if (tag.empty()) return false;
    if (tag[0] == '/') {
      if (stack.empty() || stack.back() != tag.substr(1)) return false;
      stack.pop_back();
    } else if (tag.back() != '/') {
      stack.push_back(tag.substr(0, tag.find_first_of(" \n")));
    }
  }
  return stack.empty();
}

Curves sample() {
  Curves c;
  for (int e = 1; e <= 5; ++e) {
    c.add_all(e, {{"train_loss", 1.0 / e}, {"train_acc", 0.5 + 0.08 * e}});
    if (e % 2 == 1) c.add("test_acc", e, 0.45 + 0.08 * e);
  }
  return c;
}

}  // namespace

TEST_CASE("Curves CSV", "[runtime][curves]") {
  Curves c = sample();
  CHECK(c.names() == std::vector<std::string>{"train_loss", "train_acc", "test_acc"});
  CHECK(c.points("train_loss").size() == 5);
  CHECK(c.points("nope").empty());
  std::string csv = c.to_csv();
  CHECK(csv.rfind("epoch,train_loss,train_acc,test_acc\n", 0) == 0);
  CHECK_THAT(csv, Catch::Contains("\n1,1,0.58,0.53\n"));
  CHECK_THAT(csv, Catch::Contains("\n2,0.5,0.66,\n"));  // no test_acc at epoch 2
  CHECK(count(csv, "\n") == 6);

  Curves odd;
  odd.add("a,b", 0.5, std::nan(""));
  CHECK(odd.to_csv("step") == "step,\"a,b\"\n0.5,nan\n");
}

TEST_CASE("Curves SVG is well formed with one polyline per series", "[runtime][curves]") {
  Curves c = sample();
  PlotOptions o;
  o.title = "mlp <fashion-mnist> & co";
  o.ylabel = "value";
  std::string svg = c.to_svg(o);
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK_THAT(svg, Catch::Contains("xmlns=\"http://www.w3.org/2000/svg\""));
  CHECK_THAT(svg, Catch::EndsWith("</svg>\n"));
  CHECK(count(svg, "<polyline") == 3);
  CHECK_THAT(svg, Catch::Contains("data-series=\"test_acc\""));
  CHECK_THAT(svg, Catch::Contains("mlp &lt;fashion-mnist&gt; &amp; co"));
  CHECK_THAT(svg, Catch::Contains(">epoch</text>"));
  CHECK_THAT(svg, Catch::Contains(">train_loss</text>"));  // legend
  CHECK(tags_balance(svg));
  // The train_loss polyline has 5 points.
  size_t p = svg.find("data-series=\"train_loss\"");
  size_t q = svg.find("points=\"", p);
  std::string pts = svg.substr(q + 8, svg.find('"', q + 8) - q - 8);
  CHECK(count(pts, ",") == 5);
}

TEST_CASE("Curves SVG edge cases", "[runtime][curves]") {
  Curves empty;
  std::string svg = empty.to_svg();
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(tags_balance(svg));

  Curves one;
  one.add("loss", 1, 2.5);
  one.add("loss", 2, std::nan(""));  // not drawn
  svg = one.to_svg();
  CHECK(count(svg, "<polyline") == 1);
  CHECK(count(svg, "<circle") == 1);
  CHECK(svg.find("nan") == std::string::npos);
  CHECK(tags_balance(svg));

  Curves logc;
  for (int e = 1; e <= 10; ++e) logc.add("rmse", e, 100.0 / (e * e));
  logc.add("rmse", 11, 0.0);  // non-positive: skipped on a log axis
  PlotOptions o;
  o.log_y = true;
  svg = logc.to_svg(o);
  CHECK_THAT(svg, Catch::Contains(">100</text>"));
  CHECK(tags_balance(svg));
}

TEST_CASE("Curves write CSV and SVG atomically", "[runtime][curves]") {
  testing::TempDir dir;
  Curves c = sample();
  REQUIRE(c.write_csv(dir.file("curves.csv")).ok());
  REQUIRE(c.write_svg(dir.file("curves.svg")).ok());
  CHECK(dir.list() == std::vector<std::string>{"curves.csv", "curves.svg"});
  CHECK(*read_file(dir.file("curves.csv")) == c.to_csv());
  CHECK(read_file(dir.file("curves.svg"))->rfind("<svg", 0) == 0);
  Status bad = c.write_svg(dir.file("missing/dir/c.svg"));
  REQUIRE(!bad.ok());
  CHECK_THAT(bad.error().message(), Catch::Contains("missing/dir/c.svg"));
}
