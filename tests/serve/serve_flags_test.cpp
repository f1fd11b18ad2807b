// `serve -n` means what it means everywhere else: tokens to generate (the default of requests
// that leave max_tokens out), not parallel slots (--parallel).
#include "serve_fixture.hpp"

namespace bantam::test {
namespace {

using nlohmann::json;

TEST(ServeFlags, DashNIsTheDefaultMaxTokensAndParallelStaysOne) {
  ServerProcess server({"-n", "3", "--temp", "0"});
  const HttpResult r = post(server.port(), "/v1/completions", {{"prompt", "Once upon a time"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["usage"]["completion_tokens"], 3);
  const HttpResult props = http(server.port(), "GET", "/props");
  ASSERT_EQ(props.status, 200) << props.body;
  EXPECT_EQ(props.json()["total_slots"], 1);
}

}  // namespace
}  // namespace bantam::test
