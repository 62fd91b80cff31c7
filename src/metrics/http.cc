#include "metrics/http.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <asio.hpp>

#include "net/socket.h"

namespace replimail::metrics {
namespace {

constexpr auto kClientTimeout = std::chrono::seconds(10);
constexpr auto kAcceptRetry = std::chrono::milliseconds(100);
constexpr int kMaxConnections = 64;

bool is_token_char(char c) { return c >= 'A' && c <= 'Z'; }

}  // namespace

Verdict classify_request(std::string_view received) {
  size_t end = received.find("\r\n\r\n");
  if (end == std::string_view::npos) end = received.find("\n\n");
  if (end == std::string_view::npos) {
    return received.size() >= kMaxRequestHeader ? Verdict::kBadRequest : Verdict::kIncomplete;
  }
  if (end >= kMaxRequestHeader) return Verdict::kBadRequest;
  std::string_view line = received.substr(0, received.find('\n'));
  if (line.ends_with('\r')) line.remove_suffix(1);
  // method SP request-target SP HTTP-version
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return Verdict::kBadRequest;
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return Verdict::kBadRequest;
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  for (char c : method)
    if (!is_token_char(c)) return Verdict::kBadRequest;
  if (target.empty() || target[0] != '/') return Verdict::kBadRequest;
  for (char c : target)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return Verdict::kBadRequest;
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return Verdict::kBadRequest;
  std::string_view path = target.substr(0, target.find('?'));
  if (path != "/metrics") return Verdict::kNotFound;
  if (method != "GET") return Verdict::kMethodNotAllowed;
  return Verdict::kMetrics;
}

std::string http_response(Verdict v, std::string_view metrics_body) {
  std::string status;
  std::string body;
  std::string extra;
  std::string type = "text/plain; charset=utf-8";
  switch (v) {
    case Verdict::kMetrics:
      status = "200 OK";
      body = metrics_body;
      type = "text/plain; version=0.0.4; charset=utf-8";
      break;
    case Verdict::kNotFound:
      status = "404 Not Found";
      body = "not found: this endpoint serves GET /metrics\n";
      break;
    case Verdict::kMethodNotAllowed:
      status = "405 Method Not Allowed";
      body = "method not allowed: GET /metrics\n";
      extra = "Allow: GET\r\n";
      break;
    case Verdict::kBadRequest:
    case Verdict::kIncomplete:
      status = "400 Bad Request";
      body = "bad request\n";
      break;
  }
  return "HTTP/1.1 " + status + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra +
         "Connection: close\r\n\r\n" + body;
}

struct Server::Impl {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor{io};
  asio::steady_timer accept_retry{io};
  asio::signal_set signals{io, SIGTERM, SIGINT};
  std::function<std::string()> body;
  // A function called every `period`.
  struct Ticker {
    Ticker(asio::io_context& io, std::chrono::milliseconds p, std::function<void()> f)
        : timer(io), period(p), fn(std::move(f)) {}
    void arm(std::chrono::milliseconds after) {
      timer.expires_after(after);
      timer.async_wait([this](const asio::error_code& ec) {
        if (ec) return;
        fn();
        arm(period);
      });
    }
    asio::steady_timer timer;
    std::chrono::milliseconds period;
    std::function<void()> fn;
  };
  std::vector<std::unique_ptr<Ticker>> tickers;
  int connections = 0;

  void accept();
};

namespace {

// One client: read until the header is complete, answer, close.
class Client : public std::enable_shared_from_this<Client> {
 public:
  Client(asio::ip::tcp::socket socket, Server::Impl& server)
      : socket_(std::move(socket)), deadline_(socket_.get_executor()), server_(server) {
    ++server_.connections;
  }
  ~Client() { --server_.connections; }

  void start() {
    deadline_.expires_after(kClientTimeout);
    deadline_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
      if (!ec) self->close();
    });
    read();
  }

 private:
  void read() {
    socket_.async_read_some(asio::buffer(chunk_),
                            [self = shared_from_this()](const asio::error_code& ec, size_t n) {
                              if (ec) return self->close();
                              self->received_.append(self->chunk_.data(), n);
                              Verdict v = classify_request(self->received_);
                              if (v == Verdict::kIncomplete) return self->read();
                              self->respond(v);
                            });
  }

  void respond(Verdict v) {
    response_ = http_response(v, v == Verdict::kMetrics ? server_.body() : std::string());
    asio::async_write(socket_, asio::buffer(response_),
                      [self = shared_from_this()](const asio::error_code& ec, size_t) {
                        if (ec) return self->close();
                        asio::error_code ignored;
                        self->socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
                        self->drain();
                      });
  }

  // Reads what the client still sends until it closes (or the deadline):
  // closing with unread bytes would reset the connection, and the client
  // could lose the answer.
  void drain() {
    socket_.async_read_some(asio::buffer(chunk_),
                            [self = shared_from_this()](const asio::error_code& ec, size_t) {
                              if (ec) return self->close();
                              self->drain();
                            });
  }

  void close() {
    asio::error_code ignored;
    deadline_.cancel();
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  asio::ip::tcp::socket socket_;
  asio::steady_timer deadline_;
  Server::Impl& server_;
  std::array<char, 2048> chunk_;
  std::string received_;
  std::string response_;
};

}  // namespace

void Server::Impl::accept() {
  acceptor.async_accept([this](const asio::error_code& ec, asio::ip::tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) {
      // EMFILE and the like: the listener stays; try again shortly.
      spdlog::warn("promstatsd: accept: {}", ec.message());
      accept_retry.expires_after(kAcceptRetry);
      accept_retry.async_wait([this](const asio::error_code& e) {
        if (!e) accept();
      });
      return;
    }
    if (connections >= kMaxConnections) {
      asio::error_code ignored;
      socket.close(ignored);
    } else {
      std::make_shared<Client>(std::move(socket), *this)->start();
    }
    accept();
  });
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

Result<std::unique_ptr<Server>> Server::open(const std::string& listen,
                                             std::function<std::string()> body) {
  auto addr = net::parse_listen(listen);
  if (!addr.ok()) return addr.status();
  if (addr->kind == net::ListenAddress::Kind::kUnix)
    return Status(Code::kConfigError, listen + ": the metrics endpoint is TCP");
  auto fd = net::open_listener(*addr, 64);
  if (!fd.ok()) return fd.status();
  auto impl = std::make_unique<Impl>();
  impl->body = std::move(body);
  asio::error_code ec;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  ::getsockname(*fd, reinterpret_cast<struct sockaddr*>(&ss), &len);
  auto protocol = ss.ss_family == AF_INET6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4();
  impl->acceptor.assign(protocol, *fd, ec);
  if (ec) {
    ::close(*fd);
    return Status(Code::kIoError, listen + ": " + ec.message());
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

int Server::port() const { return impl_->acceptor.local_endpoint().port(); }

void Server::every(std::chrono::milliseconds period, std::function<void()> fn) {
  impl_->tickers.push_back(std::make_unique<Impl::Ticker>(impl_->io, period, std::move(fn)));
  impl_->tickers.back()->arm(std::chrono::milliseconds(0));
}

void Server::stop() {
  asio::post(impl_->io, [this] { impl_->io.stop(); });
}

int Server::run() {
  ::signal(SIGPIPE, SIG_IGN);
  impl_->signals.async_wait([this](const asio::error_code& ec, int) {
    if (!ec) impl_->io.stop();
  });
  impl_->accept();
  impl_->io.run();
  return 0;
}

}  // namespace replimail::metrics
