// Fuzz regressions: the same harness functions the libFuzzer targets run
// (fuzz/harness/*.h), here under the normal unit test binary (gcc, and ASan
// in unit-asan), on
//  - every input that ever crashed a target or broke one of its invariants,
//    kept in fuzz/regressions/<target>/ (docs/fuzzing.md: how one gets there);
//  - the seed corpus fuzz/corpus/<target>/ (the generated seeds, and in
//    found/ the fuzzers' finds that reach new code), so that a change that
//    breaks an invariant on any of them fails here, without clang.
// A broken invariant throws here (SetThrowOnFailure) and fails the test with
// the file's name; a crash is a crash, as it would be in the fuzzer.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../../fuzz/harness/config.h"
#include "../../fuzz/harness/control.h"
#include "../../fuzz/harness/decode.h"
#include "../../fuzz/harness/engine.h"
#include "../../fuzz/harness/flow.h"
#include "../../fuzz/harness/pcap.h"

namespace hn {
namespace {

namespace fs = std::filesystem;

using Harness = int (*)(const uint8_t*, size_t);

struct Target {
  const char* name;
  Harness run;
};

const Target kTargets[] = {
    {"decode", fuzz::FuzzDecode}, {"flow", fuzz::FuzzFlow},     {"control", fuzz::FuzzControl},
    {"engine", fuzz::FuzzEngine}, {"config", fuzz::FuzzConfig}, {"pcap", fuzz::FuzzPcap},
};

fs::path FuzzDir() { return (fs::path(HONEYNET_TEST_DATA) / ".." / ".." / "fuzz").lexically_normal(); }

// Regular files under dir (subfolders too, as libFuzzer reads a corpus), sorted;
// none when dir does not exist.
std::vector<fs::path> FilesIn(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec))
    if (e.is_regular_file()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<uint8_t> Slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// Runs the harness on one file; a broken invariant becomes a test failure.
void RunFile(const Target& t, const fs::path& file) {
  const std::vector<uint8_t> in = Slurp(file);
  fuzz::SetThrowOnFailure(true);
  try {
    t.run(in.data(), in.size());
  } catch (const fuzz::InvariantFailure& e) {
    ADD_FAILURE() << t.name << " harness on " << file << ": " << e.what();
  }
  fuzz::SetThrowOnFailure(false);
}

class FuzzInputs : public ::testing::TestWithParam<Target> {};

TEST_P(FuzzInputs, SavedCrashInputsStayFixed) {
  for (const fs::path& f : FilesIn(FuzzDir() / "regressions" / GetParam().name)) RunFile(GetParam(), f);
}

TEST_P(FuzzInputs, SeedCorpusKeepsEveryInvariant) {
  const std::vector<fs::path> files = FilesIn(FuzzDir() / "corpus" / GetParam().name);
  EXPECT_FALSE(files.empty()) << "no seed corpus in " << FuzzDir() / "corpus" / GetParam().name;
  for (const fs::path& f : files) RunFile(GetParam(), f);
}

INSTANTIATE_TEST_SUITE_P(AllTargets, FuzzInputs, ::testing::ValuesIn(kTargets),
                         [](const ::testing::TestParamInfo<Target>& i) { return std::string(i.param.name); });

// The harnesses must catch what they claim to: a broken invariant is reported.
TEST(FuzzHarness, BrokenInvariantIsReportedNotIgnored) {
  fuzz::SetThrowOnFailure(true);
  EXPECT_THROW(HN_FUZZ_CHECK(1 + 1 == 3, "arithmetic"), fuzz::InvariantFailure);
  fuzz::SetThrowOnFailure(false);
}

// The harnesses take any bytes, the empty input included.
TEST(FuzzHarness, EveryTargetTakesEmptyAndTinyInputs) {
  const uint8_t tiny[3] = {0xff, 0x00, 0x7f};
  fuzz::SetThrowOnFailure(true);
  for (const Target& t : kTargets) {
    EXPECT_NO_THROW(t.run(nullptr, 0)) << t.name;
    EXPECT_NO_THROW(t.run(tiny, sizeof tiny)) << t.name;
  }
  fuzz::SetThrowOnFailure(false);
}

// ---- one test per input the fuzzers found (fuzz/regressions/<target>/<file>) ----

}  // namespace
}  // namespace hn
