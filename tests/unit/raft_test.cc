#include <gtest/gtest.h>
#include "raft/raft_storage.h"
TEST(RaftTimeouts, Derived) {
  unsigned e, h;
  tresor::raft::DeriveTimeouts(0, &e, &h);
  EXPECT_EQ(e, 3750u);
}
