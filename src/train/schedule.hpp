// schedule.hpp: learning-rate schedules with linear warmup, as transformers'
// get_{constant,linear,cosine}_schedule_with_warmup:
//   warmup (s < W): lr·s/W
//   constant: lr;  linear: lr·(S−s)/(S−W);  cosine: lr·½(1 + cos(π·(s−W)/(S−W)))
// s counts optimizer steps from 0; S is the total number of steps.
#pragma once

#include <string>

namespace align::train {

enum class Schedule { Constant, Linear, Cosine };
Schedule parse_schedule(const std::string& name);  // constant | linear | cosine

double learning_rate(Schedule s, double lr, long step, long warmup_steps, long total_steps);

}  // namespace align::train
