// HTTPS (`--tls-cert/--tls-key`) on loopback with a throwaway certificate made at test time:
// clients verifying against it are served (whole, streamed, kept alive); plain HTTP to the port
// is told to use https; the connection deadlines and limits hold for TLS (a silent client, one
// that stops after the handshake, a body over the limit); unusable files are refused at start.
#include <gtest/gtest.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cstdlib>
#include <filesystem>

#include "raw_client.hpp"
#include "serve_fixture.hpp"

namespace bantam::test {
namespace {

using namespace std::chrono_literals;

struct CertificatePair {
  std::string cert;
  std::string key;
};

// A self-signed certificate for 127.0.0.1 and its key, made by the openssl tool.
CertificatePair make_certificate(const std::string& name) {
  const std::filesystem::path dir = temp_dir();
  CertificatePair pair{(dir / (name + ".crt")).string(), (dir / (name + ".key")).string()};
  const std::string command =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=" + name +
      " -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout " + pair.key + " -out " + pair.cert +
      " >/dev/null 2>&1";
  if (std::system(command.c_str()) != 0) throw std::runtime_error("openssl cannot make a certificate");
  return pair;
}

const CertificatePair& certificate() {
  static const CertificatePair pair = make_certificate("bantam-test");
  return pair;
}

// libcurl over HTTPS, verifying the server against `ca_file`.
HttpResult https(int port, const std::string& method, const std::string& path, const std::string& body = {},
                 const std::string& ca_file = certificate().cert) {
  std::vector<std::string> headers;
  if (method == "POST") headers.push_back("Content-Type: application/json");
  return fetch("https://127.0.0.1:" + std::to_string(port) + path, method, body, headers, {}, 60, [&](CURL* curl) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file.c_str());
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  });
}

// A raw TLS client on OpenSSL: the handshake (verifying against the test certificate), then
// whatever bytes a test sends, to reach the server's deadlines after the handshake.
class TlsClient {
 public:
  explicit TlsClient(int port) : raw_(port), ctx_(SSL_CTX_new(TLS_client_method())) {
    SSL_CTX_load_verify_locations(ctx_, certificate().cert.c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    ssl_ = SSL_new(ctx_);
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), "127.0.0.1");
    timeval timeout{30, 0};
    ::setsockopt(raw_.fd(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    SSL_set_fd(ssl_, raw_.fd());
  }
  ~TlsClient() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }
  bool handshake() { return SSL_connect(ssl_) == 1; }
  bool send(const std::string& data) { return SSL_write(ssl_, data.data(), static_cast<int>(data.size())) > 0; }
  // Reads until `count` answers have ended with `until` or the server closes (closed() then true).
  std::string read_until(const std::string& until, int count = 1) {
    std::string out;
    while (static_cast<int>(count_of(out, until)) < count) {
      char buffer[16384];
      errno = 0;
      const int n = SSL_read(ssl_, buffer, sizeof buffer);
      if (n <= 0) {
        // A receive timeout is the client giving up, not the server closing.
        closed_ = errno != EAGAIN && errno != EWOULDBLOCK;
        break;
      }
      out.append(buffer, static_cast<size_t>(n));
    }
    return out;
  }
  bool closed() const { return closed_; }

 private:
  static size_t count_of(const std::string& text, const std::string& part) {
    size_t n = 0;
    for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
    return n;
  }

  RawClient raw_;
  SSL_CTX* ctx_;
  SSL* ssl_ = nullptr;
  bool closed_ = false;
};

std::vector<std::string> tls_args(std::vector<std::string> more = {}) {
  std::vector<std::string> args = {"--tls-cert", certificate().cert, "--tls-key", certificate().key};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

const std::string kHealth = "GET /health HTTP/1.1\r\nHost: bantam\r\n\r\n";

TEST(Tls, RequestsAreServedToClientsVerifyingTheCertificate) {
  ServerProcess server(tls_args());
  const HttpResult health = https(server.port(), "GET", "/health");
  ASSERT_EQ(health.error, CURLE_OK) << curl_easy_strerror(health.error);
  EXPECT_EQ(health.status, 200);
  const HttpResult chat = https(server.port(), "POST", "/v1/chat/completions", short_chat().dump());
  ASSERT_EQ(chat.status, 200) << chat.body;
  EXPECT_TRUE(chat.json()["choices"][0]["message"]["content"].is_string());
  // A stream: every byte of it goes through the I/O thread's TLS writes.
  nlohmann::json body = short_chat();
  body["stream"] = true;
  bool done = false;
  const HttpResult stream = https(server.port(), "POST", "/v1/chat/completions", body.dump());
  ASSERT_EQ(stream.status, 200) << stream.body;
  EXPECT_FALSE(sse_events(stream.body, &done).empty());
  EXPECT_TRUE(done);
  // A client trusting another certificate refuses this server: the verification above is real.
  const HttpResult untrusted = https(server.port(), "GET", "/health", {}, make_certificate("other").cert);
  EXPECT_EQ(untrusted.error, CURLE_PEER_FAILED_VERIFICATION) << curl_easy_strerror(untrusted.error);
}

TEST(Tls, AConnectionIsKeptAliveAcrossRequests) {
  ServerProcess server(tls_args());
  TlsClient client(server.port());
  ASSERT_TRUE(client.handshake());
  ASSERT_TRUE(client.send(kHealth));
  const std::string first = client.read_until("\"ready\"}");
  EXPECT_EQ(status_of(first), 200) << first;
  // Two pipelined requests on the same connection.
  ASSERT_TRUE(client.send(kHealth + kHealth));
  const std::string next = client.read_until("\"ready\"}", 2);
  EXPECT_EQ(status_of(next), 200) << next;
  EXPECT_FALSE(client.closed());
}

TEST(Tls, PlainHttpToTheTlsPortIsToldToUseHttps) {
  ServerProcess server(tls_args());
  const HttpResult plain = http(server.port(), "GET", "/health");
  EXPECT_EQ(plain.status, 400) << plain.body;
  EXPECT_NE(plain.body.find("use an https:// URL"), std::string::npos) << plain.body;
  EXPECT_EQ(https(server.port(), "GET", "/health").status, 200);
}

TEST(Tls, TheHandshakeHasTheHeaderDeadline) {
  ServerProcess server(tls_args({"--header-timeout", "0.5"}));
  // Connected but silent.
  RawClient silent(server.port());
  EXPECT_EQ(silent.read_until_close(20s), "");
  EXPECT_TRUE(silent.closed());
  // The first bytes of a handshake, then nothing.
  RawClient stalled(server.port());
  ASSERT_TRUE(stalled.send(std::string("\x16\x03\x01\x02\x00", 5)));
  stalled.read_until_close(20s);
  EXPECT_TRUE(stalled.closed());
  // A whole handshake, then no request: the header deadline counts from the accept.
  TlsClient quiet(server.port());
  ASSERT_TRUE(quiet.handshake());
  EXPECT_EQ(quiet.read_until("never"), "");
  EXPECT_TRUE(quiet.closed());
  EXPECT_EQ(https(server.port(), "GET", "/health").status, 200);
}

TEST(Tls, TrickledHeadersAndLargeBodiesAreRefusedAsOverPlainHttp) {
  ServerProcess server(tls_args({"--header-timeout", "0.5", "--max-body-mb", "1"}));
  TlsClient trickler(server.port());
  ASSERT_TRUE(trickler.handshake());
  ASSERT_TRUE(trickler.send("GET /health HTTP/1.1\r\n"));
  trickler.read_until("never");
  EXPECT_TRUE(trickler.closed());
  const HttpResult large = https(server.port(), "POST", "/v1/chat/completions", std::string(2 << 20, ' '));
  EXPECT_EQ(large.status, 413) << large.body;
  EXPECT_EQ(https(server.port(), "GET", "/health").status, 200);
}

TEST(Tls, UnusableFilesAreRefusedAtStartNamingTheFile) {
  const CertificatePair& pair = certificate();
  const CertificatePair other = make_certificate("mismatch");
  const auto start = [](std::vector<std::string> args) {
    std::vector<std::string> argv = {"serve", "-m", stories_model(), "--port", "0"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cli(argv);
  };
  const std::string missing = (temp_dir() / "missing.pem").string();
  RunResult r = start({"--tls-cert", missing, "--tls-key", pair.key});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("cannot read the TLS certificate (--tls-cert) " + missing), std::string::npos) << r.err;
  r = start({"--tls-cert", pair.cert, "--tls-key", missing});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("cannot read the TLS private key (--tls-key) " + missing), std::string::npos) << r.err;
  r = start({"--tls-cert", pair.cert, "--tls-key", other.key});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(other.key + " does not match the TLS certificate (--tls-cert) " + pair.cert), std::string::npos)
      << r.err;
  r = start({"--tls-cert", pair.key, "--tls-key", pair.key});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(pair.key + " holds no usable PEM certificate"), std::string::npos) << r.err;
  r = start({"--tls-cert", pair.cert});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--tls-key"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace bantam::test
