// schedule.cpp: learning-rate schedules (schedule.hpp).
#include "train/schedule.hpp"

#include <algorithm>
#include <cmath>

#include "common/error.hpp"

namespace align::train {

Schedule parse_schedule(const std::string& s) {
  if (s == "constant") return Schedule::Constant;
  if (s == "linear") return Schedule::Linear;
  if (s == "cosine") return Schedule::Cosine;
  throw InputError(cat("--lr-schedule '", s, "' is not known, expected constant, linear or cosine"));
}

double learning_rate(Schedule s, double lr, long step, long warmup, long total) {
  if (step < warmup) return lr * (double)step / std::max(1L, warmup);
  if (s == Schedule::Constant) return lr;
  const double progress = (double)(step - warmup) / std::max(1L, total - warmup);
  if (s == Schedule::Linear) return lr * std::max(0.0, 1.0 - progress);
  return lr * 0.5 * (1.0 + std::cos(M_PI * std::min(1.0, progress)));
}

}  // namespace align::train
