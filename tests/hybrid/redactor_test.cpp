#include "hybrid/redactor.hpp"

#include <gtest/gtest.h>

#include "bantam/error.hpp"

namespace bantam::hybrid {
namespace {

std::string redact_once(const std::string& text, const std::vector<ExtraPattern>& extra = {}) {
  Redactor redactor(extra);
  Redaction redaction(redactor);
  return redaction.redact(text);
}

TEST(Redactor, Emails) {
  EXPECT_EQ(redact_once("write to ann.lee+x@mail.example.com today"), "write to [EMAIL_1] today");
  EXPECT_EQ(redact_once("a@b.io, c@d.org"), "[EMAIL_1], [EMAIL_2]");
}

TEST(Redactor, PhoneNumbers) {
  EXPECT_EQ(redact_once("call +1 555 123 4567 now"), "call [PHONE_1] now");
  EXPECT_EQ(redact_once("call +44 20 7946 0958."), "call [PHONE_1].");
  EXPECT_EQ(redact_once("office (030) 1234 5678"), "office [PHONE_1]");
  EXPECT_EQ(redact_once("us 555-123-4567 or 555.987.6543"), "us [PHONE_1] or [PHONE_2]");
  EXPECT_EQ(redact_once("Berlin 030 1234 5678"), "Berlin [PHONE_1]");
}

TEST(Redactor, CardsAreLuhnChecked) {
  EXPECT_TRUE(luhn_valid("4111111111111111"));
  EXPECT_FALSE(luhn_valid("4111111111111112"));
  EXPECT_FALSE(luhn_valid(""));
  EXPECT_EQ(redact_once("card 4111 1111 1111 1111 ok"), "card [CARD_1] ok");
  EXPECT_EQ(redact_once("card 5500-0000-0000-0004"), "card [CARD_1]");
  EXPECT_EQ(redact_once("card 4111111111111111"), "card [CARD_1]");
  // 16 digits failing Luhn: an order number, not a card.
  EXPECT_EQ(redact_once("order 4111111111111112"), "order 4111111111111112");
  EXPECT_EQ(redact_once("order 4111 1111 1111 1112"), "order 4111 1111 1111 1112");
}

TEST(Redactor, IbansAreMod97Checked) {
  EXPECT_TRUE(iban_valid("GB82 WEST 1234 5698 7654 32"));
  EXPECT_TRUE(iban_valid("DE89370400440532013000"));
  EXPECT_FALSE(iban_valid("DE89370400440532013001"));
  EXPECT_EQ(redact_once("pay GB82 WEST 1234 5698 7654 32 please"), "pay [IBAN_1] please");
  EXPECT_EQ(redact_once("to DE89370400440532013000."), "to [IBAN_1].");
  EXPECT_EQ(redact_once("to DE89370400440532013001."), "to DE89370400440532013001.");
}

TEST(Redactor, IpAddresses) {
  EXPECT_EQ(redact_once("host 192.168.1.20 up"), "host [IP_1] up");
  EXPECT_EQ(redact_once("host 2001:db8::8a2e:370:7334 up"), "host [IP_1] up");
  EXPECT_EQ(redact_once("v6 fe80::1 and ::ffff:10.0.0.1"), "v6 [IP_1] and [IP_2]");
  EXPECT_EQ(redact_once("not 300.1.2.3"), "not 300.1.2.3");
}

TEST(Redactor, ExtraPatterns) {
  std::vector<ExtraPattern> extra{parse_extra_pattern("EMPLOYEE_ID=EMP-\\d{5}")};
  EXPECT_EQ(redact_once("ask EMP-12345 and EMP-99999", extra), "ask [EMPLOYEE_ID_1] and [EMPLOYEE_ID_2]");
  EXPECT_THROW(parse_extra_pattern("no equals"), Error);
  EXPECT_THROW(parse_extra_pattern("lower=x"), Error);
  EXPECT_THROW(Redactor({ExtraPattern{"BAD", "(unclosed"}}), Error);
}

TEST(Redactor, NoFalsePositivesOnOrdinaryText) {
  const std::string texts[] = {
      "In 2024-01-15 we shipped 1,234,567 units at 3.14159 each.",
      "Version 1.2.3 and v2.10.1 and 10.0.19045 are out; call it 12:30:45.",
      "Dates 15/01/2024, 01.02.2023 and 2023.12.31; ISBN 978-3-16-148410-0.",
      "The year 1999 had 365 days; pi is 3.14; 42 is the answer; 1e10 is big.",
      "Price: $1,299.99 (was $1,499.00); room 404; ratio 16:9; C++20.",
      "Order number 1234567890123456 failed checks.",
  };
  for (const std::string& text : texts) EXPECT_EQ(redact_once(text), text) << text;
}

TEST(Redactor, SameValueSamePlaceholderAcrossMessages) {
  Redactor redactor;
  Redaction redaction(redactor);
  EXPECT_EQ(redaction.redact("a@b.io and a@b.io and c@d.io"), "[EMAIL_1] and [EMAIL_1] and [EMAIL_2]");
  EXPECT_EQ(redaction.redact("again a@b.io, phone +1 555 123 4567"), "again [EMAIL_1], phone [PHONE_1]");
  EXPECT_EQ(redaction.counts().at("EMAIL"), 2);
  EXPECT_EQ(redaction.classes(), "EMAIL,PHONE");
  EXPECT_FALSE(redaction.empty());
}

TEST(Redactor, RestoreRoundTrips) {
  Redactor redactor;
  Redaction redaction(redactor);
  std::string original = "Mail a@b.io, card 4111 1111 1111 1111, ip 10.1.2.3, a@b.io again.";
  std::string redacted = redaction.redact(original);
  EXPECT_EQ(redacted.find("a@b.io"), std::string::npos);
  EXPECT_EQ(redaction.restore(redacted), original);
  // Unknown placeholders and brackets stay as they are.
  EXPECT_EQ(redaction.restore("[EMAIL_9] [x] [EMAIL_1"), "[EMAIL_9] [x] [EMAIL_1");
  EXPECT_EQ(redaction.restore("Reply to [EMAIL_1]."), "Reply to a@b.io.");
}

TEST(Redactor, StreamRestoreAcrossChunkBoundaries) {
  Redactor redactor;
  Redaction redaction(redactor);
  redaction.redact("a@b.io and +1 555 123 4567");
  std::string answer = "Sure, [EMAIL_1] is set; [PHONE_1] too [not one] [";
  std::string expected = redaction.restore(answer);
  // Every split into chunks of every size gives the same text.
  for (size_t size = 1; size <= answer.size(); ++size) {
    StreamRestorer restorer(redaction);
    std::string out;
    for (size_t at = 0; at < answer.size(); at += size) out += restorer.push(answer.substr(at, size));
    out += restorer.finish();
    EXPECT_EQ(out, expected) << "chunk size " << size;
  }
  // Text that cannot become a placeholder is not held back.
  StreamRestorer restorer(redaction);
  EXPECT_EQ(restorer.push("hello [x"), "hello [x");
  EXPECT_EQ(restorer.push(" [EMA"), " ");
  EXPECT_EQ(restorer.push("IL_1]!"), "a@b.io!");
}

TEST(Redactor, HostileInputDoesNotCrash) {
  Redactor redactor;
  Redaction redaction(redactor);
  std::string junk(5000, '1');
  junk += std::string("\xff\xfe[@@::..", 10) + std::string(3000, ':');
  std::string out = redaction.redact(junk);
  EXPECT_EQ(redaction.restore(out).size(), junk.size());
}

}  // namespace
}  // namespace bantam::hybrid
