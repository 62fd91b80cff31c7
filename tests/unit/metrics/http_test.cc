#include "metrics/http.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "../../support/free_port.h"

namespace replimail::metrics {
namespace {

TEST(HttpTest, ClassifiesRequests) {
  EXPECT_EQ(classify_request(""), Verdict::kIncomplete);
  EXPECT_EQ(classify_request("GET /metrics HTTP/1.1\r\nHost: x\r\n"), Verdict::kIncomplete);
  EXPECT_EQ(classify_request("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), Verdict::kMetrics);
  EXPECT_EQ(classify_request("GET /metrics HTTP/1.0\n\n"), Verdict::kMetrics);
  EXPECT_EQ(classify_request("GET /metrics?x=1 HTTP/1.1\r\n\r\n"), Verdict::kMetrics);
  EXPECT_EQ(classify_request("GET / HTTP/1.1\r\n\r\n"), Verdict::kNotFound);
  EXPECT_EQ(classify_request("GET /metricsx HTTP/1.1\r\n\r\n"), Verdict::kNotFound);
  EXPECT_EQ(classify_request("POST /metrics HTTP/1.1\r\n\r\n"), Verdict::kMethodNotAllowed);
  EXPECT_EQ(classify_request("HEAD /metrics HTTP/1.1\r\n\r\n"), Verdict::kMethodNotAllowed);
  EXPECT_EQ(classify_request("get /metrics HTTP/1.1\r\n\r\n"), Verdict::kBadRequest);
  EXPECT_EQ(classify_request("GET metrics HTTP/1.1\r\n\r\n"), Verdict::kBadRequest);
  EXPECT_EQ(classify_request("GET /metrics HTTP/2\r\n\r\n"), Verdict::kBadRequest);
  EXPECT_EQ(classify_request("GET  /metrics HTTP/1.1\r\n\r\n"), Verdict::kBadRequest);
  EXPECT_EQ(classify_request("GET /metrics HTTP/1.1 x\r\n\r\n"), Verdict::kBadRequest);
  EXPECT_EQ(classify_request("\r\n\r\n"), Verdict::kBadRequest);
  EXPECT_EQ(classify_request(std::string("GET /a\x01 HTTP/1.1\r\n\r\n")), Verdict::kBadRequest);
  EXPECT_EQ(classify_request(std::string(kMaxRequestHeader, 'a')), Verdict::kBadRequest);
  EXPECT_EQ(classify_request(std::string(kMaxRequestHeader - 1, 'a')), Verdict::kIncomplete);
}

TEST(HttpTest, ResponsesCarryLengthTypeAndClose) {
  std::string ok = http_response(Verdict::kMetrics, "m 1\n");
  EXPECT_EQ(ok,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            "Content-Length: 4\r\nConnection: close\r\n\r\nm 1\n");
  EXPECT_TRUE(http_response(Verdict::kNotFound, "m 1\n").starts_with("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_EQ(http_response(Verdict::kNotFound, "m 1\n").find("m 1"), std::string::npos);
  EXPECT_NE(http_response(Verdict::kMethodNotAllowed, "").find("Allow: GET\r\n"),
            std::string::npos);
  EXPECT_TRUE(http_response(Verdict::kBadRequest, "").starts_with("HTTP/1.1 400 Bad Request\r\n"));
}

// Sends the pieces one write each (then half-closes when `close_write`) and reads the whole
// answer until the server closes.
std::string exchange(int port, const std::vector<std::string>& pieces, bool close_write = false) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return "connect failed";
  }
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  for (const std::string& piece : pieces) {
    if (::send(fd, piece.data(), piece.size(), MSG_NOSIGNAL) < 0) {
      ::close(fd);
      return "send failed";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (close_write) ::shutdown(fd, SHUT_WR);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, n);
  ::close(fd);
  return out;
}

using replimail::testing::free_port;

TEST(HttpTest, ServerAnswersAndKeepsServingAfterBadClients) {
  int calls = 0;
  const int chosen = free_port();
  ASSERT_GT(chosen, 0);
  auto server = Server::open("127.0.0.1:" + std::to_string(chosen), [&calls] {
    ++calls;
    return std::string("replimail_x 1\n");
  });
  ASSERT_TRUE(server.ok()) << server.status().to_string();
  int port = (*server)->port();
  ASSERT_EQ(port, chosen);
  std::thread t([&] { (*server)->run(); });

  std::string ok = exchange(port, {"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"});
  EXPECT_TRUE(ok.starts_with("HTTP/1.1 200 OK\r\n")) << ok;
  EXPECT_TRUE(ok.ends_with("\r\n\r\nreplimail_x 1\n")) << ok;
  EXPECT_TRUE(exchange(port, {"GET /other HTTP/1.1\r\n\r\n"}).starts_with("HTTP/1.1 404"));
  EXPECT_TRUE(exchange(port, {"\x16\x03\x01 garbage\r\n\r\n"}).starts_with("HTTP/1.1 400"));
  EXPECT_TRUE(exchange(port, {std::string(20000, 'x')}, true).starts_with("HTTP/1.1 400"));
  // A client that sends half a request and leaves is dropped.
  EXPECT_EQ(exchange(port, {"GET /metr"}, true), "");
  // A request split across writes is assembled.
  std::string split = exchange(port, {"GET /met", "rics HTTP/1.0\r", "\n\r\n"});
  EXPECT_TRUE(split.starts_with("HTTP/1.1 200 OK\r\n")) << split;
  EXPECT_EQ(calls, 2);

  (*server)->stop();
  t.join();
}

}  // namespace
}  // namespace replimail::metrics
