// When a honeypot of a foreground lab is due for its scheduled reset
// ([[honeypot]] reset_idle, reset_max_age, reset_jitter; docs/lab.md#reset-schedule).
// Pure: the lab's ResetSchedule (lab_schedule.cpp) feeds it the clock, the
// guest's boot time and its last flow as the honeywall counted it.
//
// Who may call: the lab and tests.
#pragma once

#include <cstdint>

#include "config/config.h"

namespace hn {

// "idle" when the honeypot has had no flow (and has not booted) for
// reset_idle; "max_age" when it has run for reset_max_age plus jitter_s;
// nullptr when neither (or its schedule is off). Times in unix seconds.
const char* ResetDueReason(const HoneypotConfig& hp, int64_t now, int64_t booted, int64_t last_flow, int64_t jitter_s);

// A jitter in whole seconds from [0, reset_jitter), drawn from random.
int64_t ResetJitterSeconds(const HoneypotConfig& hp, uint64_t random);

}  // namespace hn
