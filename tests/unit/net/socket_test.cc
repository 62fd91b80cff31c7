#include "../../support/temp_dir.h"
#include "net/socket.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>

namespace replimail::net {
namespace {

TEST(ParseListenTest, HostAndPort) {
  auto a = parse_listen("127.0.0.1:2003");
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_EQ(a->kind, ListenAddress::Kind::kInet);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 2003);
  EXPECT_EQ(a->family, AF_INET);
  EXPECT_EQ(a->to_string(), "127.0.0.1:2003");
}

TEST(ParseListenTest, BarePortListensEverywhere) {
  auto a = parse_listen("2005");
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->host.empty());
  EXPECT_EQ(a->port, 2005);
  EXPECT_EQ(a->family, AF_UNSPEC);
  EXPECT_EQ(a->to_string(), "*:2005");
  EXPECT_EQ(parse_listen("*:2005")->host, "");
}

TEST(ParseListenTest, HostNameIsKeptForResolution) {
  auto a = parse_listen("localhost:143");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "localhost");
  EXPECT_EQ(a->family, AF_UNSPEC);
}

TEST(ParseListenTest, BracketedIpv6) {
  auto a = parse_listen("[::1]:4190");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 4190);
  EXPECT_EQ(a->family, AF_INET6);
  EXPECT_EQ(a->to_string(), "[::1]:4190");
}

TEST(ParseListenTest, UnixSocketPath) {
  auto a = parse_listen("/var/imap/socket/lmtp");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->kind, ListenAddress::Kind::kUnix);
  EXPECT_EQ(a->path, "/var/imap/socket/lmtp");
  EXPECT_EQ(a->to_string(), "/var/imap/socket/lmtp");
}

TEST(ParseListenTest, ServiceNamesResolveWithFallbacks) {
  // csync and lmtp are missing from many /etc/services; Cyrus's numbers apply.
  EXPECT_EQ(parse_listen("csync")->port, 2005);
  EXPECT_EQ(parse_listen("imap")->port, 143);
  EXPECT_EQ(parse_listen("pop3")->port, 110);
  auto lmtp = parse_listen("127.0.0.1:lmtp");
  ASSERT_TRUE(lmtp.ok());
  EXPECT_TRUE(lmtp->port == 2003 || lmtp->port == 24) << lmtp->port;
}

TEST(ParseListenTest, ProtoPinsTheFamily) {
  EXPECT_EQ(parse_listen("143", "tcp4")->family, AF_INET);
  EXPECT_EQ(parse_listen("143", "tcp6")->family, AF_INET6);
}

TEST(ParseListenTest, Errors) {
  for (const char* bad : {"", "0", "65536", "99999999", "host:", ":143", "[::1]", "[::1]143",
                          "[zz]:143", "a:b:143", "nosuchservice", "127.0.0.1:nosuchservice"}) {
    auto a = parse_listen(bad);
    EXPECT_FALSE(a.ok()) << bad;
    if (!a.ok()) {
      EXPECT_EQ(a.status().code(), Code::kConfigError) << bad;
    }
  }
  EXPECT_FALSE(parse_listen("143", "udp").ok());
  EXPECT_FALSE(parse_listen("[::1]:143", "tcp4").ok());
  EXPECT_FALSE(parse_listen("127.0.0.1:143", "tcp6").ok());
  EXPECT_FALSE(parse_listen("/" + std::string(200, 'x')).ok());
}

TEST(ListenerTest, TcpListenConnectAndNames) {
  auto addr = parse_listen("127.0.0.1:0");
  ASSERT_FALSE(addr.ok());  // port 0 is not a configurable port
  ListenAddress a;
  a.host = "127.0.0.1";
  a.family = AF_INET;
  auto lfd = open_listener(a, 8);
  ASSERT_TRUE(lfd.ok()) << lfd.status().to_string();
  uint16_t port = bound_port(*lfd);
  ASSERT_NE(port, 0);
  auto c = connect_to("127.0.0.1", port);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  int s = ::accept(*lfd, nullptr, nullptr);
  ASSERT_GE(s, 0);
  EXPECT_EQ(local_name(s), "127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(peer_name(*c), "127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(peer_name(s).rfind("127.0.0.1:", 0), 0u);
  EXPECT_FALSE(is_unix_socket(s));
  for (int fd : {s, *c, *lfd}) ::close(fd);
}

TEST(ListenerTest, WildcardListenerAcceptsIpv4) {
  ListenAddress a;
  auto lfd = open_listener(a, 8);
  ASSERT_TRUE(lfd.ok()) << lfd.status().to_string();
  auto c = connect_to("127.0.0.1", bound_port(*lfd));
  ASSERT_TRUE(c.ok());
  int s = ::accept(*lfd, nullptr, nullptr);
  ASSERT_GE(s, 0);
  // A v4-mapped peer prints as plain IPv4.
  EXPECT_EQ(peer_name(s).rfind("127.0.0.1:", 0), 0u);
  for (int fd : {s, *c, *lfd}) ::close(fd);
}

TEST(ListenerTest, UnixListenerReplacesStaleSocket) {
  std::string dir = replimail::testing::make_temp_dir("socket_test.");
  std::string path = dir + "/lmtp";
  auto a = parse_listen(path);
  ASSERT_TRUE(a.ok());
  auto first = open_listener(*a, 8);
  ASSERT_TRUE(first.ok());
  ::close(*first);  // leaves the socket file behind, as a crashed master would
  auto lfd = open_listener(*a, 8);
  ASSERT_TRUE(lfd.ok()) << lfd.status().to_string();
  auto c = connect_to(path, 0);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  int s = ::accept(*lfd, nullptr, nullptr);
  ASSERT_GE(s, 0);
  EXPECT_TRUE(is_unix_socket(s));
  EXPECT_EQ(local_name(s), "unix:" + path);
  EXPECT_EQ(peer_name(s), "unix");
  EXPECT_EQ(bound_port(s), 0);
  for (int fd : {s, *c, *lfd}) ::close(fd);
  ::unlink(path.c_str());
  ::rmdir(dir.c_str());
}

TEST(ListenerTest, BindConflictIsAnError) {
  ListenAddress a;
  a.host = "127.0.0.1";
  a.family = AF_INET;
  auto first = open_listener(a, 8);
  ASSERT_TRUE(first.ok());
  a.port = bound_port(*first);
  auto second = open_listener(a, 8);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kIoError);
  ::close(*first);
}

TEST(ConnectTest, RefusedAndMissingSocket) {
  ListenAddress a;
  a.host = "127.0.0.1";
  a.family = AF_INET;
  auto l = open_listener(a, 8);
  ASSERT_TRUE(l.ok());
  uint16_t port = bound_port(*l);
  ::close(*l);
  EXPECT_FALSE(connect_to("127.0.0.1", port).ok());
  EXPECT_FALSE(connect_to("/nonexistent/socket", 0).ok());
}

TEST(ConnectTest, UnansweredConnectGivesUpAtTheTimeout) {
  // 192.0.2.0/24 is reserved for documentation: nothing answers there, so
  // the attempt either times out or is refused as unreachable at once;
  // either way it must not wait for the kernel's SYN retries.
  auto start = std::chrono::steady_clock::now();
  auto c = connect_to("192.0.2.1", 9, std::chrono::milliseconds(300));
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(c.ok());
  EXPECT_LT(took, std::chrono::seconds(2)) << c.status().to_string();
}

TEST(ConnectTest, ConnectedDescriptorIsBlocking) {
  ListenAddress a;
  a.host = "127.0.0.1";
  a.family = AF_INET;
  auto l = open_listener(a, 8);
  ASSERT_TRUE(l.ok());
  auto c = connect_to("127.0.0.1", bound_port(*l), std::chrono::milliseconds(500));
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(::fcntl(*c, F_GETFL) & O_NONBLOCK, 0);
  ::close(*c);
  ::close(*l);
}

}  // namespace
}  // namespace replimail::net
