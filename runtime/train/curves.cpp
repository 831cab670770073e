// Curves storage, CSV output and the SVG plotter: a linear (or log) y axis and a linear
// x axis with "nice" 1-2-5 tick steps, light grid, axis labels, a legend box in the
// upper right and one polyline per series. See curves.h.
#include "runtime/train/curves.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>

#include "runtime/atomic_file.h"
#include "runtime/train/csv.h"
#include "runtime/train/svg_text.h"

namespace kiln {
namespace {

// Matplotlib's tab10 colours and d2l's line styles ('-', '--', '-.', ':').
const char* kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                         "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
const char* kDashes[] = {"", "7,4", "7,3,2,3", "2,3"};

std::string num(double v) { return svg_number(v); }

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// An axis: data range [lo, hi] (already log10 for a log axis) and its ticks.
struct Axis {
  double lo = 0, hi = 1;
  std::vector<double> ticks;
  std::vector<std::string> labels;
};

// Ticks at multiples of a 1-2-5 step giving about `target` ticks.
Axis linear_axis(double lo, double hi, int target, bool integer_ticks) {
  Axis ax;
  if (!(hi > lo)) {
    double pad = lo == 0 ? 1.0 : std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  double pad = (hi - lo) * 0.05;  // matplotlib's default margin
  ax.lo = lo - pad;
  ax.hi = hi + pad;
  double raw = (ax.hi - ax.lo) / target;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double norm = raw / mag;
  double step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  if (integer_ticks) step = std::max(1.0, std::round(step));
  int decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
  char f[16];
  std::snprintf(f, sizeof f, "%%.%df", std::min(decimals, 10));
  for (double t = std::ceil(ax.lo / step - 1e-9) * step; t <= ax.hi + 1e-9 * step; t += step) {
    double v = std::abs(t) < step * 1e-9 ? 0.0 : t;
    ax.ticks.push_back(v);
    ax.labels.push_back(fmt(f, v));
  }
  return ax;
}

// Log axis over log10 values: ticks at powers of ten (plus 2 and 5 when the range is short).
Axis log_axis(double lo, double hi) {
  Axis ax;
  if (!(hi > lo)) lo -= 0.5, hi += 0.5;
  double pad = (hi - lo) * 0.05;
  ax.lo = lo - pad;
  ax.hi = hi + pad;
  bool minor = ax.hi - ax.lo < 2.5;
  for (int e = static_cast<int>(std::floor(ax.lo)); e <= static_cast<int>(std::ceil(ax.hi)); ++e) {
    for (double m : {1.0, 2.0, 5.0}) {
      if (m != 1.0 && !minor) continue;
      double t = e + std::log10(m);
      if (t < ax.lo || t > ax.hi) continue;
      ax.ticks.push_back(t);
      ax.labels.push_back(fmt("%g", m * std::pow(10.0, e)));
    }
  }
  return ax;
}

}  // namespace

void Curves::add(const std::string& series, double x, double y) {
  for (Series& s : series_) {
    if (s.name == series) {
      s.points.emplace_back(x, y);
      return;
    }
  }
  series_.push_back({series, {{x, y}}});
}

void Curves::add_all(double x, const std::vector<std::pair<std::string, double>>& values) {
  for (const auto& [name, y] : values) add(name, x, y);
}

std::vector<std::string> Curves::names() const {
  std::vector<std::string> out;
  for (const Series& s : series_) out.push_back(s.name);
  return out;
}

const std::vector<std::pair<double, double>>& Curves::points(const std::string& series) const {
  static const std::vector<std::pair<double, double>> kEmpty;
  for (const Series& s : series_) {
    if (s.name == series) return s.points;
  }
  return kEmpty;
}

std::string Curves::to_csv(const std::string& x_name) const {
  // x -> one cell per series (the last point at that x wins).
  std::map<double, std::vector<std::string>> rows;
  for (size_t k = 0; k < series_.size(); ++k) {
    for (const auto& [x, y] : series_[k].points) {
      auto& row = rows[x];
      row.resize(series_.size());
      row[k] = num(y);
    }
  }
  std::string out = csv_escape(x_name);
  for (const Series& s : series_) {
    out += ',';
    out += csv_escape(s.name);
  }
  out += "\n";
  for (auto& [x, cells] : rows) {
    cells.resize(series_.size());
    out += num(x);
    for (const std::string& c : cells) {
      out += ',';
      out += c;
    }
    out += "\n";
  }
  return out;
}

std::string Curves::to_svg(const PlotOptions& o) const {
  const double W = std::max(o.width, 200), H = std::max(o.height, 150);
  const double left = 64, right = 16, top = o.title.empty() ? 16 : 36, bottom = 48;
  const double pw = W - left - right, ph = H - top - bottom;

  // Data ranges over drawable points.
  auto drawable = [&](double x, double y) { return std::isfinite(x) && std::isfinite(y) && (!o.log_y || y > 0); };
  auto ty = [&](double y) { return o.log_y ? std::log10(y) : y; };
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  bool integer_x = true;
  for (const Series& s : series_) {
    for (const auto& [x, y] : s.points) {
      if (!drawable(x, y)) continue;
      xmin = std::min(xmin, x), xmax = std::max(xmax, x);
      ymin = std::min(ymin, ty(y)), ymax = std::max(ymax, ty(y));
      if (x != std::round(x)) integer_x = false;
    }
  }
  if (!std::isfinite(xmin)) xmin = 0, xmax = 1, ymin = 0, ymax = 1;
  Axis ax = linear_axis(xmin, xmax, 6, integer_x);
  Axis ay = o.log_y ? log_axis(ymin, ymax) : linear_axis(ymin, ymax, 5, false);
  auto px = [&](double x) { return left + (x - ax.lo) / (ax.hi - ax.lo) * pw; };
  auto py = [&](double y) { return top + ph - (y - ay.lo) / (ay.hi - ay.lo) * ph; };

  std::string svg;
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + fmt("%.0f", W) + "\" height=\"" + fmt("%.0f", H) +
         "\" viewBox=\"0 0 " + fmt("%.0f", W) + " " + fmt("%.0f", H) +
         "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  if (!o.title.empty()) {
    svg += "<text x=\"" + fmt("%.1f", left + pw / 2) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">" +
           xml_escape(o.title) + "</text>\n";
  }
  // Grid and ticks.
  svg += "<g stroke=\"#e0e0e0\" stroke-width=\"1\">\n";
  for (double t : ax.ticks) {
    svg += "<line x1=\"" + fmt("%.2f", px(t)) + "\" y1=\"" + fmt("%.2f", top) + "\" x2=\"" + fmt("%.2f", px(t)) +
           "\" y2=\"" + fmt("%.2f", top + ph) + "\"/>\n";
  }
  for (double t : ay.ticks) {
    svg += "<line x1=\"" + fmt("%.2f", left) + "\" y1=\"" + fmt("%.2f", py(t)) + "\" x2=\"" +
           fmt("%.2f", left + pw) + "\" y2=\"" + fmt("%.2f", py(t)) + "\"/>\n";
  }
  svg += "</g>\n<g fill=\"#333\">\n";
  for (size_t i = 0; i < ax.ticks.size(); ++i) {
    double x = px(ax.ticks[i]);
    svg += "<line x1=\"" + fmt("%.2f", x) + "\" y1=\"" + fmt("%.2f", top + ph) + "\" x2=\"" + fmt("%.2f", x) +
           "\" y2=\"" + fmt("%.2f", top + ph + 4) + "\" stroke=\"#333\"/>";
    svg += "<text x=\"" + fmt("%.2f", x) + "\" y=\"" + fmt("%.2f", top + ph + 17) + "\" text-anchor=\"middle\">" +
           xml_escape(ax.labels[i]) + "</text>\n";
  }
  for (size_t i = 0; i < ay.ticks.size(); ++i) {
    double y = py(ay.ticks[i]);
    svg += "<line x1=\"" + fmt("%.2f", left - 4) + "\" y1=\"" + fmt("%.2f", y) + "\" x2=\"" + fmt("%.2f", left) +
           "\" y2=\"" + fmt("%.2f", y) + "\" stroke=\"#333\"/>";
    svg += "<text x=\"" + fmt("%.2f", left - 7) + "\" y=\"" + fmt("%.2f", y + 4) + "\" text-anchor=\"end\">" +
           xml_escape(ay.labels[i]) + "</text>\n";
  }
  svg += "</g>\n";
  // Axes frame and labels.
  svg += "<rect x=\"" + fmt("%.2f", left) + "\" y=\"" + fmt("%.2f", top) + "\" width=\"" + fmt("%.2f", pw) +
         "\" height=\"" + fmt("%.2f", ph) + "\" fill=\"none\" stroke=\"#333\"/>\n";
  if (!o.xlabel.empty()) {
    svg += "<text x=\"" + fmt("%.2f", left + pw / 2) + "\" y=\"" + fmt("%.2f", H - 10) +
           "\" text-anchor=\"middle\">" + xml_escape(o.xlabel) + "</text>\n";
  }
  if (!o.ylabel.empty()) {
    svg += "<text transform=\"translate(16," + fmt("%.2f", top + ph / 2) +
           ") rotate(-90)\" text-anchor=\"middle\">" + xml_escape(o.ylabel) + "</text>\n";
  }
  // Series, clipped to the plot area.
  svg += "<clipPath id=\"plot-area\"><rect x=\"" + fmt("%.2f", left) + "\" y=\"" + fmt("%.2f", top) +
         "\" width=\"" + fmt("%.2f", pw) + "\" height=\"" + fmt("%.2f", ph) + "\"/></clipPath>\n";
  svg += "<g clip-path=\"url(#plot-area)\" fill=\"none\" stroke-width=\"1.8\" stroke-linejoin=\"round\">\n";
  for (size_t k = 0; k < series_.size(); ++k) {
    const char* color = kColors[k % 10];
    const char* dash = kDashes[k % 4];
    std::string pts;
    int n = 0;
    double lx = 0, ly = 0;
    for (const auto& [x, y] : series_[k].points) {
      if (!drawable(x, y)) continue;
      lx = px(x), ly = py(ty(y));
      if (n++) pts += ' ';
      pts += fmt("%.2f", lx);
      pts += ',';
      pts += fmt("%.2f", ly);
    }
    svg += "<polyline data-series=\"" + xml_escape(series_[k].name) + "\" stroke=\"" + color + "\"" +
           (dash[0] ? std::string(" stroke-dasharray=\"") + dash + "\"" : "") + " points=\"" + pts + "\"/>\n";
    if (n == 1) {  // a lone point draws no line: mark it
      svg += "<circle cx=\"" + fmt("%.2f", lx) + "\" cy=\"" + fmt("%.2f", ly) + "\" r=\"3\" fill=\"" + color +
             "\" stroke=\"none\"/>\n";
    }
  }
  svg += "</g>\n";
  // Legend in the upper right corner of the plot area.
  if (!series_.empty()) {
    size_t longest = 0;
    for (const Series& s : series_) longest = std::max(longest, s.name.size());
    double lw = 40 + 7.0 * static_cast<double>(longest), lh = 8 + 18.0 * series_.size();
    double lx = left + pw - lw - 8, ly = top + 8;
    svg += "<g>\n<rect x=\"" + fmt("%.2f", lx) + "\" y=\"" + fmt("%.2f", ly) + "\" width=\"" + fmt("%.2f", lw) +
           "\" height=\"" + fmt("%.2f", lh) + "\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#ccc\" rx=\"3\"/>\n";
    for (size_t k = 0; k < series_.size(); ++k) {
      double y = ly + 15 + 18.0 * k;
      const char* dash = kDashes[k % 4];
      svg += "<line x1=\"" + fmt("%.2f", lx + 6) + "\" y1=\"" + fmt("%.2f", y - 4) + "\" x2=\"" +
             fmt("%.2f", lx + 30) + "\" y2=\"" + fmt("%.2f", y - 4) + "\" stroke=\"" + kColors[k % 10] +
             "\" stroke-width=\"1.8\"" + (dash[0] ? std::string(" stroke-dasharray=\"") + dash + "\"" : "") +
             "/>";
      svg += "<text x=\"" + fmt("%.2f", lx + 36) + "\" y=\"" + fmt("%.2f", y) + "\">" +
             xml_escape(series_[k].name) + "</text>\n";
    }
    svg += "</g>\n";
  }
  svg += "</svg>\n";
  return svg;
}

Status Curves::write_csv(const std::string& path, const std::string& x_name) const {
  return write_file_atomic(path, to_csv(x_name));
}

Status Curves::write_svg(const std::string& path, const PlotOptions& options) const {
  return write_file_atomic(path, to_svg(options));
}

}  // namespace kiln
