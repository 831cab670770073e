#include "runtime/train/heatmap.h"

#include <algorithm>
#include <cmath>

#include "runtime/atomic_file.h"
#include "runtime/train/svg_text.h"

namespace kiln {
namespace {

constexpr double kCell = 18;      // side of one weight's square, px
constexpr double kLabelW = 70;    // room for row labels left of a panel
constexpr double kLabelH = 60;    // room for (rotated) column labels under a panel
constexpr double kTitleH = 22;    // panel title above it
constexpr double kGap = 16;       // between panels
constexpr double kMargin = 30;    // around the figure; the figure title sits in it
constexpr double kBarW = 14;      // colour bar

Status check_panel(const HeatmapPanel& p, size_t i) {
  const std::string where = "heat map panel " + std::to_string(i) + " ('" + p.title + "')";
  if (p.rows < 1 || p.cols < 1) return Error(where + " is empty");
  if (static_cast<int64_t>(p.values.size()) != p.rows * p.cols)
    return Error(where + " has " + std::to_string(p.values.size()) + " values for " +
                 std::to_string(p.rows) + "x" + std::to_string(p.cols));
  if (!p.row_labels.empty() && static_cast<int64_t>(p.row_labels.size()) != p.rows)
    return Error(where + " has " + std::to_string(p.row_labels.size()) + " row labels for " +
                 std::to_string(p.rows) + " rows");
  if (!p.col_labels.empty() && static_cast<int64_t>(p.col_labels.size()) != p.cols)
    return Error(where + " has " + std::to_string(p.col_labels.size()) + " column labels for " +
                 std::to_string(p.cols) + " columns");
  for (float v : p.values)
    if (!std::isfinite(v)) return Error(where + " holds a non-finite value");
  return Status::Ok();
}

// Matplotlib's "Reds" end points: white at 0, dark red at 1.
std::string shade(double t) {
  t = std::clamp(t, 0.0, 1.0);
  auto channel = [&](double lo, double hi) {
    return static_cast<int>(std::lround(lo + (hi - lo) * t));
  };
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", channel(255, 103), channel(245, 0),
                channel(240, 13));
  return buf;
}

std::string text(double x, double y, const std::string& s, const std::string& extra = "") {
  return "<text x=\"" + svg_number(x) + "\" y=\"" + svg_number(y) + "\"" + extra + ">" +
         xml_escape(s) + "</text>\n";
}

}  // namespace

Expected<std::string> heatmaps_svg(const HeatmapFigure& f) {
  if (f.panels.empty()) return Error("heat map figure has no panels");
  if (f.columns < 1) return Error("heat map figure needs at least one column");
  int64_t max_rows = 0, max_cols = 0;
  float vmax = 0;
  for (size_t i = 0; i < f.panels.size(); ++i) {
    const HeatmapPanel& p = f.panels[i];
    KILN_RETURN_IF_ERROR(check_panel(p, i));
    max_rows = std::max(max_rows, p.rows);
    max_cols = std::max(max_cols, p.cols);
    for (float v : p.values) vmax = std::max(vmax, v);
  }
  if (vmax <= 0) vmax = 1;
  const int64_t ncol = std::min<int64_t>(f.columns, static_cast<int64_t>(f.panels.size()));
  const int64_t nrow = (static_cast<int64_t>(f.panels.size()) + ncol - 1) / ncol;
  // A panel is wide enough for its title too (about 6 px per character at this size).
  size_t title_chars = 0;
  for (const HeatmapPanel& p : f.panels) title_chars = std::max(title_chars, p.title.size());
  const double panel_w = kLabelW + std::max(max_cols * kCell, 6.0 * title_chars - kLabelW / 2);
  const double panel_h = kTitleH + max_rows * kCell + kLabelH;
  const double width = std::max(2 * kMargin + ncol * panel_w + (ncol - 1) * kGap + 3 * kBarW + 60,
                                7.0 * f.title.size() + 2 * kMargin);
  const double height = 2 * kMargin + nrow * panel_h + (nrow - 1) * kGap + 20;

  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + svg_number(width) +
                    "\" height=\"" + svg_number(height) +
                    "\" font-family=\"sans-serif\" font-size=\"10\">\n"
                    "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += text(width / 2, kMargin * 0.6, f.title, " text-anchor=\"middle\" font-size=\"13\"");
  for (size_t i = 0; i < f.panels.size(); ++i) {
    const HeatmapPanel& p = f.panels[i];
    const double x0 = kMargin + static_cast<double>(static_cast<int64_t>(i) % ncol) * (panel_w + kGap) + kLabelW;
    const double y0 = kMargin + static_cast<double>(static_cast<int64_t>(i) / ncol) * (panel_h + kGap) + kTitleH;
    svg += "<g data-panel=\"" + xml_escape(p.title) + "\">\n";
    svg += text(x0 + p.cols * kCell / 2, y0 - 6, p.title, " text-anchor=\"middle\"");
    for (int64_t r = 0; r < p.rows; ++r)
      for (int64_t c = 0; c < p.cols; ++c) {
        const float v = p.values[static_cast<size_t>(r * p.cols + c)];
        svg += "<rect x=\"" + svg_number(x0 + c * kCell) + "\" y=\"" + svg_number(y0 + r * kCell) +
               "\" width=\"" + svg_number(kCell) + "\" height=\"" + svg_number(kCell) +
               "\" fill=\"" + shade(v / vmax) + "\"><title>" + svg_number(v) + "</title></rect>\n";
      }
    svg += "<rect x=\"" + svg_number(x0) + "\" y=\"" + svg_number(y0) + "\" width=\"" +
           svg_number(p.cols * kCell) + "\" height=\"" + svg_number(p.rows * kCell) +
           "\" fill=\"none\" stroke=\"#444\"/>\n";
    for (size_t r = 0; r < p.row_labels.size(); ++r)
      svg += text(x0 - 4, y0 + (static_cast<double>(r) + 0.7) * kCell, p.row_labels[r],
                  " text-anchor=\"end\"");
    for (size_t c = 0; c < p.col_labels.size(); ++c) {
      const double x = x0 + (static_cast<double>(c) + 0.6) * kCell, y = y0 + p.rows * kCell + 4;
      svg += text(x, y, p.col_labels[c],
                  " text-anchor=\"end\" transform=\"rotate(-60 " + svg_number(x) + " " +
                      svg_number(y) + ")\"");
    }
    svg += "</g>\n";
  }
  // Axis names and the colour bar (0 .. vmax) on the right.
  svg += text(width / 2, height - 8, f.xlabel, " text-anchor=\"middle\"");
  svg += text(12, height / 2, f.ylabel,
              " text-anchor=\"middle\" transform=\"rotate(-90 12 " + svg_number(height / 2) + ")\"");
  const double bx = width - kMargin - 2 * kBarW - 30, by = kMargin + kTitleH;
  const double bh = std::max(60.0, height - 2 * kMargin - kTitleH - 40);
  constexpr int kSteps = 20;
  for (int s = 0; s < kSteps; ++s)
    svg += "<rect x=\"" + svg_number(bx) + "\" y=\"" + svg_number(by + bh * s / kSteps) +
           "\" width=\"" + svg_number(kBarW) + "\" height=\"" + svg_number(bh / kSteps + 0.5) +
           "\" fill=\"" + shade(1.0 - (s + 0.5) / kSteps) + "\"/>\n";
  svg += text(bx + kBarW + 4, by + 8, svg_number(std::round(double{vmax} * 1000) / 1000));
  svg += text(bx + kBarW + 4, by + bh, "0");
  svg += "</svg>\n";
  return svg;
}

Status write_heatmaps_svg(const std::string& path, const HeatmapFigure& figure) {
  std::string svg = KILN_TRY(heatmaps_svg(figure));
  return write_file_atomic(path, svg);
}

}  // namespace kiln
