// Heat maps as SVG, like d2l's show_heatmaps (section 11.1): a grid of panels, one per
// attention map (a layer's head, say), each a matrix of weights drawn as cells shaded
// from white (0) to dark red (the largest weight of the whole figure, so panels compare),
// with optional token labels on the query (row) and key (column) axes and a colour bar.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/status.h"

namespace kiln {

struct HeatmapPanel {
  std::string title;
  int64_t rows = 0, cols = 0;
  std::vector<float> values;            // [rows, cols], row-major
  std::vector<std::string> row_labels;  // empty, or one per row
  std::vector<std::string> col_labels;  // empty, or one per column
};

struct HeatmapFigure {
  std::string title;
  std::string xlabel = "Keys", ylabel = "Queries";
  int64_t columns = 4;  // panels per row of the grid
  std::vector<HeatmapPanel> panels;
};

// The SVG document; errors: no panels, a panel whose values or labels do not match its
// size, an empty panel, a non-finite value, columns < 1.
Expected<std::string> heatmaps_svg(const HeatmapFigure& figure);
// heatmaps_svg written atomically to `path`.
Status write_heatmaps_svg(const std::string& path, const HeatmapFigure& figure);

}  // namespace kiln
