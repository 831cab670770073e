// Text helpers shared by the SVG writers (curves, heat maps).
#pragma once

#include <string>

namespace kiln {

// Shortest round-trip decimal of v ("nan", "inf", "-inf" for the non-finite).
std::string svg_number(double v);
// s with XML's five special characters escaped and control characters dropped.
std::string xml_escape(const std::string& s);

}  // namespace kiln
