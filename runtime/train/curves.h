// Training curves: named series of (x, y) points, typically one point per epoch for
// train_loss, train_acc and test_acc, like d2l's Animator. They are saved as a CSV table
// (one row per x, one column per series, empty cells where a series has no point) and
// as a self-contained SVG line plot with axes, ticks, grid, axis labels and a legend,
// one colour and dash pattern per series. Both writes are atomic (temp file + rename).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "ir/status.h"

namespace kiln {

struct PlotOptions {
  std::string title;
  std::string xlabel = "epoch";
  std::string ylabel;
  bool log_y = false;  // logarithmic y axis (non-positive values are not drawn)
  int width = 640, height = 400;
};

class Curves {
 public:
  // Appends a point to `series` (created on first use; series keep creation order).
  void add(const std::string& series, double x, double y);
  // Adds one point per named value at the same x, e.g. add_all(epoch + 1, {{"train_loss", l}, ...}).
  void add_all(double x, const std::vector<std::pair<std::string, double>>& values);

  bool empty() const { return series_.empty(); }
  std::vector<std::string> names() const;
  // Points of a series (empty when unknown).
  const std::vector<std::pair<double, double>>& points(const std::string& series) const;

  // CSV: header "<x_name>,<series...>", rows sorted by x.
  std::string to_csv(const std::string& x_name = "epoch") const;
  std::string to_svg(const PlotOptions& options = {}) const;
  Status write_csv(const std::string& path, const std::string& x_name = "epoch") const;
  Status write_svg(const std::string& path, const PlotOptions& options = {}) const;

 private:
  struct Series {
    std::string name;
    std::vector<std::pair<double, double>> points;
  };
  std::vector<Series> series_;
};

// Where `kiln train --plot FILE.svg` writes the CSV beside it: FILE.csv.
inline std::string curves_csv_path(const std::string& plot_path) {
  std::string base = plot_path;
  if (base.size() > 4 && base.compare(base.size() - 4, 4, ".svg") == 0) base.resize(base.size() - 4);
  return base + ".csv";
}

}  // namespace kiln
