#include "serve/http_server.hpp"

#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "bantam/error.hpp"
#include "serve/http_connection.hpp"

namespace bantam::serve {

namespace {

using net::ip::tcp;

// Refused connections get their short answer concurrently up to this many; beyond, a flood of
// them is closed at once.
constexpr int kMaxRefusing = 64;

auto redirect(beast::error_code& ec) { return net::redirect_error(net::use_awaitable, ec); }

// The client's address, IPv4 clients of a dual-stack socket included, as the per-client key.
std::optional<std::string> peer_address(const tcp::socket& socket) {
  beast::error_code ec;
  net::ip::address address = socket.remote_endpoint(ec).address();
  if (ec) return std::nullopt;
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6());
  }
  return address.to_string();
}

}  // namespace

struct HttpServer::Impl {
  Impl(HttpServerOptions server_options, HttpHandler handler, HttpErrorBody error_body)
      : options(std::move(server_options)) {
    context.limits = options.limits;
    context.handler = std::move(handler);
    context.error_body = std::move(error_body);
    if (options.tls.enabled()) context.tls = make_tls_context(options.tls);
  }

  net::awaitable<void> accept_loop();
  net::awaitable<void> serve(std::shared_ptr<HttpConnection> connection, std::string address);
  net::awaitable<void> refuse(std::shared_ptr<HttpConnection> connection, int status, std::string message);
  // Why a new connection from `address` is refused (status, message), if it is.
  std::optional<std::pair<int, std::string>> refusal(const std::string& address) const;

  HttpServerOptions options;
  HttpContext context;
  net::io_context io{1};
  tcp::acceptor acceptor{io};
  // I/O thread only.
  std::unordered_set<HttpConnection*> open;
  std::unordered_map<std::string, int> per_address;
  int refusing = 0;
};

std::optional<std::pair<int, std::string>> HttpServer::Impl::refusal(const std::string& address) const {
  const HttpLimits& limits = options.limits;
  const auto it = per_address.find(address);
  const int held = it == per_address.end() ? 0 : it->second;
  const int total = static_cast<int>(open.size());
  if (total >= limits.max_connections) return std::pair{503, std::string("too many open connections")};
  if (held >= limits.max_connections_per_client) {
    return std::pair{429, fmt::format("too many open connections from {} (at most {} per client)", address,
                                      limits.max_connections_per_client)};
  }
  // The last eighth of the connections is kept for clients that hold none, so that a few
  // addresses holding slow connections cannot lock everybody else out.
  if (held > 0 && total >= limits.max_connections - limits.max_connections / 8) {
    return std::pair{503, std::string("too many open connections; the rest are kept for new clients")};
  }
  return std::nullopt;
}

net::awaitable<void> HttpServer::Impl::accept_loop() {
  net::steady_timer backoff(io);
  for (;;) {
    beast::error_code ec;
    tcp::socket socket = co_await acceptor.async_accept(redirect(ec));
    if (ec) {
      if (!acceptor.is_open()) co_return;
      // Out of descriptors or memory: wait for connections to end rather than spin.
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(redirect(ec));
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    const std::optional<std::string> address = peer_address(socket);
    if (!address) continue;
    auto connection = std::make_shared<HttpConnection>(std::move(socket), context);
    if (const auto refused = refusal(*address)) {
      if (refusing < kMaxRefusing) {
        ++refusing;
        net::co_spawn(io, refuse(std::move(connection), refused->first, refused->second), net::detached);
      }
      continue;
    }
    open.insert(connection.get());
    ++per_address[*address];
    net::co_spawn(io, serve(std::move(connection), *address), net::detached);
  }
}

net::awaitable<void> HttpServer::Impl::serve(std::shared_ptr<HttpConnection> connection, std::string address) {
  try {
    co_await connection->serve();
  } catch (const std::exception&) {
    // Out of memory for a request: only this connection ends.
  }
  open.erase(connection.get());
  if (--per_address[address] == 0) per_address.erase(address);
}

net::awaitable<void> HttpServer::Impl::refuse(std::shared_ptr<HttpConnection> connection, int status,
                                              std::string message) {
  try {
    co_await connection->refuse(status, std::move(message));
  } catch (const std::exception&) {
  }
  --refusing;
}

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler, HttpErrorBody error_body)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler), std::move(error_body))) {}

HttpServer::~HttpServer() = default;

int HttpServer::bind() {
  const HttpServerOptions& o = impl_->options;
  tcp::acceptor& acceptor = impl_->acceptor;
  beast::error_code ec;
  tcp::resolver resolver(impl_->io);
  const auto endpoints =
      resolver.resolve(o.host, std::to_string(o.port), tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec) throw Error(fmt::format("cannot resolve host '{}': {}", o.host, ec.message()));
  std::string last_error = "no address";
  for (const auto& entry : endpoints) {
    acceptor.open(entry.endpoint().protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.bind(entry.endpoint(), ec);
    if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (!ec) return acceptor.local_endpoint().port();
    last_error = ec.message();
    acceptor.close(ec);
  }
  throw Error(fmt::format("cannot listen on {}:{}: {}", o.host, o.port, last_error));
}

void HttpServer::run() {
  if (!impl_->acceptor.is_open()) throw Error("HTTP server: run() before bind()");
  net::co_spawn(impl_->io, impl_->accept_loop(), net::detached);
  impl_->io.run();
}

void HttpServer::stop() {
  impl_->context.stopping.store(true);
  net::post(impl_->io, [impl = impl_.get()] {
    beast::error_code ec;
    impl->acceptor.close(ec);
    for (HttpConnection* connection : impl->open) connection->close_unless_handling();
  });
}

}  // namespace bantam::serve
