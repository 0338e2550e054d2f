// The reset schedule of a foreground lab (lab_internal.h: ResetSchedule).
#include "lab/lab_internal.h"

namespace hn::lab_detail {

ResetSchedule::ResetSchedule(std::string data_dir) : dd_(std::move(data_dir)) {}

void ResetSchedule::Tick(const nlohmann::json&, const Say&) {}

}  // namespace hn::lab_detail
