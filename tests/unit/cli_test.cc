#include <gtest/gtest.h>

#include "cli/format.h"

namespace tresor::cli {
TEST(Format, Placeholder) { EXPECT_EQ(GoQuoteList({}), "[]"); }
}  // namespace tresor::cli
