// The textual IR parser never crashes on malformed input: truncations and random byte
// mutations of a valid graph either parse (and then verify or fail verification
// cleanly) or return an error with a position.
#include <catch2/catch.hpp>

#include <random>

#include "ir/printer.h"
#include "ir/verifier.h"

using namespace kiln;

namespace {

const char* kGraph = R"(graph fuzz {
  %0 = input() {name="x"} : f32[4,3]
  %1 = parameter() {init="normal", init_a=0.0, init_b=0.01, name="w"} : f32[3,2]
  %2 = matmul(%0, %1) : f32[4,2]
  %3 = reduce_sum(%2) {axes=[1], keepdims=1} : f32[4,1]
  %4 = broadcast(%3) {shape=[4,2]} : f32[4,2]
  %5 = sub(%2, %4) : f32[4,2]
  %6 = exp(%5) : f32[4,2]
  %7 = constant() {data=f[1.0,-2.5]} : f32[2]
  %8 = broadcast(%7) {shape=[4,2]} : f32[4,2]
  %9 = mul(%6, %8) : f32[4,2]
  output "y" = %9
  update %1 = %1
})";

void parse_and_verify(const std::string& text) {
  Expected<Graph> g = parse_graph(text);
  if (g.ok()) {
    (void)verify(*g);  // may fail, must not crash
  } else {
    CHECK_FALSE(g.error().message().empty());
  }
}

}  // namespace

TEST_CASE("parser survives every truncation of a valid graph", "[parser][fuzz]") {
  std::string text = kGraph;
  REQUIRE(parse_graph(text).ok());
  for (size_t n = 0; n < text.size(); ++n) parse_and_verify(text.substr(0, n));
}

TEST_CASE("parser survives random byte mutations", "[parser][fuzz]") {
  std::mt19937 rng(1234);
  const std::string alphabet = "%=(){}[]:,.\"-0123456789abcdefxyz \n#fi";
  for (int iter = 0; iter < 3000; ++iter) {
    std::string text = kGraph;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      size_t pos = rng() % text.size();
      switch (rng() % 3) {
        case 0: text[pos] = alphabet[rng() % alphabet.size()]; break;
        case 1: text.erase(pos, 1 + rng() % 3); break;
        default: text.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
      }
      if (text.empty()) text = "g";
    }
    parse_and_verify(text);
  }
}
